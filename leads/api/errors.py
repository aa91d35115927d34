"""API errors: every failure a client causes is a 4xx with a body that says
why, and a database that cannot be reached is a JSON 503 the client retries."""

import logging

from django.db import DataError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

log = logging.getLogger(__name__)

# Seconds a client waits before retrying when the database is unavailable
# (the same as ingest tells the SDKs).
RETRY_AFTER_UNAVAILABLE = 5


def api_exception_handler(exc, context):
    """DRF's handler, plus: a value the database refuses (out of range,
    malformed) is the client's input, so a 400, never a 500; a database that
    refuses the connection (its connection limit, a restart) or drops it is a
    503 with Retry-After, as ingest answers, never an HTML 500."""
    if isinstance(exc, DataError):
        exc = ValidationError({"detail": "A value is out of range or malformed."})
    elif isinstance(exc, OperationalError | InterfaceError):
        log.exception("The API could not reach the database")
        set_rollback()
        return Response(
            {"detail": "The database is unavailable; retry later."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    return exception_handler(exc, context)
