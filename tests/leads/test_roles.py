"""The two roles keep their permissions: every migrate gives them back what
ROLE_PERMISSIONS says, whatever happened to the groups in between."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from leads.groups import ROLE_PERMISSIONS, SALES_MANAGERS, SALES_REPS


def held(group_name: str) -> dict[str, set[str]]:
    group = Group.objects.get(name=group_name)
    by_app: dict[str, set[str]] = {}
    for app_label, codename in group.permissions.values_list("content_type__app_label", "codename"):
        by_app.setdefault(app_label, set()).add(codename)
    return by_app


@pytest.mark.django_db
@pytest.mark.parametrize("role", [SALES_MANAGERS, SALES_REPS])
def test_each_role_holds_what_the_table_says(role):
    assert held(role) == {app: set(codenames) for app, codenames in ROLE_PERMISSIONS[role].items()}


@pytest.mark.django_db
def test_a_manager_group_stripped_by_hand_gets_its_permissions_back_at_the_next_migrate():
    Group.objects.get(name=SALES_MANAGERS).permissions.clear()
    Group.objects.filter(name=SALES_REPS).delete()

    call_command("migrate", verbosity=0)

    assert "change_definition" in held(SALES_MANAGERS)["scoring"]
    assert "view_account" in held(SALES_REPS)["leads"]
