"""Who may see what: sales managers see every account, a rep only their own,
and anyone else nothing."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .groups import SALES_MANAGERS
from .models import Account, SalesRep


def is_manager(user) -> bool:
    if not user.is_authenticated:
        return False
    if not hasattr(user, "_is_sales_manager"):
        user._is_sales_manager = user.is_superuser or user.groups.filter(name=SALES_MANAGERS).exists()
    return user._is_sales_manager


def rep_of(user) -> SalesRep | None:
    if not user.is_authenticated:
        return None
    if not hasattr(user, "_sales_rep"):
        user._sales_rep = SalesRep.objects.select_related("user").filter(user=user).first()
    return user._sales_rep


def sales_people_only(view):
    """Log in first; then managers and reps pass, anyone else gets 403."""

    @login_required
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not is_manager(request.user) and rep_of(request.user) is None:
            raise PermissionDenied("This page is for sales managers and reps.")
        return view(request, *args, **kwargs)

    return guarded


def managers_only(view):
    """Managers pass; a rep gets 404, as for anything that is not theirs."""

    @sales_people_only
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not is_manager(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return guarded


def visible_accounts(user):
    """The accounts this user may open: all for managers, a rep's own otherwise."""
    if not user.is_authenticated:
        return Account.objects.none()
    if is_manager(user):
        return Account.objects.all()
    rep = rep_of(user)
    return Account.objects.filter(owner=rep) if rep else Account.objects.none()
