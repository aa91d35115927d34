"""The one way numbers, durations and dates read on every page: "57.0%",
"46.7 h" or "2.5 days", "14 Sep 2026", "14 Sep 2026, 09:14"."""

from datetime import date, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from scoring.metrics.tables import duration

register = template.Library()

# What each count is called, and what it means, on Team, Metrics and Lab alike.
COUNT_WORDS = {
    "open_leads": ("Open leads", "Accounts in PQL, assigned or contacted, now."),
    "qualifying_now": (
        "Qualifying now",
        "Accounts whose current score qualifies, whatever their status (a converted account can still qualify).",
    ),
    "ever_pql": ("Ever a PQL", "Accounts that reached PQL at some point in the period, per the status history (raw PQLs)."),
}


@register.simple_tag
def count_word(name: str, *, lower: bool = False):
    """The word for a count, with its meaning on hover."""
    word, meaning = COUNT_WORDS[name]
    return format_html('<abbr class="hint" title="{}">{}</abbr>', meaning, word.lower() if lower else word)


@register.simple_tag
def count_meaning(name: str) -> str:
    return COUNT_WORDS[name][1]


@register.filter
def percent(value, digits: int = 1) -> str:
    """A share already in percent (56.96 -> '57.0%'); '—' when there is none."""
    if value is None or value == "":
        return "—"
    return f"{float(value):.{int(digits)}f}%"


@register.filter
def hours(value) -> str:
    """A duration in hours as the metrics say it: '25 min', '46.7 h', '2.5 days'."""
    if value is None or value == "":
        return "—"
    return duration(float(value))


@register.filter
def days(value) -> str:
    """A duration in days, as hours() reads it."""
    if value is None or value == "":
        return "—"
    return hours(float(value) * 24)


@register.filter
def day(value) -> str:
    """'14 Sep 2026'."""
    if not isinstance(value, date):
        return "—" if value in (None, "") else str(value)
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return f"{value.day} {value:%b %Y}"


@register.filter
def moment(value) -> str:
    """'14 Sep 2026, 09:14' in the site's time zone."""
    if not isinstance(value, datetime):
        return day(value)
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return f"{value.day} {value:%b %Y, %H:%M}"


@register.filter
def count(value) -> str:
    """A count with thousands separated: '1,240'."""
    if value is None or value == "":
        return "—"
    return f"{int(value):,}"


@register.filter
def lower_first(value) -> str:
    """'Logged an hour' -> 'logged an hour' (after 'Not yet: '); 'CEO' stays."""
    text = str(value)
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]
