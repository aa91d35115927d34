"""Schemathesis sends generated Segment payloads to every ingestion endpoint
with a valid write key: whatever arrives, the answer is never a 5xx, so the
libraries never resend a batch that can never be stored."""

import json
import os

import pytest
import schemathesis

from leads.models import Source
from tests.conftest import fuzz_operations

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture
def ingest_schema(inline_queues):
    from django.core.wsgi import get_wsgi_application
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
    document["paths"] = {path: item for path, item in document["paths"].items() if path.startswith("/v1/")}
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


def test_no_payload_makes_ingestion_fail(ingest_schema, settings_throttle_off):
    source = Source.objects.create(name="Fuzz", slug="fuzz")
    auth = (source.write_key, "")
    assert fuzz_operations(ingest_schema, examples=EXAMPLES_PER_OPERATION, auth=auth) == 8


@pytest.fixture
def settings_throttle_off(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "ingest": None},
    }
