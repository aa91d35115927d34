"""Schemathesis walks every operation of the OpenAPI schema with generated
input, as a manager: whatever it sends, the API answers without a 5xx."""

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

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
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        call()
