"""Filters of the REST API (django-filter): each names its query parameter,
and a bad value is a 400 that names it."""

import django_filters as filters
from django.db.models import Exists, OuterRef

from leads.models import Account, Event, LeadStatus, Person, StatusCause, StatusChange, Tier


def became_pql(*, after=None, before=None):
    """Accounts with a move to PQL in the range (a subquery per account, indexed)."""
    changes = StatusChange.objects.filter(account=OuterRef("pk"), to_status=LeadStatus.PQL)
    if after:
        changes = changes.filter(changed_at__gte=after)
    if before:
        changes = changes.filter(changed_at__lt=before)
    return Exists(changes)


class AccountFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=LeadStatus.choices, help_text="Repeat for several.")
    owner = filters.NumberFilter(field_name="owner_id", help_text="A sales rep id.")
    unassigned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull")
    tier = filters.ChoiceFilter(field_name="score__tier", choices=Tier.choices)
    industry = filters.CharFilter(lookup_expr="iexact")
    country = filters.CharFilter(lookup_expr="iexact", help_text="ISO code, e.g. US.")
    plan = filters.CharFilter(lookup_expr="iexact")
    score_min = filters.NumberFilter(field_name="score__score", lookup_expr="gte")
    score_max = filters.NumberFilter(field_name="score__score", lookup_expr="lte")
    qualifies = filters.BooleanFilter(field_name="score__qualifies")
    signed_up_after = filters.IsoDateTimeFilter(field_name="signed_up_at", lookup_expr="gte")
    signed_up_before = filters.IsoDateTimeFilter(field_name="signed_up_at", lookup_expr="lt")
    pql_after = filters.IsoDateTimeFilter(method="filter_pql_after", help_text="Became a PQL at or after.")
    pql_before = filters.IsoDateTimeFilter(method="filter_pql_before", help_text="Became a PQL before.")

    class Meta:
        model = Account
        fields = []

    def filter_pql_after(self, queryset, name, value):
        return queryset.filter(became_pql(after=value, before=self.form.cleaned_data.get("pql_before")))

    def filter_pql_before(self, queryset, name, value):
        return queryset.filter(became_pql(after=self.form.cleaned_data.get("pql_after"), before=value))


class PersonFilter(filters.FilterSet):
    account = filters.NumberFilter(field_name="account_id")
    email = filters.CharFilter(lookup_expr="iexact")
    external_id = filters.CharFilter()

    class Meta:
        model = Person
        fields = []


class EventFilter(filters.FilterSet):
    account = filters.NumberFilter(field_name="account_id")
    person = filters.NumberFilter(field_name="person_id")
    name = filters.CharFilter()
    source = filters.CharFilter()
    occurred_after = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = []


class StatusChangeFilter(filters.FilterSet):
    account = filters.NumberFilter(field_name="account_id")
    to_status = filters.ChoiceFilter(choices=LeadStatus.choices)
    cause = filters.ChoiceFilter(choices=StatusCause.choices)
    owner = filters.NumberFilter(field_name="owner_id")
    changed_after = filters.IsoDateTimeFilter(field_name="changed_at", lookup_expr="gte")
    changed_before = filters.IsoDateTimeFilter(field_name="changed_at", lookup_expr="lt")

    class Meta:
        model = StatusChange
        fields = []
