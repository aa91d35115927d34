"""Forms of the managers' metrics and lab pages."""

from datetime import date, timedelta

from django import forms

from .metrics import Period

LONGEST_PERIOD = timedelta(days=3 * 366)
# The days a period may cover: the report steps a week or a month past its
# ends, which must stay within what Python's dates and PostgreSQL hold.
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def within_range(day: date) -> None:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise forms.ValidationError(f"Choose a day between {EARLIEST_DAY} and {LATEST_DAY}.")


def day_field(label: str) -> forms.DateField:
    return forms.DateField(label=label, widget=forms.DateInput(attrs={"type": "date"}), validators=[within_range])


class PeriodForm(forms.Form):
    start = day_field("From")
    end = day_field("To")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError("The period must end on or after its start.")
            if end - start > LONGEST_PERIOD:
                raise forms.ValidationError("Choose a period of three years at most.")
        return cleaned

    def period(self) -> Period:
        """The chosen period, or the default one when the form is empty or invalid."""
        if self.is_bound and self.is_valid():
            return Period(start=self.cleaned_data["start"], end=self.cleaned_data["end"])
        return Period.default()


def period_form(query) -> PeriodForm:
    """Bound to the query string when it names a period, else showing the default."""
    if "start" in query or "end" in query:
        return PeriodForm(query)
    default = Period.default()
    return PeriodForm(initial={"start": default.start, "end": default.end})
