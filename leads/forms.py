"""Forms of the reps' and managers' pages."""

from datetime import date, datetime, time

from django import forms
from django.utils import timezone

from .models import OPEN_LEAD_STATUSES, AlertTiming, LeadStatus, SalesRep, Tier
from .services import OUTCOMES_FROM

# How deep a JSON object edited by hand may nest: deeper is refused, since
# pages that show it (the admin's change pages) render it recursively.
MAX_JSON_DEPTH = 32


def json_object_problem(value, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why `value` cannot be stored as traits or properties, or None: it must
    be a JSON object (ingest merges into it key by key), nested at most
    `max_depth` levels. Walked without recursion, whatever its depth."""
    if not isinstance(value, dict):
        return "Must be a JSON object, e.g. {\"plan_seats\": 12}."
    stack: list[tuple[dict | list, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return f"Nested more than {max_depth} levels deep."
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return None


class JSONObjectField(forms.JSONField):
    """A JSON object (traits, properties) in the admin; anything else is a form error."""

    def validate(self, value):
        super().validate(value)
        if value in self.empty_values and not self.required:
            return
        if problem := json_object_problem(value):
            raise forms.ValidationError(problem, code="invalid")


# The largest id a bigint primary key holds: a larger one is a 400, not an
# integer the database refuses.
MAX_ID = 2**63 - 1


class QueueFilterForm(forms.Form):
    """A queue's filters; managers may name whose queue (`rep`)."""

    rep = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any open status")]
        + [(s.value, s.label) for s in LeadStatus if s in OPEN_LEAD_STATUSES],
    )
    tier = forms.ChoiceField(required=False, choices=[("", "Any tier"), *Tier.choices])


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[(s.value, s.label) for s in LeadStatus if s in OUTCOMES_FROM],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(required=False, max_length=500, widget=forms.TextInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("outcome") == LeadStatus.DISQUALIFIED and not cleaned.get("reason", "").strip():
            self.add_error("reason", "Say why the account is disqualified.")
        return cleaned


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Note", max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean_body(self):
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError("Write something first.")
        return body


class AssignForm(forms.Form):
    rep = forms.ModelChoiceField(
        queryset=SalesRep.objects.filter(is_active=True, user__is_active=True).select_related("user"),
        empty_label="Choose a rep",
    )


# Dates a rep can be away between: anything else is a typo, and a year the
# database cannot store back must be a form error, not a 500.
EARLIEST_AWAY, LATEST_AWAY = date(2000, 1, 1), date(2100, 12, 31)


class DateInput(forms.DateInput):
    input_type = "date"


class RepSettingsForm(forms.Form):
    """A rep's availability and alert choices, in days: away from the first
    day (at midnight, the site's time) until the day they are back."""

    away_from = forms.DateField(
        required=False, label="Away from", widget=DateInput, help_text="The first day you are away."
    )
    back_on = forms.DateField(
        required=False, label="Back on", widget=DateInput, help_text="The day you are back. Empty: not away."
    )
    alert_timing = forms.ChoiceField(
        choices=AlertTiming.choices, widget=forms.RadioSelect, label="Tell me of new leads"
    )
    alert_by_email = forms.BooleanField(required=False, label="By email")
    alert_by_slack = forms.BooleanField(required=False, label="In my team's Slack channel")

    @classmethod
    def for_rep(cls, rep: SalesRep, data=None):
        initial = {
            "away_from": timezone.localtime(rep.away_from).date() if rep.away_from else None,
            "back_on": timezone.localtime(rep.away_until).date() if rep.away_until else None,
            "alert_timing": rep.alert_timing,
            "alert_by_email": rep.alert_by_email,
            "alert_by_slack": rep.alert_by_slack,
        }
        return cls(data, initial=initial)

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        for name in ("away_from", "back_on"):
            day = cleaned.get(name)
            if day and not EARLIEST_AWAY <= day <= LATEST_AWAY:
                self.add_error(name, f"Give a date between {EARLIEST_AWAY:%Y} and {LATEST_AWAY:%Y}.")
        away_from, back_on = cleaned.get("away_from"), cleaned.get("back_on")
        if away_from and not back_on and "back_on" not in self.errors:
            self.add_error("back_on", "Say when you are back.")
        if away_from and back_on and back_on <= away_from:
            self.add_error("back_on", "The day you are back must come after the first day away.")
        return cleaned

    @staticmethod
    def midnight(day: date | None) -> datetime | None:
        return timezone.make_aware(datetime.combine(day, time.min)) if day else None

    def settings(self) -> dict:
        cleaned = self.cleaned_data
        return {
            "away_from": self.midnight(cleaned["away_from"]) if cleaned.get("back_on") else None,
            "away_until": self.midnight(cleaned.get("back_on")),
            "alert_timing": cleaned["alert_timing"],
            "alert_by_email": cleaned["alert_by_email"],
            "alert_by_slack": cleaned["alert_by_slack"],
        }
