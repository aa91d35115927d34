"""The REST API for reading and managing leads (DRF, under /api/)."""
