"""Managers define PQLs in the admin: bad settings are form errors naming the
problem and nothing is saved; a saved change is recorded and rescores."""

import pytest
from django.urls import reverse

from leads.models import Account, Event, LeadStatus
from scoring.models import Criterion, Definition, DefinitionChange
from scoring.selectors import explained_score

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:scoring_definition_add")


def definition_form(*, criteria=(), milestones=(), **fields):
    data = {
        "name": "Law firms",
        "description": "",
        "score_threshold": "10",
        "mid_tier_min_employees": "50",
        "large_tier_min_employees": "500",
        "small_activation": "",
        "mid_activation": "",
        "large_activation": "",
        "criteria-TOTAL_FORMS": str(len(criteria)),
        "criteria-INITIAL_FORMS": "0",
        "milestones-TOTAL_FORMS": str(len(milestones)),
        "milestones-INITIAL_FORMS": "0",
    }
    criterion_defaults = {
        "position": "0", "label": "x", "role": "scoring", "family": "intent", "points": "0",
        "kind": "event_count", "subject": "account", "field": "", "operator": "gte", "value": "1",
        "event_name": "", "property_key": "", "property_value": "", "window": "ever",
        "window_days": "", "window_unit": "days",
    }
    for index, criterion in enumerate(criteria):
        for key, value in {**criterion_defaults, **criterion}.items():
            data[f"criteria-{index}-{key}"] = value
    milestone_defaults = {
        "position": "0", "label": "step", "event_name": "", "property_key": "",
        "property_value": "", "window": "ever", "window_days": "", "window_unit": "days",
        "min_count": "1",
    }
    for index, milestone in enumerate(milestones):
        for key, value in {**milestone_defaults, **milestone}.items():
            data[f"milestones-{index}-{key}"] = value
    data.update(fields)
    return data


def errors_of(response):
    """All error texts on an admin change form, by field name."""
    found = {}
    form = response.context["adminform"].form
    found.update({name: " ".join(e) for name, e in form.errors.items()})
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for form in formset.forms:
            found.update({name: " ".join(e) for name, e in form.errors.items()})
        if formset.non_form_errors():
            found["__formset__"] = " ".join(formset.non_form_errors())
    return found


@pytest.fixture
def signed_in(client, manager):
    client.force_login(manager)
    return client


@pytest.mark.parametrize(
    ("criterion", "field", "words"),
    [
        ({"kind": "attribute", "field": "industry", "operator": "gt", "value": "5"}, "operator", "does not apply"),
        ({"kind": "attribute", "field": "employee_count", "operator": "gt", "value": "many"}, "value", "not a number"),
        ({"kind": "attribute", "field": "revenue", "operator": "eq", "value": "5"}, "field", "Unknown field 'revenue'"),
        ({"kind": "attribute", "field": "industry", "operator": "is_set", "value": "legal"}, "value", "takes no value"),
        ({"kind": "event_count", "event_name": "login", "window": "last_days", "window_days": "-3"}, "window_days", "at least one day"),
        ({"kind": "event_count", "event_name": "login", "window": "after_signup"}, "window_days", "needs a number of days"),
        ({"kind": "event_count", "event_name": ""}, "event_name", "Name the event"),
        ({"kind": "event_count", "event_name": "login", "operator": "contains_words"}, "operator", "Compare a count"),
        ({"kind": "event_count", "event_name": "login", "value": "ten"}, "value", "whole number"),
    ],
)
def test_a_criterion_that_does_not_fit_is_a_form_error_and_nothing_is_saved(
    signed_in, criterion, field, words
):
    response = signed_in.post(ADD_URL, definition_form(criteria=[criterion]))

    assert response.status_code == 200
    assert words in errors_of(response).get(field, ""), errors_of(response)
    assert not Definition.objects.exists() and not Criterion.objects.exists()


def test_activation_thresholds_without_milestones_are_refused(signed_in):
    response = signed_in.post(ADD_URL, definition_form(small_activation="75"))

    assert "no milestones" in errors_of(response).get("__formset__", "")
    assert not Definition.objects.exists()


def test_tier_bounds_must_grow(signed_in):
    response = signed_in.post(
        ADD_URL, definition_form(mid_tier_min_employees="500", large_tier_min_employees="100")
    )
    assert "large_tier_min_employees" in errors_of(response)


def test_a_manager_builds_case_one_in_the_admin_and_it_scores_every_account(
    inline_queues, signed_in, manager, account, person, make_event, django_capture_on_commit_callbacks
):
    make_event("hour_logged")
    data = definition_form(
        is_active="on",
        criteria=[
            {"label": "Legal roles", "role": "gate", "kind": "attribute", "subject": "any_person",
             "field": "title", "operator": "contains_words", "value": "associate, operations"},
            {"label": "Legal", "role": "gate", "kind": "attribute", "field": "industry",
             "operator": "eq", "value": "legal"},
            {"label": "Over 20 people", "role": "gate", "kind": "attribute",
             "field": "employee_count", "operator": "gt", "value": "20"},
            {"label": "First hour", "points": "10", "event_name": "hour_logged", "value": "1"},
        ],
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(ADD_URL, data)

    assert response.status_code == 302, errors_of(response)
    definition = Definition.objects.get()
    assert definition.is_active and definition.updated_by == manager
    change = DefinitionChange.objects.get()
    assert change.changed_by == manager
    assert [c["label"] for c in change.snapshot["criteria"]] == [
        "Legal roles", "Legal", "Over 20 people", "First hour",
    ]
    account.refresh_from_db()
    assert account.status == LeadStatus.PQL
    assert explained_score(account.score)["qualified_by"] == ["Score 10 reached the threshold of 10"]


def test_activating_a_definition_deactivates_the_others(signed_in):
    old = Definition.objects.create(name="Old", is_active=True)
    response = signed_in.post(ADD_URL, definition_form(name="New", is_active="on"))
    assert response.status_code == 302
    old.refresh_from_db()
    assert not old.is_active
    assert Definition.objects.get(name="New").is_active


def test_duplicate_as_draft_copies_criteria_and_stays_inactive(signed_in):
    live = Definition.objects.create(name="Live", is_active=True)
    Criterion.objects.create(definition=live, label="Logins", event_name="login", value="10")
    signed_in.post(
        reverse("admin:scoring_definition_changelist"),
        {"action": "duplicate_as_draft", "_selected_action": [live.pk]},
    )
    draft = Definition.objects.get(name="Live (draft)")
    assert not draft.is_active
    assert list(draft.criteria.values_list("label", flat=True)) == ["Logins"]


def test_score_pages_render_with_the_explanation(client, superuser, account, make_event):
    from scoring.rescoring import rescore_all

    definition = Definition.objects.create(name="Logins", is_active=True, score_threshold=1)
    Criterion.objects.create(definition=definition, label="Logged in", event_name="login", value="1", points=1)
    make_event("login")
    rescore_all()
    client.force_login(superuser)

    page = client.get(reverse("admin:scoring_accountscore_change", args=[account.pk]))
    assert page.status_code == 200
    assert "Logged in once" in page.content.decode()
    for name in ["accountscore", "definition", "scoringrun", "definitionchange"]:
        assert client.get(reverse(f"admin:scoring_{name}_changelist")).status_code == 200
    assert Event.objects.count() == 1 and Account.objects.count() == 1
