"""The admin saves a whole definition through scoring.definitions: criteria
added, changed and deleted on the change page in one save, unchanged criteria
keeping their ids, one history row and one rescore request per save, and a
refusal from the service shown as a form error."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from scoring import definitions
from scoring.definitions import create_definition
from scoring.models import Criterion, Definition, DefinitionChange
from tests.admin.test_scoring_admin import definition_form, errors_of

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:scoring_definition_add")


@pytest.fixture
def signed_in(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def live(db):
    return create_definition(
        name="Live",
        is_active=True,
        score_threshold=10,
        small_activation=50,
        criteria=[
            dict(label="Logged in", points=10, event_name="login", operator="gte", value="1"),
            dict(label="Legal", role="gate", kind="attribute", field="industry", operator="eq", value="legal"),
            dict(label="Invited", points=5, event_name="invite_sent", operator="gte", value="3"),
        ],
        milestones=[dict(label="Invited a teammate", event_name="invite_sent")],
    )


def change_url(definition):
    return reverse("admin:scoring_definition_change", args=[definition.pk])


def posted_back(response) -> dict:
    """What the change page posts when saved as it was shown."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for field in form:
            value = field.value()
            if value is True:
                data[field.html_name] = "on"
            elif value is not False and value is not None:
                data[field.html_name] = str(value)
    return data


def test_one_save_adds_changes_and_deletes_criteria_keeping_the_unchanged_ones(
    signed_in, live, rescores, manager
):
    before = {c.label: c.pk for c in live.criteria.all()}
    data = posted_back(signed_in.get(change_url(live)))
    data["criteria-1-value"] = "legal, accounting"  # "Legal" changes
    data["criteria-2-DELETE"] = "on"  # "Invited" goes
    data["criteria-TOTAL_FORMS"] = "4"
    data.update({
        "criteria-3-label": "Asked for sales", "criteria-3-position": "3", "criteria-3-role": "trigger",
        "criteria-3-points": "0", "criteria-3-kind": "event_count", "criteria-3-family": "intent",
        "criteria-3-subject": "account", "criteria-3-operator": "gte", "criteria-3-event_name": "contact_sales",
        "criteria-3-count_operator": "gte", "criteria-3-count": "1", "criteria-3-window": "ever",
        "criteria-3-window_unit": "days", "criteria-3-definition": str(live.pk),
    })

    response = signed_in.post(change_url(live), data)

    assert response.status_code == 302, errors_of(response)
    after = {c.label: c for c in live.criteria.all()}
    assert set(after) == {"Logged in", "Legal", "Asked for sales"}
    assert after["Logged in"].pk == before["Logged in"]
    assert after["Legal"].pk == before["Legal"] and after["Legal"].value == "legal, accounting"
    assert after["Asked for sales"].pk not in before.values()
    assert after["Asked for sales"].role == "trigger" and after["Asked for sales"].value == "1"
    assert DefinitionChange.objects.filter(definition=live).count() == 2  # created, then this save
    change = DefinitionChange.objects.filter(definition=live).latest("pk")
    assert change.changed_by == manager
    assert [c["label"] for c in change.snapshot["criteria"]] == ["Logged in", "Legal", "Asked for sales"]
    assert rescores == ["definition “Live” changed"]
    logged = LogEntry.objects.get(object_id=str(live.pk)).get_change_message()
    assert "Added criterion “Asked for sales”" in logged
    assert "Changed Value for criterion “Legal”" in logged
    assert "Deleted criterion “Invited”" in logged


def test_saving_the_page_unchanged_keeps_every_id_and_records_once(signed_in, live, rescores):
    ids = sorted(live.criteria.values_list("pk", flat=True))
    milestone_ids = sorted(live.milestones.values_list("pk", flat=True))
    rescores.clear()

    response = signed_in.post(change_url(live), posted_back(signed_in.get(change_url(live))))

    assert response.status_code == 302, errors_of(response)
    assert sorted(live.criteria.values_list("pk", flat=True)) == ids
    assert sorted(live.milestones.values_list("pk", flat=True)) == milestone_ids
    assert DefinitionChange.objects.filter(definition=live).count() == 2
    assert len(rescores) == 1


def test_a_bad_criterion_on_the_change_page_is_a_form_error_and_nothing_changes(signed_in, live, rescores):
    rescores.clear()
    data = posted_back(signed_in.get(change_url(live)))
    data["criteria-1-operator"] = "gt"  # "greater than" on industry
    data["criteria-0-label"] = "Renamed"

    response = signed_in.post(change_url(live), data)

    assert response.status_code == 200
    assert "does not apply" in errors_of(response).get("operator", "")
    assert not Criterion.objects.filter(label="Renamed").exists()
    assert DefinitionChange.objects.filter(definition=live).count() == 1
    assert rescores == []


