"""Template context every page needs: the signed-in user's role, and for a
rep how many leads are new since they last opened their queue."""

from django.utils.functional import SimpleLazyObject

from . import selectors
from .access import is_manager, rep_of


def roles(request):
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "is_manager": signed_in and is_manager(user),
        "is_rep": SimpleLazyObject(lambda: rep_of(user) is not None) if signed_in else False,
        # Counted only when a page shows the navigation (one query).
        "new_leads": SimpleLazyObject(lambda: new_lead_count(request)) if signed_in else 0,
    }


def new_lead_count(request) -> int:
    if getattr(request, "queue_just_seen", False):
        return 0
    rep = rep_of(request.user)
    return selectors.new_since_seen(rep).count() if rep else 0
