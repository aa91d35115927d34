"""A lab run's result as tables: on the page and as CSV files."""

from ..metrics.tables import Column, Table
from .analysis import by_lift

PREDICTOR_COLUMNS = (
    Column("label", "Behaviour", "text"),
    Column("did", "Did"),
    Column("rate_did", "Converted (did)", "percent"),
    Column("didnt", "Did not"),
    Column("rate_didnt", "Converted (did not)", "percent"),
    Column("lift_shown", "Lift", "lift"),
    Column("small_sample", "Sample", "flag"),
)
EXAMPLE_COLUMNS = (
    Column("name", "Account", "text"),
    Column("status", "Status", "status"),
    Column("tier", "Tier", "tier"),
    Column("score", "Score"),
    Column("why", "Under this definition", "text"),
)
BACKTEST_ROWS = (
    ("known", "Accounts with a known outcome", "count"),
    ("converters", "Converted", "count"),
    ("base_rate", "Conversion rate, all of them", "percent"),
    ("flagged", "Flagged before their outcome", "count"),
    ("flagged_converters", "Flagged and converted", "count"),
    ("recall", "Recall: converters flagged", "percent"),
    ("precision", "Precision: flagged that converted", "percent"),
    ("median_lead_days", "Median lead time, flagged to converted", "days"),
)


def shown(rows: list[dict]) -> list[dict]:
    """Lift as a number, or ∞ when nobody without the behaviour converted."""
    return [{**row, "lift_shown": "∞" if row["unbounded"] else row["lift"]} for row in rows]


def lab_tables(result: dict) -> dict[str, Table]:
    """Every table of a lab run, keyed by the name of its CSV file."""
    if not result:
        return {}
    made = []
    what = result.get("what_if")
    if what:
        made += [
            Table("newly", "Would newly qualify (examples)", "", EXAMPLE_COLUMNS, what["newly_examples"]),
            Table("dropping", "Would stop qualifying (examples)", "", EXAMPLE_COLUMNS, what["dropping_examples"]),
        ]
    tests = [result["backtest"], result.get("active_backtest")]
    tests = [test for test in tests if test]
    made.append(
        Table(
            "backtest",
            "Backtest",
            "Accounts with a known outcome, as they stood before it.",
            (Column("figure", "", "text"), *(Column(f"d{i}", test["definition"], "text") for i, test in enumerate(tests))),
            [
                {
                    "figure": label,
                    **{f"d{i}": test[key] for i, test in enumerate(tests)},
                    "kind": kind,
                }
                for key, label, kind in BACKTEST_ROWS
            ],
            kind_key="kind",
        )
    )
    made.append(
        Table(
            "criteria",
            "Criteria",
            "Each criterion of this definition, held or not just before the outcome.",
            PREDICTOR_COLUMNS,
            shown(by_lift(result["backtest"]["criteria"])),
            muted_key="small_sample",
        )
    )
    events = result["events"]
    made.append(
        Table(
            "events",
            "Events",
            f"Each event name done at least 1, 3 or 10 times within {events['days']} days of signup "
            "(before the outcome).",
            PREDICTOR_COLUMNS,
            shown(events["rows"]),
            muted_key="small_sample",
        )
    )
    return {table.name: table for table in made}

