"""Bad input to the pages and the admin is a 4xx or a form error, never a 500."""

import pytest

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999"


@pytest.fixture
def manager_seeing_errors(client, manager):
    """A manager's client that gets a 500 as a response, as a browser would."""
    client.raise_request_exception = False
    client.force_login(manager)
    return client


@pytest.mark.parametrize("value", ["abc", HUGE, "-1", "0", "1.5", "\u0661", "1e3", " 1"])
def test_a_queue_for_a_rep_that_is_not_an_id_is_a_4xx(manager_seeing_errors, rep, value):
    response = manager_seeing_errors.get("/queue/", {"rep": value})
    assert response.status_code in (400, 404)


def test_a_manager_opens_a_reps_queue_by_id(manager_seeing_errors, rep):
    assert manager_seeing_errors.get("/queue/", {"rep": rep.pk}).status_code == 200


@pytest.mark.parametrize("value", ["abc", HUGE, "-1"])
def test_the_api_queue_for_a_rep_that_is_not_an_id_is_a_4xx_naming_it(manager, rep, value):
    from rest_framework.test import APIClient

    client = APIClient(raise_request_exception=False)
    client.force_authenticate(manager)
    response = client.get("/api/queue/", {"rep": value})
    assert response.status_code in (400, 404)
    assert "rep" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        f"account__id__exact={HUGE}",
        "account__id__exact=abc",
        f"person__id__exact={HUGE}",
        f"id__gte={HUGE}",
        "occurred_at__gte=abc",
    ],
)
def test_admin_event_list_filters_out_of_range_are_not_500s(superuser, client, account, make_event, query):
    make_event()
    client.raise_request_exception = False
    client.force_login(superuser)
    response = client.get(f"/admin/leads/event/?{query}")
    assert response.status_code in (200, 302, 400)


@pytest.mark.parametrize("path", ["/admin/leads/account/", "/admin/leads/person/", "/admin/leads/statuschange/"])
def test_admin_lists_with_huge_ids_are_not_500s(superuser, client, account, path):
    client.raise_request_exception = False
    client.force_login(superuser)
    response = client.get(f"{path}?id__exact={HUGE}")
    assert response.status_code in (200, 302, 400)


@pytest.mark.parametrize("traits", ["[1, 2]", '"text"', "12", '{"a": ' * 40 + "1" + "}" * 40])
def test_the_admin_refuses_traits_that_are_not_a_json_object(superuser, client, account, traits):
    from django.forms.models import model_to_dict

    client.force_login(superuser)
    data = {k: v for k, v in model_to_dict(account).items() if v is not None}
    data.update(
        traits=traits,
        signed_up_at_0=account.signed_up_at.strftime("%Y-%m-%d"),
        signed_up_at_1=account.signed_up_at.strftime("%H:%M:%S"),
        **{f"{prefix}-{key}": value for prefix in ("people", "status_changes")
           for key, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0))},
    )
    response = client.post(f"/admin/leads/account/{account.pk}/change/", data)
    assert response.status_code == 200
    assert "traits" in response.context["adminform"].form.errors


@pytest.mark.parametrize("path", ["/admin/", "/admin/leads/account/", "/admin/leads/event/", "/admin/scoring/definition/"])
def test_a_rep_given_staff_status_is_kept_out_of_the_admin(client, rep, account, path):
    rep.user.is_staff = True
    rep.user.save()
    account.owner = None
    account.save()
    client.force_login(rep.user)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert b"Harbor Legal" not in client.get(path, follow=True).content


def test_a_staff_user_in_no_sales_group_is_kept_out_of_the_admin(client, django_user_model):
    user = django_user_model.objects.create_user("staffer", password="x", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/").status_code == 302


def test_managers_and_superusers_use_the_admin(client, manager, superuser):
    for user in (manager, superuser):
        client.force_login(user)
        assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1899-12-31"])
def test_a_metrics_period_at_the_end_of_the_calendar_is_refused_not_a_500(manager_client, manager, day):
    from rest_framework.test import APIClient

    assert manager_client.get("/metrics/", {"start": day, "end": day}).status_code < 500
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(manager)
    response = api.get("/api/metrics/", {"start": day, "end": day})
    assert response.status_code == 400
    assert "start" in response.json()
