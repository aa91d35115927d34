"""Template context every page needs: the signed-in user's role."""


def roles(request):
    found = getattr(request, "roles", None)
    return {"is_manager": bool(found and found.is_manager)}
