"""Forms of the reps' and managers' pages."""

from django import forms

from .models import OPEN_LEAD_STATUSES, LeadStatus, SalesRep, Tier
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
    stack = [(value, 1)]
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
