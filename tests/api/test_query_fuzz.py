"""Hypothesis sends every query parameter of the API's lists, the reps' and
managers' pages and the admin's lists what careless and hostile clients send:
huge and negative numbers, floats, times across the whole range Python can
parse, garbage cursors, and bytes of every unicode category (lone surrogates
and NUL included, percent-encoded as a client would). Nothing is a 5xx."""

import base64
import os
from urllib.parse import quote_from_bytes

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25")) * 2

# Each list and the query parameters it reads.
API_LISTS = {
    "/api/accounts/": [
        "status", "owner", "unassigned", "tier", "industry", "country", "plan", "score_min", "score_max",
        "qualifies", "signed_up_after", "signed_up_before", "pql_after", "pql_before", "search",
        "ordering", "page", "page_size",
    ],
    "/api/people/": ["account", "email", "external_id", "search", "ordering", "page"],
    "/api/events/": ["account", "person", "name", "source", "occurred_after", "occurred_before", "cursor",
                     "page_size", "ordering"],
    "/api/status-changes/": ["account", "to_status", "cause", "owner", "changed_after", "changed_before",
                             "ordering", "page"],
    "/api/definitions/": ["is_active", "search", "ordering", "page"],
    "/api/queue/": ["rep", "status", "tier", "page"],
    "/api/metrics/": ["start", "end"],
}
PAGES = {
    "/queue/": ["rep", "status", "tier", "page"],
    "/team/": ["tier", "page"],
    "/metrics/": ["start", "end"],
    "/lab/": [],
    "/admin/leads/account/": ["q", "o", "p", "status__exact", "owner__id__exact", "signed_up_at__gte",
                              "signed_up_at__year", "country", "id__exact"],
    "/admin/leads/event/": ["q", "o", "p", "account__id__exact", "person__id__exact", "occurred_at__year",
                            "occurred_at__month", "occurred_at__day"],
    "/admin/leads/statuschange/": ["q", "to_status__exact", "changed_at__gte", "o"],
}
DETAILS = ["/api/accounts/{}/", "/api/people/{}/", "/api/events/{}/", "/api/definitions/{}/", "/accounts/{}/"]

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 2**31, 2**63, 2**63 - 1, -(2**63) - 1, 10**400]),
).map(str)
floats = st.floats(allow_nan=True, allow_infinity=True).map(repr)
times = st.datetimes(timezones=st.sampled_from([None]) | st.timezones()).map(lambda t: t.isoformat())
offsets = st.sampled_from(
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-05:00", "9999-12-31", "0000-01-01", "2026-02-30",
     "2026-01-01T25:00:00Z", "+275760-09-13"]
)
texts = st.text(st.characters(codec=None), max_size=40)
cursors = st.one_of(
    st.binary(max_size=40).map(lambda raw: base64.b64encode(raw).decode()),
    st.text(max_size=30).map(lambda text: base64.b64encode(f"p={text}&o=1".encode("utf-8", "surrogatepass")).decode()),
)
words = st.sampled_from(["true", "false", "maybe", "2", "", "pql", "-name", "name,", "score__score", "__all__"])
values = st.one_of(numbers, floats, times, offsets, texts, cursors, words)


def encoded(value: str) -> str:
    """Percent-encoded UTF-8, lone surrogates kept as their bytes, as a raw client sends them."""
    return quote_from_bytes(value.encode("utf-8", "surrogatepass"), safe="")


def query(params: dict[str, str]) -> str:
    return "&".join(f"{encoded(name)}={encoded(value)}" for name, value in params.items())


@st.composite
def requests(draw, lists: dict[str, list[str]]):
    path = draw(st.sampled_from(sorted(lists)))
    names = lists[path] + ["unknown"]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    return f"{path}?{query({name: draw(values) for name in chosen})}"


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def answer(client, url: str) -> int:
    # A savepoint per request: an error the app catches after the database
    # refused a statement must not poison the next example's queries.
    with transaction.atomic():
        status = client.get(url).status_code
    assert status < 500, url
    return status


@pytest.fixture
def api(manager, account, make_event, rep):
    make_event()
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(manager)
    return client


@pytest.fixture
def pages(client, manager, account, make_event, rep):
    make_event()
    client.raise_request_exception = False
    client.force_login(manager)
    return client


def test_no_query_makes_an_api_list_fail(api):
    @FUZZ
    @given(url=requests(API_LISTS))
    def call(url):
        answer(api, url)

    call()


def test_no_query_makes_a_page_or_an_admin_list_fail(pages, superuser):
    pages.force_login(superuser)

    @FUZZ
    @given(url=requests(PAGES))
    def call(url):
        answer(pages, url)

    call()


def test_no_id_makes_a_detail_fail(api, pages):
    @FUZZ
    @given(template=st.sampled_from(DETAILS), key=st.one_of(numbers, texts.filter(lambda t: "/" not in t)))
    def call(template, key):
        url = template.format(encoded(key))
        answer(pages if not url.startswith("/api/") else api, url)

    call()
