"""Schemathesis sends generated Segment payloads to every ingestion endpoint
with a valid write key: whatever arrives, the answer is never a 5xx, so the
libraries never resend a batch that can never be stored."""

import os

import pytest

from leads.models import Source
from tests.conftest import fuzz_operation, openapi_document, operation_labels

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))

# The ingestion endpoints' part of the schema: every operation is a test of its own.
DOCUMENT = openapi_document(prefix="/v1/")
OPERATIONS = operation_labels(DOCUMENT)


def test_the_fuzz_walks_every_ingestion_endpoint():
    assert len(OPERATIONS) == 8


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_payload_makes_ingestion_fail(operation, inline_queues, settings_throttle_off):
    source = Source.objects.create(name="Fuzz", slug="fuzz")
    auth = (source.write_key, "")
    fuzz_operation(DOCUMENT, operation, examples=EXAMPLES_PER_OPERATION, auth=auth)


@pytest.fixture
def settings_throttle_off(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "ingest": None},
    }
