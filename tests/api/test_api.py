"""The REST API: the pages' rules of who sees what, filters that say what was
wrong, nothing writable that should not be, and a documented schema."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leads.models import Account, Event, LeadStatus, SalesRep, StatusChange
from leads.services import Assignment, assign_accounts
from scoring.models import Definition
from scoring.rescoring import rescore_all

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def book_of(rep, other_rep):
    """Qualified accounts: two for `rep`, one for `other_rep`, one unassigned."""
    made = {}
    for name, owner, events, employees, industry in [
        ("Harbor Legal", rep, ["contact_sales_clicked"], 40, "legal"),
        ("Northwind", rep, ["login"], 900, "software"),
        ("Theirs Inc", other_rep, ["login"], 10, "retail"),
        ("Loose Co", None, ["login"], 10, "retail"),
    ]:
        account = Account.objects.create(
            name=name, industry=industry, country="US", employee_count=employees, external_id=f"acct-{name[:4]}"
        )
        Event.objects.bulk_create(
            Event(account=account, name=event, occurred_at=NOW - timedelta(hours=2), properties={"k": "v"})
            for event in events
        )
        made[name] = (account, owner)
    rescore_all()
    for account, owner in made.values():
        if owner:
            assign_accounts(
                assignments={account.pk: Assignment(owner.pk, "test", NOW + timedelta(hours=24))},
                cause="routing",
            )
    return {name: account for name, (account, _) in made.items()}


@pytest.fixture
def qualified_book(rep, other_rep, definition):
    return book_of(rep, other_rep)


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def names(response):
    return sorted(item["name"] for item in response.json()["results"])


def test_a_token_is_issued_for_a_password_and_can_be_revoked(rep):
    rep.user.set_password("a-long-enough-pw")
    rep.user.save()
    client = APIClient()

    issued = client.post("/api/token/", {"username": "ava", "password": "a-long-enough-pw"})
    assert issued.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.json()['token']}")
    assert client.get("/api/accounts/").status_code == 200

    assert client.delete("/api/token/").status_code == 204
    assert client.get("/api/accounts/").status_code == 401


def test_wrong_passwords_get_no_token(rep):
    response = APIClient().post("/api/token/", {"username": "ava", "password": "nope"})
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_a_rep_token_sees_only_the_reps_accounts(qualified_book, rep):
    client = token_client(rep.user)
    assert names(client.get("/api/accounts/")) == ["Harbor Legal", "Northwind"]
    assert client.get(f"/api/accounts/{qualified_book['Theirs Inc'].pk}/").status_code == 404
    assert client.get(f"/api/accounts/{qualified_book['Loose Co'].pk}/").status_code == 404


def test_a_manager_sees_every_account(qualified_book, manager):
    assert len(names(token_client(manager).get("/api/accounts/"))) == 4


def test_signed_out_clients_get_401_and_outsiders_403(qualified_book, django_user_model):
    assert APIClient().get("/api/accounts/").status_code == 401
    outsider = django_user_model.objects.create_user("eve", "eve@example.com", "pw")
    assert token_client(outsider).get("/api/accounts/").status_code == 403


def test_account_detail_explains_the_score(qualified_book, rep):
    detail = token_client(rep.user).get(f"/api/accounts/{qualified_book['Harbor Legal'].pk}/").json()
    assert detail["score"]["triggered"] is True
    assert detail["explanation"]["qualified_by"] == ["At once: Asked for sales"]
    held = {c["label"]: c["observed"] for c in detail["explanation"]["criteria"]}
    assert held["Asked for sales"] == "Clicked contact sales once"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"tier": "large"}, ["Northwind"]),
        ({"industry": "LEGAL"}, ["Harbor Legal"]),
        ({"status": "assigned"}, ["Harbor Legal", "Northwind", "Theirs Inc"]),
        ({"unassigned": "true"}, ["Loose Co"]),
        ({"score_min": "10", "owner": "OWNER"}, ["Northwind"]),
        ({"search": "north"}, ["Northwind"]),
        ({"pql_after": (NOW - timedelta(days=1)).isoformat()}, ["Harbor Legal", "Loose Co", "Northwind", "Theirs Inc"]),
        ({"pql_before": (NOW - timedelta(days=1)).isoformat()}, []),
    ],
)
def test_accounts_filter_by_what_managers_ask(qualified_book, manager, rep, query, expected):
    query = {key: str(rep.pk) if value == "OWNER" else value for key, value in query.items()}
    assert names(token_client(manager).get("/api/accounts/", query)) == expected


def test_a_bad_filter_value_is_a_400_naming_it(qualified_book, manager):
    response = token_client(manager).get("/api/accounts/", {"score_min": "lots", "tier": "huge"})
    assert response.status_code == 400
    assert set(response.json()) == {"score_min", "tier"}


def test_ordering_by_score(qualified_book, manager):
    response = token_client(manager).get("/api/accounts/", {"ordering": "-score__score"})
    scores = [item["score"]["score"] for item in response.json()["results"]]
    assert scores == sorted(scores, reverse=True)


def test_reps_cannot_edit_accounts_and_managers_cannot_edit_status_or_owner(qualified_book, rep, manager):
    account = qualified_book["Harbor Legal"]
    assert token_client(rep.user).patch(f"/api/accounts/{account.pk}/", {"name": "Mine now"}).status_code == 403

    response = token_client(manager).patch(
        f"/api/accounts/{account.pk}/",
        {"name": "Harbor Legal LLP", "status": "converted", "owner": None, "score": {"score": 999}},
        format="json",
    )
    assert response.status_code == 200
    account.refresh_from_db()
    assert (account.name, account.status, account.owner) == ("Harbor Legal LLP", LeadStatus.ASSIGNED, rep)
    assert account.score.score == 0


def test_editing_an_account_with_a_bad_country_names_the_field(qualified_book, manager):
    response = token_client(manager).patch(f"/api/accounts/{qualified_book['Northwind'].pk}/", {"country": "USA"})
    assert response.status_code == 400
    assert "country" in response.json()


def test_a_rep_records_an_outcome_and_it_is_in_the_history(qualified_book, rep):
    account = qualified_book["Northwind"]
    response = token_client(rep.user).post(f"/api/accounts/{account.pk}/outcome/", {"outcome": "contacted"})
    assert response.status_code == 200
    assert response.json()["status"] == "contacted"
    assert response.json()["explanation"]["qualified_by"] == ["Score 10 reached the threshold of 10"]
    change = StatusChange.objects.filter(account=account).latest("changed_at")
    assert (change.to_status, change.changed_by) == ("contacted", rep.user)


def test_outcomes_that_do_not_fit_are_400s(qualified_book, rep):
    client = token_client(rep.user)
    url = f"/api/accounts/{qualified_book['Northwind'].pk}/outcome/"
    assert client.post(url, {"outcome": "disqualified"}).json() == {
        "reason": ["Say why the account is disqualified."]
    }
    assert client.post(url, {"outcome": "won"}).status_code == 400
    client.post(url, {"outcome": "converted"})
    refused = client.post(url, {"outcome": "contacted"})
    assert refused.status_code == 400 and "outcome" in refused.json()


def test_another_reps_account_cannot_be_acted_on(qualified_book, rep):
    response = token_client(rep.user).post(
        f"/api/accounts/{qualified_book['Theirs Inc'].pk}/outcome/", {"outcome": "contacted"}
    )
    assert response.status_code == 404


def test_managers_assign_accounts_and_a_full_rep_is_refused(qualified_book, manager, other_rep, rep):
    client = token_client(manager)
    url = f"/api/accounts/{qualified_book['Loose Co'].pk}/assign/"

    assert client.post(url, {"rep": other_rep.pk}, format="json").json()["owner"] == other_rep.pk
    SalesRep.objects.filter(pk=rep.pk).update(capacity=2)
    refused = client.post(f"/api/accounts/{qualified_book['Theirs Inc'].pk}/assign/", {"rep": rep.pk}, format="json")
    assert refused.status_code == 400 and "capacity" in refused.json()["rep"][0]
    assert token_client(rep.user).post(url, {"rep": rep.pk}, format="json").status_code == 403


def test_people_events_and_history_follow_the_same_visibility(qualified_book, rep, manager):
    theirs = qualified_book["Theirs Inc"]
    theirs.people.create(email="t@theirs.com", name="Tara")
    qualified_book["Northwind"].people.create(email="n@north.com", name="Nia")
    client = token_client(rep.user)

    assert [p["email"] for p in client.get("/api/people/").json()["results"]] == ["n@north.com"]
    event_accounts = {e["account"] for e in client.get("/api/events/").json()["results"]}
    assert event_accounts == {qualified_book["Harbor Legal"].pk, qualified_book["Northwind"].pk}
    history_accounts = {c["account"] for c in client.get("/api/status-changes/").json()["results"]}
    assert theirs.pk not in history_accounts
    assert len({c["account"] for c in token_client(manager).get("/api/status-changes/").json()["results"]}) == 4


def test_events_page_by_cursor_newest_first(qualified_book, manager):
    account = qualified_book["Loose Co"]
    Event.objects.bulk_create(
        Event(account=account, name="login", occurred_at=NOW - timedelta(minutes=i)) for i in range(250)
    )
    client = token_client(manager)

    first = client.get("/api/events/", {"account": account.pk}).json()
    second = client.get(first["next"]).json()

    times = [e["occurred_at"] for e in first["results"] + second["results"]]
    assert len(first["results"]) == 100 and "count" not in first
    assert times == sorted(times, reverse=True)
    assert not {e["id"] for e in first["results"]} & {e["id"] for e in second["results"]}


def test_events_filter_by_name_and_time(qualified_book, manager):
    client = token_client(manager)
    since = (NOW - timedelta(hours=3)).isoformat()
    results = client.get("/api/events/", {"name": "login", "occurred_after": since}).json()["results"]
    assert {e["name"] for e in results} == {"login"} and len(results) == 3
    assert client.get("/api/events/", {"occurred_after": "yesterday"}).status_code == 400


def test_the_queue_lists_a_reps_leads_in_order_with_reasons(qualified_book, rep, manager, other_rep):
    queue = token_client(rep.user).get("/api/queue/").json()["results"]
    assert [(q["name"], q["reasons"]) for q in queue] == [
        ("Harbor Legal", ["Asked for sales"]),
        ("Northwind", ["Logged in"]),
    ]
    theirs = token_client(manager).get("/api/queue/", {"rep": other_rep.pk}).json()["results"]
    assert [q["name"] for q in theirs] == ["Theirs Inc"]
    assert token_client(manager).get("/api/queue/").status_code == 404  # managers name a rep
    assert token_client(rep.user).get("/api/queue/", {"tier": "huge"}).status_code == 400


def test_managers_create_definitions_with_the_admins_validation(manager, inline_queues):
    client = token_client(manager)
    good = {
        "name": "Ten logins",
        "score_threshold": 10,
        "criteria": [{"label": "Logins", "role": "trigger", "event_name": "login", "operator": "gte", "value": "10"}],
        "milestones": [{"label": "Invited", "event_name": "invite_sent"}],
    }
    created = client.post("/api/definitions/", good, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["criteria"][0]["label"] == "Logins"
    assert created.json()["is_active"] is False

    bad = {**good, "name": "Bad", "criteria": [{**good["criteria"][0], "operator": "contains_words"}]}
    refused = client.post("/api/definitions/", bad, format="json")
    assert refused.status_code == 400
    assert "criteria[0].operator" in refused.json()
    no_milestones = {**good, "name": "No steps", "milestones": [], "small_activation": 75}
    assert "milestones" in client.post("/api/definitions/", no_milestones, format="json").json()
    assert Definition.objects.count() == 1


def test_activating_a_definition_by_api_rescores(manager, account, make_event, inline_queues, django_capture_on_commit_callbacks):
    for _ in range(10):
        make_event("login")
    client = token_client(manager)
    created = client.post(
        "/api/definitions/",
        {"name": "Ten logins", "score_threshold": 10, "criteria": [
            {"label": "Logins", "role": "trigger", "event_name": "login", "operator": "gte", "value": "10"}]},
        format="json",
    ).json()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/definitions/{created['id']}/activate/")

    assert response.json()["is_active"] is True
    account.refresh_from_db()
    assert account.status == LeadStatus.PQL
    assert client.delete(f"/api/definitions/{created['id']}/").status_code == 400


def test_reps_cannot_read_or_write_definitions(rep, definition):
    client = token_client(rep.user)
    assert client.get("/api/definitions/").status_code == 403
    assert client.post("/api/definitions/", {"name": "x"}, format="json").status_code == 403


def test_throttled_clients_get_429_with_retry_after(qualified_book, rep, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    # Patched on the class for this test only; monkeypatch puts the rates back.
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "60/minute"})
    client = token_client(rep.user)
    statuses = [client.get("/api/accounts/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert int(client.get("/api/accounts/")["Retry-After"]) > 0


def test_the_schema_and_offline_docs_are_served(manager):
    client = token_client(manager)
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/accounts/", "/api/events/", "/api/queue/", "/api/definitions/"} <= set(paths)
    account_params = {p["name"] for p in paths["/api/accounts/"]["get"]["parameters"]}
    assert {"tier", "score_min", "pql_after", "search", "ordering"} <= account_params
    assert {"400", "401", "403", "429"} <= set(paths["/api/accounts/"]["get"]["responses"])

    client.force_login(manager)
    docs = client.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in docs
    # Offline: every script and stylesheet comes from this server, none from a CDN.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs)
    assert assets
    assert not [url for url in assets if url.startswith(("http:", "https:", "//"))]


@pytest.mark.parametrize("size", [5, 60])
def test_account_lists_take_a_constant_number_of_queries(rep, other_rep, definition, manager, size, django_assert_num_queries):
    Account.objects.bulk_create(Account(name=f"Co {i}", employee_count=10) for i in range(size))
    rescore_all()
    client = token_client(manager)
    with django_assert_num_queries(4):
        assert client.get("/api/accounts/").status_code == 200


def test_any_valid_time_zone_offset_is_accepted_in_filters(qualified_book, manager):
    response = token_client(manager).get(
        "/api/status-changes/", {"changed_before": "2075-08-23T07:17:39-23:30"}
    )
    assert response.status_code == 200
    assert len(response.json()["results"]) == StatusChange.objects.count()


def test_ids_and_scores_out_of_range_are_400s(qualified_book, manager):
    client = token_client(manager)
    for query in [{"owner": "-8.5e22"}, {"owner": "1.5"}, {"score_min": str(2**40)}]:
        response = client.get("/api/accounts/", query)
        assert response.status_code == 400, query
        assert set(response.json()) == set(query)


def test_values_the_database_refuses_are_400s_not_500s(qualified_book, manager):
    response = token_client(manager).patch(
        f"/api/accounts/{qualified_book['Northwind'].pk}/", {"traits": {"note": "nul \u0000 here"}}, format="json"
    )
    # Refused while parsing (PostgreSQL stores no NUL), naming the field.
    assert response.status_code == 400
    assert response.json() == {"traits": ["traits.note: must not contain the NUL character (\\u0000)"]}


def test_managers_read_the_metrics_and_bad_periods_are_400s(qualified_book, manager, rep):
    client = token_client(manager)
    today = timezone.localdate()
    figures = client.get("/api/metrics/", {"start": str(today - timedelta(days=7)), "end": str(today)})
    assert figures.status_code == 200
    assert figures.json()["totals"]["signups"] == 4
    assert {"by_tier", "by_rep", "by_cohort_week", "funnel", "time_to_pql"} <= set(figures.json())
    assert client.get("/api/metrics/", {"start": "last week"}).status_code == 400
    assert token_client(rep.user).get("/api/metrics/").status_code == 403
