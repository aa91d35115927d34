"""Admin pieces both apps' admins use: lists counted by estimate, read-only records."""

import json
from functools import cached_property

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection


class EstimatedCountPaginator(Paginator):
    """On PostgreSQL, a large list is counted from the planner's estimate.

    An exact COUNT(*) over millions of events costs seconds on every page
    load. The planner's row estimate for the same query (an EXPLAIN, about a
    millisecond) stands in when it is large; small lists are counted exactly.
    """

    exact_below = 100_000

    @cached_property
    def count(self):
        if connection.vendor == "postgresql":
            plan = self.object_list.explain(format="json")
            if not plan:  # a filter no row can match, e.g. an id out of range: nothing to run
                return 0
            plan = json.loads(plan)
            estimate = int((plan[0] if isinstance(plan, list) else plan)["Plan"]["Plan Rows"])
            if estimate >= self.exact_below:
                return estimate
        return super().count


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records the services append and nobody edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
