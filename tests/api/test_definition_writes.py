"""The API writes definitions through scoring.definitions, as the admin does:
one history row and one rescore request per write, criteria named by id kept,
a refusal a 400 naming where, and nothing half written."""

import pytest

from scoring import definitions
from scoring.models import Criterion, Definition, DefinitionChange
from tests.api.test_api import token_client

pytestmark = pytest.mark.django_db

LOGINS = {"label": "Logins", "role": "trigger", "event_name": "login", "operator": "gte", "value": "10"}
LEGAL = {"label": "Legal", "role": "gate", "kind": "attribute", "field": "industry", "operator": "eq", "value": "legal"}


@pytest.fixture
def live(db):
    return definitions.create_definition(name="Live", is_active=True, score_threshold=10, criteria=[LOGINS, LEGAL])


def test_creating_a_definition_records_it_once(manager, rescores):
    response = token_client(manager).post(
        "/api/definitions/", {"name": "Draft", "criteria": [LOGINS, LEGAL]}, format="json"
    )

    assert response.status_code == 201, response.json()
    definition = Definition.objects.get(name="Draft")
    assert [c["label"] for c in response.json()["criteria"]] == ["Logins", "Legal"]
    change = DefinitionChange.objects.get()
    assert change.definition == definition and change.changed_by == manager
    assert rescores == []  # a draft rescores nothing


def test_updating_keeps_the_criteria_named_by_id_and_replaces_the_others(manager, live, rescores):
    client = token_client(manager)
    shown = client.get(f"/api/definitions/{live.pk}/").json()
    logins, legal = shown["criteria"]
    body = {**shown, "criteria": [logins, {**legal, "value": "legal, accounting"}, {**LOGINS, "label": "More"}]}

    response = client.put(f"/api/definitions/{live.pk}/", body, format="json")

    assert response.status_code == 200, response.json()
    after = {c.label: c for c in live.criteria.all()}
    assert after["Logins"].pk == logins["id"]
    assert after["Legal"].pk == legal["id"] and after["Legal"].value == "legal, accounting"
    assert after["More"].pk not in (logins["id"], legal["id"])
    assert DefinitionChange.objects.filter(definition=live).count() == 2
    assert rescores == ["definition “Live” changed"]


def test_criteria_without_ids_replace_the_old_ones(manager, live, rescores):
    response = token_client(manager).patch(
        f"/api/definitions/{live.pk}/", {"criteria": [{**LOGINS, "label": "Only"}]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert list(live.criteria.values_list("label", flat=True)) == ["Only"]
    assert len(rescores) == 1


def test_a_refused_update_is_a_400_naming_where_and_writes_nothing(manager, live, rescores):
    client = token_client(manager)
    ids = sorted(live.criteria.values_list("pk", flat=True))
    bad = {"name": "Renamed", "criteria": [{**LOGINS, "operator": "contains_words"}, LEGAL]}

    response = client.patch(f"/api/definitions/{live.pk}/", bad, format="json")

    assert response.status_code == 400
    assert "criteria[0].operator" in response.json()
    live.refresh_from_db()
    assert live.name == "Live"
    assert sorted(live.criteria.values_list("pk", flat=True)) == ids
    assert DefinitionChange.objects.filter(definition=live).count() == 1
    assert rescores == []


def test_an_id_from_another_definition_is_refused(manager, live, rescores):
    other = definitions.create_definition(name="Other", criteria=[LOGINS])
    theirs = Criterion.objects.get(definition=other)

    response = token_client(manager).patch(
        f"/api/definitions/{live.pk}/", {"criteria": [{**LOGINS, "id": theirs.pk}]}, format="json"
    )

    assert response.status_code == 400
    assert "criteria[0].id" in response.json()
    assert Criterion.objects.get(pk=theirs.pk).definition == other
    assert live.criteria.count() == 2


def test_activation_thresholds_without_milestones_are_refused_on_update(manager, live):
    response = token_client(manager).patch(f"/api/definitions/{live.pk}/", {"small_activation": 70}, format="json")
    assert response.status_code == 400
    assert "milestones" in response.json()


def test_the_live_definition_is_not_deleted_and_the_400_names_why(manager, live):
    response = token_client(manager).delete(f"/api/definitions/{live.pk}/")

    assert response.status_code == 400
    assert response.json()["is_active"] == [definitions.ACTIVE_NOT_DELETED]
    assert Definition.objects.filter(pk=live.pk).exists()


def test_a_draft_is_deleted_with_its_criteria_and_history(manager, live):
    draft = definitions.duplicate(live, changed_by=manager)

    assert token_client(manager).delete(f"/api/definitions/{draft.pk}/").status_code == 204

    assert not Definition.objects.filter(pk=draft.pk).exists()
    assert not Criterion.objects.filter(definition_id=draft.pk).exists()
    assert not DefinitionChange.objects.filter(definition_id=draft.pk).exists()