def test_a_refusal_from_the_service_shows_on_the_form_not_as_an_error_page(signed_in, live, rescores):
    # Deleting the only milestone while the small tier's activation threshold
    # is set: each form is valid alone, the whole definition is not.
    rescores.clear()
    data = posted_back(signed_in.get(change_url(live)))
    data["milestones-0-DELETE"] = "on"
    data["name"] = "Renamed"

    response = signed_in.post(change_url(live), data)

    assert response.status_code == 200
    errors = errors_of(response)
    assert "no milestones" in errors.get("__formset__", ""), errors
    assert "Nothing was saved" in " ".join(response.context["adminform"].form.non_field_errors())
    live.refresh_from_db()
    assert live.name == "Live" and live.milestones.count() == 1
    assert DefinitionChange.objects.filter(definition=live).count() == 1
    assert rescores == []


def test_a_refused_criterion_is_shown_on_the_form_it_came_from(signed_in, live, monkeypatch):
    """Whatever the service refuses lands on the form that row came from."""
    real_check = definitions.check

    def refuse_the_second(definition, *, criteria=None, milestones=None):
        if criteria and len(criteria) > 1:
            raise definitions.DefinitionRefused(
                [definitions.Problem("criteria", 1, "label", ["Choose another label."])]
            )
        return real_check(definition, criteria=criteria, milestones=milestones)

    monkeypatch.setattr(definitions, "check", refuse_the_second)
    response = signed_in.post(change_url(live), posted_back(signed_in.get(change_url(live))))

    assert response.status_code == 200
    criteria = next(i.formset for i in response.context["inline_admin_formsets"] if i.formset.prefix == "criteria")
    assert criteria.forms[1].errors == {"label": ["Choose another label."]}
    assert not criteria.forms[0].errors


def test_the_add_page_saves_the_definition_with_its_criteria_once(signed_in, rescores, manager):
    data = definition_form(
        name="New", is_active="on",
        criteria=[{"label": "Logged in", "event_name": "login", "count_operator": "gte", "count": "2"},
                  {"label": "Legal", "role": "gate", "kind": "attribute", "field": "industry",
                   "operator": "eq", "value": "legal"}],
        milestones=[{"label": "Invited", "event_name": "invite_sent"}],
    )

    response = signed_in.post(ADD_URL, data)

    assert response.status_code == 302, errors_of(response)
    definition = Definition.objects.get(name="New")
    assert definition.is_active and definition.updated_by == manager
    assert list(definition.criteria.values_list("label", "value")) == [("Logged in", "2"), ("Legal", "legal")]
    assert definition.milestones.count() == 1
    assert DefinitionChange.objects.get().definition == definition
    assert rescores == ["definition “New” changed"]


def test_a_draft_saved_in_the_admin_requests_no_rescore(signed_in, rescores):
    response = signed_in.post(ADD_URL, definition_form(name="Draft", criteria=[{"label": "Logged in", "event_name": "login"}]))

    assert response.status_code == 302, errors_of(response)
    assert DefinitionChange.objects.count() == 1
    assert rescores == []


def test_a_manager_deletes_a_draft_with_its_history_from_its_page(manager_client):
    live = definitions.create_definition(name="Live", is_active=True, score_threshold=10, criteria=[
        dict(label="Logins", role="trigger", event_name="login", operator="gte", value="10"),
    ])
    draft = definitions.duplicate(live)
    url = reverse("admin:scoring_definition_delete", args=[draft.pk])

    confirm = manager_client.get(url)
    assert confirm.status_code == 200 and not confirm.context["perms_lacking"]
    assert manager_client.post(url, {"post": "yes"}).status_code == 302

    assert not Definition.objects.filter(pk=draft.pk).exists()
    assert not DefinitionChange.objects.filter(definition_id=draft.pk).exists()


def test_the_live_definition_offers_no_delete(manager_client):
    live = definitions.create_definition(name="Live", is_active=True, score_threshold=10, criteria=[
        dict(label="Logins", role="trigger", event_name="login", operator="gte", value="10"),
    ])

    assert manager_client.get(reverse("admin:scoring_definition_delete", args=[live.pk])).status_code == 403
    listing = manager_client.get(reverse("admin:scoring_definition_changelist"))
    assert "delete_selected" not in [name for name, _ in listing.context["action_form"].fields["action"].choices]
