"""Pages of the REST API. A cursor a client made up or mangled is a 400
naming `cursor`, never a query the database refuses."""

from datetime import UTC

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination


class NewestFirst(CursorPagination):
    """Events newest first, by cursor: stable pages over millions of rows."""

    ordering = ("-occurred_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise self.refused() from None
        if cursor is not None and cursor.position is not None and not valid_moment(cursor.position):
            raise self.refused()
        return cursor

    def refused(self) -> ValidationError:
        return ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})


def valid_moment(text: str) -> bool:
    """A time with its offset that PostgreSQL can compare against (the
    position of a cursor this API made is always one)."""
    try:
        moment = parse_datetime(text)
        return moment is not None and moment.tzinfo is not None and bool(moment.astimezone(UTC))
    except (ValueError, OverflowError):
        return False


class QueuePage(PageNumberPagination):
    page_size = 25
