"""The report's tables: the same rows on the page (formatted) and in the CSV
files (raw numbers, machine-friendly headers)."""

import csv
from dataclasses import dataclass
from datetime import date
from io import StringIO

from leads.models import LeadStatus, Tier


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "count"  # text, count, percent, hours, days, lift, flag, date, month, status, tier

    @property
    def numeric(self) -> bool:
        return self.kind not in TEXT_KINDS


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    note: str
    columns: tuple[Column, ...]
    rows: list[dict]
    # Rows whose value under this key is true are shown muted (small samples).
    muted_key: str = ""
    # For tables of figures by row: the row's kind applies past the first column.
    kind_key: str = ""

    def kinds(self, row: dict) -> list[str]:
        if not self.kind_key:
            return [column.kind for column in self.columns]
        return [self.columns[0].kind] + [row[self.kind_key]] * (len(self.columns) - 1)

    def display_rows(self) -> list[dict]:
        return [
            {
                "cells": [
                    {"text": show(row[column.key], kind), "numeric": kind not in TEXT_KINDS}
                    for column, kind in zip(self.columns, self.kinds(row), strict=True)
                ],
                "muted": bool(self.muted_key and row.get(self.muted_key)),
            }
            for row in self.rows
        ]

    def csv(self) -> str:
        return csv_text([column.key for column in self.columns], (
            [row[column.key] for column in self.columns] for row in self.rows
        ))


# What a spreadsheet reads as the start of a formula (or, for tab and
# carriage return, as a cell it trims down to one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A CSV cell no spreadsheet runs: text that starts like a formula (an
    event named =HYPERLINK(...), an account named @SUM(...)) gets a leading
    quote, so it shows as the text it is. Numbers stay numbers; None is empty."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: list[str], rows) -> str:
    """Every CSV file the app writes, each cell through spreadsheet_safe."""
    out = StringIO()
    writer = csv.writer(out)
    writer.writerow([spreadsheet_safe(cell) for cell in header])
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return out.getvalue()


TEXT_KINDS = frozenset({"text", "date", "month", "flag", "status", "tier"})


def show(value, kind: str) -> str:
    if kind == "flag":
        return "small sample" if value else ""
    if value is None:
        return "—"
    if kind == "lift":
        return value if isinstance(value, str) else f"{value:.2f}×"  # noqa: RUF001
    if kind == "days":
        return f"{value:.1f} days"
    if kind == "percent":
        return f"{value:.1f}%"
    if kind == "hours":
        return duration(value)
    if kind == "count":
        return f"{value:,}"
    if kind == "status":
        return LeadStatus(value).label if value in LeadStatus.values else str(value)
    if kind == "tier":
        return Tier(value).label if value in Tier.values else str(value)
    if kind == "date":
        return date.fromisoformat(value).strftime("%-d %b %Y")
    if kind == "month":
        return date.fromisoformat(value + "-01").strftime("%B %Y")
    return str(value)


def duration(hours: float) -> str:
    """A duration as people say it: minutes, hours, or days."""
    if hours < 1:
        return f"{round(hours * 60)} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


FIGURE_COLUMNS = (
    Column("signups", "Signups"),
    Column("pqls", "PQLs"),
    Column("pql_rate", "PQL rate", "percent"),
    Column("median_hours_to_pql", "Median time to PQL", "hours"),
    Column("contacted", "Contacted"),
    Column("contacted_within_sla", "Within SLA"),
    Column("sla_due", "SLA due"),
    Column("sla_rate", "SLA met", "percent"),
    Column("converted", "Converted"),
    Column("conversion_rate", "PQL conversion", "percent"),
)
REP_COLUMNS = tuple(
    column for column in FIGURE_COLUMNS if column.key not in ("signups", "pql_rate", "median_hours_to_pql")
)
COHORT = "Accounts that signed up in the period."


