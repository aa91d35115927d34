"""Forms for a manager's alert choices: the admin's and the settings page's."""

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from leads.groups import SALES_MANAGERS
from leads.models import AlertTiming
from leads.webhooks.targets import TargetRefused, parse

from .models import ManagerAlerts

SLACK_HELP = "Optional: a Slack incoming-webhook URL your daily digest is also posted to."


def clean_slack_url(url: str) -> str:
    url = (url or "").strip()
    if url:
        try:
            parse(url)  # http(s) only, a host, a valid port
        except TargetRefused as refused:
            raise forms.ValidationError(str(refused)) from None
    return url


class ManagerAlertsForm(forms.Form):
    """On /settings/: how a manager hears of unowned and overdue leads."""

    alert_timing = forms.ChoiceField(
        choices=AlertTiming.choices, widget=forms.RadioSelect, label="Tell me of unowned and overdue leads"
    )
    slack_webhook_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="Slack webhook URL", help_text=SLACK_HELP
    )

    @classmethod
    def for_user(cls, user, data=None, **options):
        choice = ManagerAlerts.objects.filter(user=user).first()
        initial = {
            "alert_timing": choice.alert_timing if choice else AlertTiming.INSTANT,
            "slack_webhook_url": choice.slack_webhook_url if choice else "",
        }
        return cls(data, initial=initial, **options)

    def clean_slack_webhook_url(self):
        return clean_slack_url(self.cleaned_data.get("slack_webhook_url", ""))


class ManagerAlertsAdminForm(forms.ModelForm):
    slack_webhook_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="Slack webhook URL", help_text=SLACK_HELP
    )

    class Meta:
        model = ManagerAlerts
        fields = ["user", "alert_timing", "slack_webhook_url"]

    def clean_user(self):
        user = self.cleaned_data["user"]
        is_manager = (
            get_user_model()
            .objects.filter(Q(is_superuser=True) | Q(groups__name=SALES_MANAGERS), pk=user.pk)
            .exists()
        )
        if not is_manager:
            raise forms.ValidationError("Choose a sales manager: only managers hear of unowned and overdue leads.")
        return user

    def clean_slack_webhook_url(self):
        return clean_slack_url(self.cleaned_data.get("slack_webhook_url", ""))
