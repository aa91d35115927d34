"""Schemathesis walks every operation of the OpenAPI schema with generated
input, as a manager: whatever it sends, the API answers without a 5xx."""

import json
import os

import pytest
import schemathesis

from tests.conftest import fuzz_operations

pytestmark = pytest.mark.django_db(transaction=True)

# The same examples on every run, so CI is repeatable; raise it to look harder.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))


@pytest.fixture
def api_schema(manager, account):
    """The schema as drf-spectacular generates it, served by the WSGI app."""
    from django.core.wsgi import get_wsgi_application
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


def test_no_input_makes_the_api_fail(api_schema, manager):
    from rest_framework.authtoken.models import Token

    headers = {"Authorization": f"Token {Token.objects.get_or_create(user=manager)[0].key}"}
    walked = fuzz_operations(api_schema, examples=EXAMPLES_PER_OPERATION, headers=headers)
    assert walked >= 20
