"""Who may see what: sales managers see every account, a rep only their own,
and anyone else nothing.

A user's roles are looked up once per request: RolesMiddleware puts them,
lazily, on `request.roles` (as AuthenticationMiddleware puts the user on
`request.user`), and everything that decides access reads them there.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.functional import SimpleLazyObject

from .groups import SALES_MANAGERS
from .models import Account, SalesRep


@dataclass(frozen=True)
class Roles:
    """What a user is to sales: a manager (superusers are), a rep, both or neither."""

    is_manager: bool
    rep: SalesRep | None

    @property
    def is_sales_person(self) -> bool:
        return self.is_manager or self.rep is not None


NOBODY = Roles(is_manager=False, rep=None)


def roles_of(user) -> Roles:
    """Looked up afresh (two queries); requests use `request.roles` instead."""
    if user is None or not user.is_authenticated:
        return NOBODY
    return Roles(
        is_manager=user.is_superuser or user.groups.filter(name=SALES_MANAGERS).exists(),
        rep=SalesRep.objects.select_related("user").filter(user=user).first(),
    )


class RolesMiddleware:
    """`request.roles`: the signed-in user's roles, looked up on first use.

    First use comes after authentication, DRF's included (DRF sets the
    authenticated user on the Django request too), so a token's user counts.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.roles = SimpleLazyObject(lambda: roles_of(getattr(request, "user", None)))
        return self.get_response(request)


def sales_people_only(view):
    """Log in first; then managers and reps pass, anyone else gets 403."""

    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not request.roles.is_sales_person:
            raise PermissionDenied("This page is for sales managers and reps.")
        return view(request, *args, **kwargs)

    return guarded


def managers_only(view):
    """Managers pass; a rep gets 404, as for anything that is not theirs."""

    @sales_people_only
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not request.roles.is_manager:
            raise Http404
        return view(request, *args, **kwargs)

    return guarded


def visible_accounts(roles: Roles):
    """The accounts these roles may open: all for managers, a rep's own otherwise."""
    if roles.is_manager:
        return Account.objects.all()
    if roles.rep is not None:
        return Account.objects.filter(owner=roles.rep)
    return Account.objects.none()


def of_visible_accounts(queryset, roles: Roles):
    """Rows (people, events, history) of the accounts these roles may see."""
    if roles.is_manager:
        return queryset
    return queryset.filter(account__in=visible_accounts(roles))
