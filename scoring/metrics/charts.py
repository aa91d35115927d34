"""Chart geometry for server-rendered SVG: bars, a line and a funnel laid out
in Python from a few dozen aggregated points; the templates only draw them.
No chart library and nothing from a CDN."""

import math
from dataclasses import dataclass, field
from datetime import date

from .tables import duration

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 34


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 4, 6 or 8 x 10^k at or above value (1 for nothing),
    so that each of the four gridlines falls on a round number."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover


def tick_text(value: float, unit: str) -> str:
    text = f"{value:g}" if value < 1000 else f"{value:,.0f}"
    return text + unit


@dataclass
class Chart:
    title: str
    desc: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[dict] = field(default_factory=list)
    line: str = ""
    dots: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)

    @property
    def plot_left(self):
        return LEFT

    @property
    def tick_x(self):
        return LEFT - 6

    @property
    def plot_right(self):
        return self.width - RIGHT

    @property
    def baseline(self):
        return self.height - BOTTOM


def axis(chart: Chart, top_value: float, unit: str) -> float:
    """Four gridlines up to a round maximum; returns pixels per unit."""
    span = chart.baseline - TOP
    chart.ticks = [
        {"y": round(chart.baseline - span * step / 4, 1), "text": tick_text(top_value * step / 4, unit)}
        for step in range(5)
    ]
    return span / top_value


def x_labels(chart: Chart, names: list[str], centers: list[float]) -> None:
    every = max(1, math.ceil(len(names) / 12))
    chart.labels = [
        {"x": round(x, 1), "text": name}
        for index, (name, x) in enumerate(zip(names, centers, strict=True))
        if index % every == 0
    ]


def bar_chart(points: list[tuple[str, float]], *, title: str, desc: str, unit: str = "") -> Chart:
    """Vertical bars, one per (label, value)."""
    chart = Chart(title=title, desc=desc)
    if not points:
        return chart
    scale = axis(chart, nice_ceiling(max(value for _, value in points)), unit)
    slot = (chart.plot_right - chart.plot_left) / len(points)
    centers = []
    for index, (name, value) in enumerate(points):
        height = value * scale
        x = chart.plot_left + slot * index + slot * 0.15
        centers.append(chart.plot_left + slot * (index + 0.5))
        chart.bars.append(
            {
                "x": round(x, 1),
                "y": round(chart.baseline - height, 1),
                "width": round(slot * 0.7, 1),
                "height": round(height, 1),
                "label": name,
                "value": tick_text(value, unit),
            }
        )
    x_labels(chart, [name for name, _ in points], centers)
    return chart


def line_chart(points: list[tuple[str, float | None]], *, title: str, desc: str, unit: str = "") -> Chart:
    """A line through the values; a missing value (no signups) breaks it."""
    chart = Chart(title=title, desc=desc)
    if not points:
        return chart
    values = [value for _, value in points if value is not None]
    scale = axis(chart, nice_ceiling(max(values, default=0)), unit)
    slot = (chart.plot_right - chart.plot_left) / len(points)
    centers: list[float] = []
    segments: list[list[str]] = []
    current: list[str] = []
    for index, (name, value) in enumerate(points):
        x = chart.plot_left + slot * (index + 0.5)
        centers.append(x)
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        y = chart.baseline - value * scale
        current.append(f"{x:.1f},{y:.1f}")
        chart.dots.append({"x": round(x, 1), "y": round(y, 1), "label": name, "value": tick_text(value, unit)})
    if current:
        segments.append(current)
    chart.line = " ".join("M" + " L".join(segment) for segment in segments)
    x_labels(chart, [name for name, _ in points], centers)
    return chart


def funnel_chart(stages: list[dict], *, title: str, desc: str) -> Chart:
    """Horizontal bars, each stage as a share of the first."""
    row_height = 44
    chart = Chart(title=title, desc=desc, height=row_height * len(stages) + 8)
    top = max((stage["accounts"] for stage in stages), default=0) or 1
    label_width, full = 130, WIDTH - 130 - 150
    for index, stage in enumerate(stages):
        share = stage["share_of_signups"]
        width = round(max(full * stage["accounts"] / top, 2), 1)
        chart.bars.append(
            {
                "x": label_width,
                "label_x": label_width - 10,
                "value_x": label_width + width + 8,
                "y": index * row_height + 8,
                "width": width,
                "height": row_height - 16,
                "label": stage["stage"],
                "value": f"{stage['accounts']:,}" + (f" · {share:.1f}%" if share is not None else ""),
                "text_y": index * row_height + 8 + (row_height - 16) / 2 + 5,
            }
        )
    return chart


SHORT_BUCKETS = ("< 1 h", "1 h-1 d", "1-3 d", "3-7 d", "7-14 d", "14-30 d", "30 d +")


def short_date(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%b %-d")


def page_charts(data: dict) -> dict[str, Chart]:
    """The metrics page's charts, from the report's data."""
    weeks = data["pqls_per_week"]
    cohorts = data["by_cohort_week"]
    busiest = max(weeks, key=lambda row: row["pqls"], default=None)
    rates = [row["pql_rate"] for row in cohorts if row["pql_rate"] is not None]
    distribution = data["time_to_pql"]
    common = max(distribution, key=lambda row: row["pqls"], default=None)
    totals = data["totals"]
    return {
        "pqls": bar_chart(
            [(short_date(row["week"]), row["pqls"]) for row in weeks],
            title="Raw PQLs per week",
            desc=(
                f"{sum(row['pqls'] for row in weeks)} PQLs over {len(weeks)} weeks; the most, "
                f"{busiest['pqls']}, in the week of {short_date(busiest['week'])}."
                if busiest and busiest["pqls"] else "No PQLs in the period."
            ),
        ),
        "rate": line_chart(
            [(short_date(row["week"]), row["pql_rate"]) for row in cohorts],
            title="PQL rate by signup week",
            desc=(
                f"Share of each week's signups that became PQLs, from {min(rates):.1f}% to {max(rates):.1f}%."
                if rates else "No signups in the period."
            ),
            unit="%",
        ),
        "time_to_pql": bar_chart(
            [(label, row["pqls"]) for label, row in zip(SHORT_BUCKETS, distribution, strict=True)],
            title="Time to PQL",
            desc=(
                f"Most PQLs ({common['pqls']}) took {common['bucket']} from signup; the median is "
                f"{duration(totals['median_hours_to_pql'])}."
                if common and common["pqls"] else "No PQLs among the period's signups."
            ),
        ),
        "funnel": funnel_chart(
            data["funnel"],
            title="Funnel: signup, PQL, contacted, customer",
            desc=", ".join(f"{row['stage']}: {row['accounts']}" for row in data["funnel"]) + ".",
        ),
    }
