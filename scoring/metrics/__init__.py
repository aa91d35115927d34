"""Whether PQLs work: signups, PQLs, PQL rate, time to PQL, contact within SLA
and conversion, from the status history, aggregated in SQL.

`summary(start=..., end=...)` returns every figure as JSON-ready data (the API
serves it); the managers' page and its CSV files read the same data.
"""

from .report import Period, build_report, summary
from .tables import tables

__all__ = ["Period", "build_report", "summary", "tables"]
