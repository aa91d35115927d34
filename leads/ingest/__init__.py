"""Event ingestion compatible with Segment's HTTP tracking API (under /v1/)."""
