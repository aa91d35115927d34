from django import forms
from django.core.exceptions import ValidationError

from .endpoints import vetted
from .events import EVENT_TYPES
from .models import Endpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=2000, assume_scheme="https", help_text="http(s) only.")
    event_types = forms.MultipleChoiceField(
        choices=EVENT_TYPES,
        widget=forms.CheckboxSelectMultiple,
        help_text="The events sent to this endpoint.",
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "event_types", "is_active"]

    def clean(self):
        """The service's checks (SSRF, event types), as form errors."""
        cleaned = super().clean() or self.cleaned_data
        if "url" in cleaned and "event_types" in cleaned:
            try:
                vetted(url=cleaned["url"], event_types=cleaned["event_types"])
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned
