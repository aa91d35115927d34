"""The definition builder in the admin: the definition read back as a
sentence with its warnings, event names offered from the data, a live
preview of what it would qualify, and a change page that stays fast."""

import pytest
from django.urls import reverse

from leads.models import Account
from scoring.definitions import create_definition
from scoring.models import Definition
from tests.admin.test_scoring_admin import definition_form

pytestmark = pytest.mark.django_db

PREVIEW_URL = reverse("admin:scoring_definition_preview")
# The change page: the session, its user and whether a manager, the user's
# and its groups' permissions, the definition (with who changed it last), its
# criteria and milestones (the event names and property keys seen are cached).
QUERIES = 8


@pytest.fixture
def signed_in(client, manager):
    client.force_login(manager)
    return client


def change_url(definition):
    return reverse("admin:scoring_definition_change", args=[definition.pk])


def test_the_change_page_reads_the_definition_back_and_warns(signed_in, make_event):
    make_event("login")
    definition = create_definition(
        name="Too high",
        score_threshold=50,
        criteria=[
            dict(label="Logged in", points=20, event_name="login", operator="gte", value="1"),
            dict(label="Made a template", points=10, event_name="template_made", operator="gte", value="1"),
        ],
    )
    page = signed_in.get(change_url(definition)).content.decode()

    assert "An account is a PQL when its score reaches 50." in page
    assert "at most 30 points" in page and "out of reach" in page
    assert "no event named “template_made” has ever been received" in page
    assert '<option value="login">login · 1 seen</option>' in page
    assert reverse("lab-definition", args=[definition.pk]) in page
    # Who changed it comes after the criteria, not before them.
    assert page.index("criteria-group") < page.index("Last changed")


def test_the_preview_counts_what_a_draft_would_qualify_before_it_is_saved(signed_in, account, make_event):
    make_event("invite_sent")
    Account.objects.create(name="Quiet", employee_count=5)
    data = definition_form(
        name="Draft",
        criteria=[{"label": "Invited", "role": "trigger", "event_name": "invite_sent", "count": "1",
                   "count_operator": "gte"}],
    )
    data["counts"] = "1"

    answer = signed_in.post(PREVIEW_URL, data).json()

    assert answer["sentence"] == "An account is a PQL at once when “Invited” happens."
    assert answer["preview"]["draft_qualifying"] == 1
    assert answer["preview"]["newly"] == 1 and answer["preview"]["dropping"] == 0
    assert not Definition.objects.exists()


def test_the_preview_names_what_is_not_valid_yet(signed_in):
    data = definition_form(criteria=[{"label": "Bad", "kind": "attribute", "field": "revenue", "value": "1"}])
    answer = signed_in.post(PREVIEW_URL, data).json()
    assert any("Unknown field 'revenue'" in error for error in answer["errors"])


def test_a_count_is_asked_for_apart_from_an_attribute_value(signed_in, inline_queues):
    data = definition_form(
        criteria=[{"label": "Many invites", "role": "trigger", "event_name": "invite_sent",
                   "count_operator": "gt", "count": "10", "value": "", "operator": "eq",
                   "window": "last_days", "window_days": "36", "window_unit": "hours"}],
    )
    response = signed_in.post(reverse("admin:scoring_definition_add"), data)
    assert response.status_code == 302
    criterion = Definition.objects.get().criteria.get()
    assert (criterion.operator, criterion.value, criterion.window_days, criterion.window_unit) == (
        "gt", "10", 36, "hours",
    )


def test_a_gates_only_definition_built_in_the_admin_qualifies_on_its_gates(
    signed_in, inline_queues, account, person, make_event, django_capture_on_commit_callbacks
):
    make_event("hour_logged")
    data = definition_form(
        is_active="on",
        score_threshold="50",
        criteria=[
            {"label": "Legal roles", "role": "gate", "kind": "attribute", "subject": "any_person",
             "field": "title", "operator": "contains_words", "value": "associate, operations, administrative"},
            {"label": "Legal", "role": "gate", "kind": "attribute", "field": "industry",
             "operator": "eq", "value": "legal"},
            {"label": "More than 20 employees", "role": "gate", "kind": "attribute",
             "field": "employee_count", "operator": "gt", "value": "20"},
            {"label": "Logged a first hour", "role": "gate", "event_name": "hour_logged",
             "count_operator": "gte", "count": "1"},
            {"label": "Invited more than 10", "role": "trigger", "event_name": "invite_sent",
             "count_operator": "gt", "count": "10"},
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("admin:scoring_definition_add"), data)
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.score.qualifies
    assert account.status == "pql"


def test_the_change_page_with_20_criteria_and_8_milestones_keeps_its_query_count(
    signed_in, manager, make_event, django_assert_num_queries
):
    """Its speed is measured in bench/pages.py (the definition page); here,
    that it takes the same queries whatever the number of criteria."""
    for name in ["login", "invite_sent", "hour_logged"]:
        make_event(name)
    definition = create_definition(
        name="Big",
        changed_by=manager,
        score_threshold=40,
        criteria=[
            dict(label=f"Criterion {n}", points=5, event_name="login", operator="gte", value=str(n))
            if n % 2
            else dict(label=f"Criterion {n}", points=5, kind="attribute", field="industry",
                      operator="in", value="legal, retail")
            for n in range(20)
        ],
        milestones=[dict(label=f"Step {n}", event_name="invite_sent", min_count=n + 1) for n in range(8)],
    )
    url = change_url(definition)
    signed_in.get(url)  # the names seen are read once, then cached
    with django_assert_num_queries(QUERIES):
        response = signed_in.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="Criterion 19"' in page and 'value="Step 7"' in page
    assert "by morgan" in page
