"""How far behind scoring is, as a panel for /team/ and the admin index."""

from django import template
from django.conf import settings

from scoring.jobs import lag

register = template.Library()


@register.inclusion_tag("scoring/_freshness.html")
def scoring_freshness():
    behind = lag()
    return {
        "lag": behind,
        "limit_s": settings.SCORING_LAG_LIMIT,
        "late": behind.seconds > settings.SCORING_LAG_LIMIT or behind.workers == 0,
    }
