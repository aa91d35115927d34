"""Template context every page needs: the signed-in user's role, and for a
rep how many leads are new since they last opened their queue."""

from django.utils.functional import SimpleLazyObject

from . import selectors
from .access import NOBODY


def roles(request):
    found = getattr(request, "roles", NOBODY)
    signed_in = found is not NOBODY and found.is_sales_person
    return {
        "is_manager": bool(found.is_manager),
        "is_rep": SimpleLazyObject(lambda: found.rep is not None) if signed_in else False,
        # Counted only when a page shows the navigation (one query).
        "new_leads": SimpleLazyObject(lambda: new_lead_count(request)) if signed_in else 0,
    }


def new_lead_count(request) -> int:
    if getattr(request, "queue_just_seen", False):
        return 0
    rep = request.roles.rep
    return selectors.new_since_seen(rep).count() if rep else 0
