"""Routes of Segment-compatible ingestion: /v1/batch, /v1/import (batches of
historical messages) and the single calls,
with or without a trailing slash, as the libraries and curl users send them."""

from django.urls import re_path

from . import views

urlpatterns = [
    re_path(
        r"^(?P<call>batch|import|track|identify|group|page|screen|alias)/?$",
        views.receive,
        name="ingest",
    ),
]
