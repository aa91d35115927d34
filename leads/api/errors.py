"""API errors: every failure a client causes is a 4xx with a body that says why."""

from django.db import DataError
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler


def api_exception_handler(exc, context):
    """DRF's handler, plus: a value the database refuses (out of range,
    malformed) is the client's input, so a 400, never a 500."""
    if isinstance(exc, DataError):
        exc = ValidationError({"detail": "A value is out of range or malformed."})
    return exception_handler(exc, context)
