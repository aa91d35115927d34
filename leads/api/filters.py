"""Filters of the REST API (django-filter): each names its query parameter,
and a bad value is a 400 that names it."""

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django_filters.fields import IsoDateTimeField
from rest_framework import filters as drf_filters
from rest_framework.exceptions import ValidationError as DRFValidationError

from leads.models import Account, Event, LeadStatus, Person, Plan, StatusCause, StatusChange, Tier
from leads.timestamps import to_utc


class UtcDateTimeField(IsoDateTimeField):
    """ISO 8601 with any offset Python accepts, handed on in UTC (PostgreSQL
    refuses offsets beyond 15:59); a time with no UTC equivalent (year 1 at
    +14:00) is a 400 naming the parameter. A bound to filter by may be any
    time UTC can hold: only stored times keep to leads.timestamps' ranges."""

    def to_python(self, value):
        moment = super().to_python(value)
        if not moment:
            return moment
        utc = to_utc(moment)
        if utc is None:
            raise ValidationError("Out of range: this time has no UTC equivalent.", code="time_out_of_range")
        return utc


class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class StrictBooleanField(forms.Field):
    """true/false (or 1/0); anything else is refused, not read as "no filter"
    (django-filter's boolean widget turns an unknown value into None)."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise ValidationError("Use true or false.", code="invalid") from None


class BooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


MAX_ID = 2**63 - 1
MAX_SCORE = 2**31 - 1


def id_filter(field_name: str, **options) -> filters.NumberFilter:
    """A whole, positive id the database can hold; anything else is a 400."""
    return filters.NumberFilter(
        field_name=field_name, min_value=1, max_value=MAX_ID, decimal_places=0, **options
    )


def score_filter(lookup_expr: str) -> filters.NumberFilter:
    return filters.NumberFilter(
        field_name="score__score",
        lookup_expr=lookup_expr,
        min_value=-MAX_SCORE,
        max_value=MAX_SCORE,
        decimal_places=0,
    )


def became_pql(*, after=None, before=None):
    """Accounts with a move to PQL in the range (a subquery per account, indexed)."""
    changes = StatusChange.objects.filter(account=OuterRef("pk"), to_status=LeadStatus.PQL)
    if after:
        changes = changes.filter(changed_at__gte=after)
    if before:
        changes = changes.filter(changed_at__lt=before)
    return Exists(changes)


class AccountFilter(filters.FilterSet):
    # A column of the account: no join, so no DISTINCT (django-filter's default here).
    status = filters.MultipleChoiceFilter(
        choices=LeadStatus.choices, distinct=False, help_text="Repeat for several."
    )
    owner = id_filter("owner_id", help_text="A sales rep id.")
    unassigned = BooleanFilter(field_name="owner", lookup_expr="isnull")
    tier = filters.ChoiceFilter(field_name="score__tier", choices=Tier.choices)
    industry = filters.CharFilter(lookup_expr="iexact")
    country = filters.CharFilter(lookup_expr="iexact", help_text="ISO code, e.g. US.")
    plan = filters.ChoiceFilter(choices=Plan.choices)
    score_min = score_filter("gte")
    score_max = score_filter("lte")
    qualifies = BooleanFilter(field_name="score__qualifies")
    signed_up_after = DateTimeFilter(field_name="signed_up_at", lookup_expr="gte")
    signed_up_before = DateTimeFilter(field_name="signed_up_at", lookup_expr="lt")
    pql_after = DateTimeFilter(method="filter_pql_after", help_text="Became a PQL at or after.")
    pql_before = DateTimeFilter(method="filter_pql_before", help_text="Became a PQL before.")

    class Meta:
        model = Account
        fields: list[str] = []

    def filter_pql_after(self, queryset, name, value):
        return queryset.filter(became_pql(after=value, before=self.form.cleaned_data.get("pql_before")))

    def filter_pql_before(self, queryset, name, value):
        return queryset.filter(became_pql(after=self.form.cleaned_data.get("pql_after"), before=value))


class PersonFilter(filters.FilterSet):
    account = id_filter("account_id")
    email = filters.CharFilter(lookup_expr="iexact")
    external_id = filters.CharFilter()

    class Meta:
        model = Person
        fields: list[str] = []


class EventFilter(filters.FilterSet):
    account = id_filter("account_id")
    person = id_filter("person_id")
    name = filters.CharFilter()
    source = filters.CharFilter()
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = DateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields: list[str] = []


class StatusChangeFilter(filters.FilterSet):
    account = id_filter("account_id")
    to_status = filters.ChoiceFilter(choices=LeadStatus.choices)
    cause = filters.ChoiceFilter(choices=StatusCause.choices)
    owner = id_filter("owner_id")
    changed_after = DateTimeFilter(field_name="changed_at", lookup_expr="gte")
    changed_before = DateTimeFilter(field_name="changed_at", lookup_expr="lt")

    class Meta:
        model = StatusChange
        fields: list[str] = []


class OrderingFilter(drf_filters.OrderingFilter):
    """?ordering= by the fields each view lists; an unknown field is a 400
    naming the parameter (DRF drops it silently)."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        if len(valid) != len(fields):
            allowed = sorted(item[0] for item in self.get_valid_fields(queryset, view, {"request": request}))
            raise DRFValidationError(
                {self.ordering_param: [f"Order by {', '.join(allowed)} (with - for descending)."
                                       if allowed else "This list has a fixed order."]}
            )
        return valid
