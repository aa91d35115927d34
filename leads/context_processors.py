"""Template context every page needs: the signed-in user's role."""

from .access import is_manager


def roles(request):
    user = getattr(request, "user", None)
    return {"is_manager": bool(user and user.is_authenticated and is_manager(user))}
