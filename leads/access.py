"""Who may see what: sales managers see every account, a rep only their own,
and anyone else nothing.

A user's roles are looked up once per request: RolesMiddleware puts them,
lazily, on `request.roles` (as AuthenticationMiddleware puts the user on
`request.user`), and everything that decides access reads them there.
"""

from functools import cached_property, wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .groups import SALES_MANAGERS
from .models import Account, SalesRep


class Roles:
    """What a user is to sales: a manager (superusers are), a rep, both or
    neither. Each is looked up on first use and kept (one query each), so a
    request asks at most twice, and only what it needs."""

    def __init__(self, user=None, *, request=None):
        self._user, self._request = user, request

    @property
    def user(self):
        # A request's user is read when first needed: DRF authenticates a
        # token's user after the middleware has run.
        return getattr(self._request, "user", None) if self._request is not None else self._user

    @cached_property
    def is_manager(self) -> bool:
        user = self.user
        if user is None or not user.is_authenticated:
            return False
        return user.is_superuser or user.groups.filter(name=SALES_MANAGERS).exists()

    @cached_property
    def rep(self) -> SalesRep | None:
        user = self.user
        if user is None or not user.is_authenticated:
            return None
        return SalesRep.objects.select_related("user").filter(user=user).first()

    @property
    def rep_if_looked_up(self) -> SalesRep | None:
        """The rep, only if something asked already (no query of its own)."""
        return self.__dict__.get("rep")

    @property
    def is_sales_person(self) -> bool:
        return self.is_manager or self.rep is not None


def roles_of(user) -> Roles:
    """A user's roles, looked up afresh; requests use roles_for(request)."""
    return Roles(user)


def roles_for(request) -> Roles:
    """The roles of the request's user, as RolesMiddleware put them on it
    (a DRF request reads them through to Django's)."""
    return request.roles


class RolesMiddleware:
    """`request.roles`: the signed-in user's roles, each looked up on first
    use, as AuthenticationMiddleware puts a lazy user on `request.user`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.roles = Roles(request=request)
        return self.get_response(request)


def sales_people_only(view):
    """Log in first; then managers and reps pass, anyone else gets 403."""

    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not roles_for(request).is_sales_person:
            raise PermissionDenied("This page is for sales managers and reps.")
        return view(request, *args, **kwargs)

    return guarded


def managers_only(view):
    """Managers pass; a rep gets 404, as for anything that is not theirs."""

    @sales_people_only
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not roles_for(request).is_manager:
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
