"""The metrics managers track, assembled from the aggregates in queries.py:
signups, PQLs, PQL rate, time to PQL, contact within SLA and conversion, in
total and by tier, rep and signup week; raw PQLs per week and month; the
time-to-PQL distribution and the funnel. Python only adds up a few dozen
aggregated rows and lays them out as tables (the page, the CSV files and the
API read the same rows).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from leads.models import SalesRep, Tier

from . import queries

DEFAULT_WEEKS = 12
DISTRIBUTION_LABELS = (
    "under 1 hour",
    "1 hour to 1 day",
    "1 to 3 days",
    "3 to 7 days",
    "7 to 14 days",
    "14 to 30 days",
    "30 days or more",
)


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Period:
    """A range of days, both ends included, in the site's time zone."""

    start: date
    end: date

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("The period must end on or after its start.")

    @classmethod
    def default(cls, *, today: date | None = None) -> "Period":
        """The last twelve weeks: this week and the eleven whole weeks before it."""
        today = today or timezone.localdate()
        return cls(start=week_of(today) - timedelta(weeks=DEFAULT_WEEKS - 1), end=today)

    @property
    def starts_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def ends_at(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    def weeks(self) -> list[date]:
        first, last = week_of(self.start), week_of(self.end)
        return [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]

    def months(self) -> list[date]:
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return months


@dataclass
class Figures:
    """The funnel figures of a group of accounts (a signup cohort, a tier, a rep)."""

    signups: int = 0
    pqls: int = 0
    contacted: int = 0
    converted: int = 0
    sla_due: int = 0
    sla_met: int = 0
    median_seconds_to_pql: float | None = None

    def add(self, signups, pqls, contacted, converted, sla_due, sla_met) -> None:
        self.signups += signups
        self.pqls += pqls
        self.contacted += int(contacted or 0)
        self.converted += int(converted or 0)
        self.sla_due += int(sla_due or 0)
        self.sla_met += int(sla_met or 0)

    @property
    def pql_rate(self) -> float | None:
        return percent(self.pqls, self.signups)

    @property
    def conversion_rate(self) -> float | None:
        return percent(self.converted, self.pqls)

    @property
    def sla_rate(self) -> float | None:
        return percent(self.sla_met, self.sla_due)

    def as_dict(self) -> dict:
        return {
            "signups": self.signups,
            "pqls": self.pqls,
            "pql_rate": self.pql_rate,
            "median_hours_to_pql": hours(self.median_seconds_to_pql),
            "contacted": self.contacted,
            "contacted_within_sla": self.sla_met,
            "sla_due": self.sla_due,
            "sla_rate": self.sla_rate,
            "converted": self.converted,
            "conversion_rate": self.conversion_rate,
        }


@dataclass
class Report:
    period: Period
    totals: Figures = field(default_factory=Figures)
    by_tier: dict[str, Figures] = field(default_factory=dict)
    by_rep: list[tuple[int | None, str, Figures]] = field(default_factory=list)
    by_week: dict[date, Figures] = field(default_factory=dict)
    pqls_per_week: dict[date, int] = field(default_factory=dict)
    pqls_per_month: dict[date, int] = field(default_factory=dict)
    distribution: list[tuple[str, int]] = field(default_factory=list)

    @property
    def raw_pqls(self) -> int:
        return sum(self.pqls_per_week.values())


def build_report(period: Period, *, now: datetime | None = None) -> Report:
    """Every figure for the period, in four queries whatever the number of
    accounts (plus a SET on PostgreSQL; SQLite reads the cohort twice)."""
    now = now or timezone.now()
    window = dict(start=period.starts_at, end=period.ends_at, now=now)
    report = Report(
        period=period,
        by_tier={tier: Figures() for tier in Tier.values},
        by_week={week: Figures() for week in period.weeks()},
    )
    by_rep: dict[int | None, Figures] = defaultdict(Figures)
    buckets = [0] * len(DISTRIBUTION_LABELS)
    counts, medians = queries.cohort_figures(**window)
    for week, tier, owner_id, bucket, *figures in counts:
        report.totals.add(*figures)
        report.by_tier.setdefault(tier, Figures()).add(*figures)
        report.by_week.setdefault(week, Figures()).add(*figures)
        by_rep[owner_id].add(*figures)
        if bucket is not None:
            buckets[int(bucket)] += figures[1]  # its PQLs

    report.totals.median_seconds_to_pql = medians.get(("all", None))
    for tier, tier_figures in report.by_tier.items():
        tier_figures.median_seconds_to_pql = medians.get(("tier", tier))
    for week, week_figures in report.by_week.items():
        week_figures.median_seconds_to_pql = medians.get(("week", week))
    report.distribution = list(zip(DISTRIBUTION_LABELS, buckets, strict=True))

    reps = SalesRep.objects.select_related("user").in_bulk([pk for pk in by_rep if pk is not None])
    report.by_rep = sorted(
        (
            (owner_id, str(reps[owner_id]) if owner_id in reps else "Unassigned", figures)
            for owner_id, figures in by_rep.items()
            if figures.pqls
        ),
        key=lambda row: (row[0] is None, row[1].lower()),
    )

    report.pqls_per_week = dict.fromkeys(period.weeks(), 0)
    report.pqls_per_month = dict.fromkeys(period.months(), 0)
    for day, count in queries.pqls_per_day(start=period.starts_at, end=period.ends_at).items():
        report.pqls_per_week[week_of(day)] = report.pqls_per_week.get(week_of(day), 0) + count
        month = day.replace(day=1)
        report.pqls_per_month[month] = report.pqls_per_month.get(month, 0) + count
    return report


def funnel(figures: Figures) -> list[dict]:
    stages = [
        ("Signed up", figures.signups),
        ("Became a PQL", figures.pqls),
        ("Contacted", figures.contacted),
        ("Customer", figures.converted),
    ]
    return [
        {
            "stage": stage,
            "accounts": count,
            "share_of_signups": percent(count, figures.signups),
            "share_of_previous": percent(count, stages[index - 1][1]) if index else None,
        }
        for index, (stage, count) in enumerate(stages)
    ]


def as_data(report: Report) -> dict:
    """The report as plain JSON-ready data: what the API serves, and the rows
    of every table on the page and in the CSV files."""
    period = report.period
    return {
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "time_zone": timezone.get_current_timezone_name(),
        },
        "totals": {**report.totals.as_dict(), "raw_pqls": report.raw_pqls},
        "by_tier": [
            {"tier": tier, **figures.as_dict()} for tier, figures in report.by_tier.items()
        ],
        "by_rep": [
            {"rep_id": rep_id, "rep": name, **figures.as_dict()}
            for rep_id, name, figures in report.by_rep
        ],
        "by_cohort_week": [
            {"week": week.isoformat(), **figures.as_dict()}
            for week, figures in sorted(report.by_week.items())
        ],
        "pqls_per_week": [
            {"week": week.isoformat(), "pqls": count}
            for week, count in sorted(report.pqls_per_week.items())
        ],
        "pqls_per_month": [
            {"month": month.strftime("%Y-%m"), "pqls": count}
            for month, count in sorted(report.pqls_per_month.items())
        ],
        "time_to_pql": [
            {
                "bucket": label,
                "pqls": count,
                "share": percent(count, report.totals.pqls),
            }
            for label, count in report.distribution
        ],
        "funnel": funnel(report.totals),
    }


def summary(*, start: date, end: date, now: datetime | None = None) -> dict:
    """Every metric for signups from `start` to `end` (both included, in the
    site's time zone) as JSON-ready data. For the API and /metrics.json."""
    return as_data(build_report(Period(start=start, end=end), now=now))
