"""Routes of Segment-compatible ingestion."""

urlpatterns = []
