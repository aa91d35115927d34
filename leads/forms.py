"""Forms of the reps' and managers' pages."""

from django import forms

from .models import OPEN_LEAD_STATUSES, LeadStatus, SalesRep, Tier
from .services import OUTCOMES_FROM


class QueueFilterForm(forms.Form):
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
