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
        # Evaluated only when a page shows the navigation.
        "is_rep": SimpleLazyObject(lambda: known_rep(request) is not None) if signed_in else False,
        "new_leads": SimpleLazyObject(lambda: new_lead_count(request)) if signed_in else 0,
    }


def known_rep(request):
    """The user's rep, when the page looked it up already (every rep's page
    does) or the user is no manager; a manager's own pages (metrics, lab,
    team) do not pay a query for the navigation."""
    user = request.user
    if is_manager(user) and not hasattr(user, "_sales_rep"):
        return None
    return rep_of(user)


def new_lead_count(request) -> int:
    if getattr(request, "queue_just_seen", False):
        return 0
    rep = known_rep(request)
    return selectors.new_since_seen(rep).count() if rep else 0
