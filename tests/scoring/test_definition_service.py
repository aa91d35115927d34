"""scoring.definitions, the one place definitions are written: the whole
definition checked before anything is written, unchanged criteria kept with
their ids, one history row and at most one rescore request per save."""

import pytest

from scoring import definitions
from scoring.definitions import DefinitionRefused, create_definition, row_of, save_definition
from scoring.models import Criterion, Definition, DefinitionChange, Milestone

pytestmark = pytest.mark.django_db

LOGINS = dict(label="Logins", points=10, event_name="login", operator="gte", value="3")
LEGAL = dict(label="Legal", role="gate", kind="attribute", field="industry", operator="eq", value="legal")


def test_every_problem_is_named_at_once_and_nothing_is_written(rescores):
    draft = Definition(name="Bad", mid_tier_min_employees=500, large_tier_min_employees=100, small_activation=70)
    with pytest.raises(DefinitionRefused) as refused:
        save_definition(
            draft,
            criteria=[LOGINS, {**LEGAL, "operator": "gt"}, {**LOGINS, "value": "many"}],
            milestones=[],
        )
    assert set(refused.value.message_dict) == {
        "large_tier_min_employees", "criteria[1].operator", "criteria[2].value", "milestones",
    }
    assert not Definition.objects.exists() and not Criterion.objects.exists()
    assert not DefinitionChange.objects.exists() and rescores == []


def test_unchanged_criteria_keep_their_rows_and_changed_ones_their_ids(rescores):
    live = create_definition(name="Live", is_active=True, criteria=[LOGINS, LEGAL], milestones=[
        dict(label="Invited", event_name="invite_sent")])
    logins, legal = live.criteria.all()
    rescores.clear()

    save_definition(
        live,
        criteria=[row_of(logins), {**row_of(legal), "value": "legal, accounting"}, {**LOGINS, "label": "New"}],
    )

    after = list(live.criteria.values_list("pk", "label", "value"))
    assert after[:2] == [(logins.pk, "Logins", "3"), (legal.pk, "Legal", "legal, accounting")]
    assert after[2][1] == "New" and after[2][0] not in (logins.pk, legal.pk)
    assert Milestone.objects.filter(definition=live).count() == 1  # milestones not given: kept
    assert DefinitionChange.objects.filter(definition=live).count() == 2
    assert rescores == ["definition “Live” changed"]


def test_criteria_left_out_are_removed_and_an_id_elsewhere_is_refused(rescores):
    one = create_definition(name="One", criteria=[LOGINS, LEGAL])
    other = create_definition(name="Other", criteria=[LOGINS])
    theirs = other.criteria.get()

    with pytest.raises(DefinitionRefused) as refused:
        save_definition(one, criteria=[{**LOGINS, "id": theirs.pk}])
    assert "criteria[0].id" in refused.value.message_dict
    assert one.criteria.count() == 2

    save_definition(one, criteria=[row_of(one.criteria.get(label="Legal"))])
    assert list(one.criteria.values_list("label", flat=True)) == ["Legal"]
    assert rescores == []  # drafts


def test_a_duplicate_is_a_draft_with_copies_and_its_own_history(rescores):
    live = create_definition(name="Live", is_active=True, criteria=[LOGINS, LEGAL])
    rescores.clear()

    copy = definitions.duplicate(live)

    assert copy.name == "Live (draft)" and not copy.is_active
    assert list(copy.criteria.values_list("label", flat=True)) == ["Logins", "Legal"]
    assert not set(copy.criteria.values_list("pk", flat=True)) & set(live.criteria.values_list("pk", flat=True))
    assert DefinitionChange.objects.filter(definition=copy).count() == 1
    assert rescores == []
