"""Schemathesis walks every operation of the OpenAPI schema with generated
input, as a manager: whatever it sends, the API answers without a 5xx."""

import os

import pytest

from tests.conftest import fuzz_operation, openapi_document, operation_labels

pytestmark = pytest.mark.django_db(transaction=True)

# The same examples on every run, so CI is repeatable; raise it to look harder.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))

# The schema as drf-spectacular generates it: every operation is a test of its own.
DOCUMENT = openapi_document()
OPERATIONS = operation_labels(DOCUMENT)


def test_the_fuzz_walks_every_operation():
    assert len(OPERATIONS) >= 20
    assert len(OPERATIONS) == len(set(OPERATIONS))


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_input_makes_the_api_fail(operation, manager, account):
    from rest_framework.authtoken.models import Token

    headers = {"Authorization": f"Token {Token.objects.get_or_create(user=manager)[0].key}"}
    fuzz_operation(DOCUMENT, operation, examples=EXAMPLES_PER_OPERATION, headers=headers)
