"""Template context every page needs: the signed-in user's role, and for a
rep how many leads are new since they last opened their queue."""

from django.utils.functional import SimpleLazyObject

from . import selectors
from .access import Roles, roles_for


def roles(request):
    found = roles_for(request) if hasattr(request, "roles") else Roles()
    signed_in = found.user is not None and found.user.is_authenticated
    return {
        "is_manager": signed_in and found.is_manager,
        # Evaluated only when a page shows the navigation.
        "is_rep": SimpleLazyObject(lambda: known_rep(found) is not None) if signed_in else False,
        "new_leads": SimpleLazyObject(lambda: new_lead_count(request, found)) if signed_in else 0,
    }


def known_rep(roles: Roles):
    """The user's rep, when the page looked it up already (every rep's page
    does) or the user is no manager; a manager's own pages (metrics, lab,
    team) do not pay a query for the navigation."""
    return roles.rep_if_looked_up if roles.is_manager else roles.rep


def new_lead_count(request, roles: Roles) -> int:
    if getattr(request, "queue_just_seen", False):
        return 0
    rep = known_rep(roles)
    return selectors.new_since_seen(rep).count() if rep else 0
