"""What a client gets when django-axes has paused sign-ins after repeated
failures: a 429 with Retry-After, as a page or, for the API, as JSON."""

import math

from axes.helpers import get_cool_off, get_failure_limit  # type: ignore[import-untyped]
from django.http import JsonResponse
from django.shortcuts import render

LOCKED_OUT_STATUS = 429


def retry_after(request) -> int | None:
    cool_off = get_cool_off(request)
    return math.ceil(cool_off.total_seconds()) if cool_off else None


def locked_out(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE for /login/, /admin/login/ and /api/token/."""
    seconds = retry_after(request)
    limit = get_failure_limit(request, credentials)
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"detail": f"Too many failed sign-ins: try again in {seconds} seconds." if seconds
             else "Too many failed sign-ins: ask an administrator to unlock you."},
            status=LOCKED_OUT_STATUS,
        )
    else:
        username = (credentials or {}).get("username", "")
        minutes = math.ceil(seconds / 60) if seconds else None
        response = render(
            request,
            "registration/locked_out.html",
            {"failure_limit": limit, "username": username, "minutes": minutes},
            status=LOCKED_OUT_STATUS,
        )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