def tables(data: dict) -> dict[str, Table]:
    """Every table of the metrics page, keyed by the name of its CSV file."""
    totals = data["totals"]
    summary_rows = [
        {"metric": "Signups", "value": totals["signups"], "kind": "count"},
        {"metric": "PQLs (of these signups)", "value": totals["pqls"], "kind": "count"},
        {"metric": "PQL rate (%)", "value": totals["pql_rate"], "kind": "percent"},
        {"metric": "Median time to PQL (hours)", "value": totals["median_hours_to_pql"], "kind": "hours"},
        {"metric": "Contacted", "value": totals["contacted"], "kind": "count"},
        {"metric": "Contacted within SLA", "value": totals["contacted_within_sla"], "kind": "count"},
        {"metric": "SLA due", "value": totals["sla_due"], "kind": "count"},
        {"metric": "SLA met (%)", "value": totals["sla_rate"], "kind": "percent"},
        {"metric": "Converted", "value": totals["converted"], "kind": "count"},
        {"metric": "PQL conversion rate (%)", "value": totals["conversion_rate"], "kind": "percent"},
        {"metric": "Raw PQLs (became PQL in the period)", "value": totals["raw_pqls"], "kind": "count"},
    ]
    made = [
        Table(
            "summary", "Summary", COHORT,
            (Column("metric", "Metric", "text"), Column("value", "Value", "text")),
            summary_rows,
            kind_key="kind",
        ),
        Table(
            "funnel", "Funnel", COHORT + " Shares of signups and of the stage before.",
            (
                Column("stage", "Stage", "text"),
                Column("accounts", "Accounts"),
                Column("share_of_signups", "Of signups", "percent"),
                Column("share_of_previous", "Of previous stage", "percent"),
            ),
            data["funnel"],
        ),
        Table(
            "by-tier", "By tier", COHORT + " Tier by employee count, with the active definition's bounds.",
            (Column("tier", "Tier", "tier"), *FIGURE_COLUMNS), data["by_tier"],
        ),
        Table(
            "by-rep", "By rep", COHORT + " PQLs by the rep holding them now.",
            (Column("rep", "Rep", "text"), *REP_COLUMNS), data["by_rep"],
        ),
        Table(
            "by-cohort-week", "By signup week", "Each week's signups (weeks start on Monday).",
            (Column("week", "Signup week", "date"), *FIGURE_COLUMNS), data["by_cohort_week"],
        ),
        Table(
            "pqls-per-week", "Raw PQLs per week",
            "Accounts by the week they first became a PQL, whenever they signed up.",
            (Column("week", "Week", "date"), Column("pqls", "PQLs")), data["pqls_per_week"],
        ),
        Table(
            "pqls-per-month", "Raw PQLs per month",
            "Accounts by the month they first became a PQL, within the period.",
            (Column("month", "Month", "month"), Column("pqls", "PQLs")), data["pqls_per_month"],
        ),
        Table(
            "time-to-pql", "Time to PQL", COHORT + " From signup to first PQL.",
            (Column("bucket", "Time to PQL", "text"), Column("pqls", "PQLs"), Column("share", "Share", "percent")),
            data["time_to_pql"],
        ),
    ]
    return {table.name: table for table in made}


def kpis(data: dict) -> list[dict]:
    """The headline figures, formatted, with what each is out of."""
    totals = data["totals"]
    return [
        {"label": "Signups", "value": show(totals["signups"], "count"), "detail": "in the period"},
        {"label": "PQLs among them", "value": show(totals["pqls"], "count"), "detail": "of these signups, ever a PQL"},
        {"label": "PQL rate", "value": show(totals["pql_rate"], "percent"), "detail": "PQLs / signups"},
        {
            "label": "Median time to PQL",
            "value": show(totals["median_hours_to_pql"], "hours"),
            "detail": "signup to first PQL",
        },
        {
            "label": "Contacted within SLA",
            "value": show(totals["sla_rate"], "percent"),
            "detail": f"{totals['contacted_within_sla']:,} of {totals['sla_due']:,} due",
        },
        {
            "label": "PQL conversion",
            "value": show(totals["conversion_rate"], "percent"),
            "detail": f"{totals['converted']:,} of {totals['pqls']:,} PQLs",
        },
        {
            "label": "Ever a PQL",
            "value": show(totals["raw_pqls"], "count"),
            "detail": "raw PQLs: reached PQL in the period, whenever they signed up",
        },
    ]
