"""How deep a stored object may nest: counted one level at a time, the flat
object most events carry answered at once."""

import pytest

from leads.client_json import too_deep


@pytest.mark.parametrize(
    ("value", "levels", "deeper"),
    [
        ({"plan": "trial", "n": 1}, 1, False),
        ({"plan": "trial", "n": 1}, 0, True),
        ({}, 1, False),
        ({"a": {"b": 1}}, 1, True),
        ({"a": {"b": 1}}, 2, False),
        ({"a": [1, {"c": []}]}, 3, True),
        ({"a": [1, {"c": []}]}, 4, False),
        ([{"a": 1}], 1, True),
        ("text", 0, False),
    ],
)
def test_nesting_is_counted_with_the_object_itself(value, levels, deeper):
    assert too_deep(value, levels) is deeper
