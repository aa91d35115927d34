"""Template context every page needs: the signed-in user's role, and for a
rep how many leads are new since they last opened their queue."""

from django.utils.functional import SimpleLazyObject

from . import selectors
from .access import Roles, roles_for


def roles(request):
    found = roles_for(request) if hasattr(request, "roles") else Roles()
    signed_in = found.user is not None and found.user.is_authenticated
    return {
        "is_manager": bool(found.is_manager),
        "is_rep": SimpleLazyObject(lambda: found.rep is not None) if signed_in else False,
        # Counted only when a page shows the navigation (one query).
        "new_leads": SimpleLazyObject(lambda: new_lead_count(request)) if signed_in else 0,
    }


def new_lead_count(request) -> int:
    if getattr(request, "queue_just_seen", False):
        return 0
    rep = roles_for(request).rep
    return selectors.new_since_seen(rep).count() if rep else 0
