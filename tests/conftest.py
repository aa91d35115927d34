"""Shared fixtures: users in each role, a small book of accounts, and the
services the suite runs against (PostgreSQL and Redis when configured)."""

import os

import pytest
from django.test import Client
from django.utils import timezone

from leads.models import Account, RoutingRule, Source, Team
from tests.factories import (
    AccountFactory,
    CriterionFactory,
    DefinitionFactory,
    EventFactory,
    ManagerFactory,
    PersonFactory,
    RepFactory,
)

# CI sets REQUIRE_SERVICES so that a missing service fails the run instead of skipping tests.
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    if REQUIRE_SERVICES and connection.vendor != "postgresql":
        raise pytest.UsageError("REQUIRE_SERVICES is set but DATABASE_URL is not PostgreSQL.")
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)
    # The tests that mostly wait (live workers and servers, browsers, clocks)
    # go first, so that pytest-xdist's other workers run the rest meanwhile.
    items.sort(key=lambda item: not ("slow" in item.keywords or "browser" in item.keywords))


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    """Pages render without collectstatic's manifest, which production builds."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def queue_breaker_closed():
    """Each test starts with Redis presumed reachable."""
    from scoring.jobs import breaker

    breaker.reset()
    yield
    breaker.reset()


@pytest.fixture(autouse=True)
def trigger_names_read_afresh():
    """Each test's definitions decide which events are hand-raises."""
    from scoring.scorecards import trigger_event_names

    trigger_event_names.forget()


@pytest.fixture(autouse=True)
def memory_cache(settings):
    """Throttle counts per test, in memory: never the Redis the queues use."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")


@pytest.fixture
def manager(db):
    return ManagerFactory(username="morgan", password="pw-manager-123")


@pytest.fixture
def rep(db):
    return RepFactory(
        user__username="ava",
        user__password="pw-rep-123",
        user__first_name="Ava",
        user__last_name="Reyes",
        countries=["US", "CA"],
        capacity=40,
    )


@pytest.fixture
def account(db):
    return AccountFactory(
        name="Harbor Legal LLP",
        domain="harborlegal.com",
        industry="legal",
        country="US",
        employee_count=45,
        external_id="acct_harbor",
    )


@pytest.fixture
def person(account):
    return PersonFactory(account=account, email="jo@harborlegal.com", name="Jo Park", title="Associate")


@pytest.fixture
def make_event(account):
    def make(name="login", *, at=None, person=None, target=None, **properties):
        return EventFactory(
            account=target or account,
            person=person,
            name=name,
            occurred_at=at or timezone.now(),
            properties=properties,
        )

    return make


@pytest.fixture
def book(db):
    """A small seeded book: reps, accounts, people, events and some outcomes."""
    from django.core.management import call_command

    call_command(
        "seed_demo",
        "--accounts", "40", "--events", "2000", "--reps", "4", "--seed", "7", "--days", "60",
        stdout=open(os.devnull, "w"),  # noqa: SIM115
    )
    return Account.objects.order_by("pk")


def test_redis_url() -> str | None:
    """The configured Redis, on a database of its own that tests may flush.

    TEST_REDIS_DB (15 unless set, so that two checkouts can test at once) is
    the first pytest-xdist worker's; each further worker takes the next one
    down, skipping REDIS_URL's own, the cache's and the benchmarks' (13, 14:
    the load-script test flushes 13), so two workers never flush each
    other's queues or anything the app keeps."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    own = url.rsplit("/", 1)[1] if url.count("/") >= 3 else ""
    reserved = {13, 14, int(os.environ.get("CACHE_REDIS_DB", "1")), int(own) if own.isdigit() else 0}
    free = [db for db in range(int(os.environ.get("TEST_REDIS_DB", "15")), -1, -1) if db not in reserved]
    if worker >= len(free):
        raise pytest.UsageError(
            f"xdist worker gw{worker} has no Redis database left: raise TEST_REDIS_DB or use fewer workers"
        )
    index = free[worker]
    return url.rsplit("/", 1)[0] + f"/{index}" if url.count("/") >= 3 else url.rstrip("/") + f"/{index}"


@pytest.fixture
def redis_queues(settings):
    """Real RQ queues on Redis, emptied before and after the test."""
    import redis

    url = test_redis_url()
    if url is None:
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES is set but REDIS_URL is not.")
        pytest.skip("needs Redis: set REDIS_URL")
    connection = redis.Redis.from_url(url)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"Redis at {url} does not answer")
    connection.flushdb()
    settings.RQ_QUEUES = {
        name: {**config, "URL": url, "ASYNC": True} for name, config in settings.RQ_QUEUES.items()
    }
    yield connection
    connection.flushdb()


@pytest.fixture
def inline_queues(settings):
    """RQ's synchronous mode, as with REDIS_URL unset."""
    settings.RQ_QUEUES = {
        name: {**config, "ASYNC": False} for name, config in settings.RQ_QUEUES.items()
    }


@pytest.fixture
def ten_logins(db):
    """An active definition: ten logins qualify an account at once."""
    definition = DefinitionFactory(name="Ten logins")
    CriterionFactory(definition=definition, label="Logged in 10 times")
    return definition


def run_concurrently(task, *, times: int) -> list:
    """Run `task` in `times` threads released at once; each closes its own
    database connection. Returns what each returned."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(times)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(task())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "var" / "screenshots"


@pytest.fixture
def browser(monkeypatch):
    """Headless Debian chromium driven by Playwright (never a downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES is set but {CHROMIUM} is missing (make browser installs it).")
        pytest.skip(f"needs {CHROMIUM} (make browser installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own
    # database calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()
        # Inside Playwright's event loop Django's connections are the loop
        # context's own: close them here, or one outlives the test database.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def rescores(monkeypatch):
    """The full rescores definition writes request, by reason (none runs)."""
    from scoring import definitions

    requested = []
    monkeypatch.setattr(definitions, "request_full_rescore", requested.append)
    return requested


@pytest.fixture
def definition():
    """An active definition: asking for sales qualifies at once; logging in
    (10 points) reaches the threshold; messages add 5; tiers at 50 and 500."""
    from scoring.definitions import create_definition

    return create_definition(
        name="Sales-ready",
        is_active=True,
        score_threshold=10,
        criteria=[
            dict(label="Asked for sales", role="trigger", event_name="contact_sales_clicked",
                 operator="gte", value="1"),
            dict(label="Logged in", points=10, event_name="login", operator="gte", value="1"),
            dict(label="Sent messages", points=5, event_name="message_sent", operator="gte", value="1"),
        ],
        mid_tier_min_employees=50,
        large_tier_min_employees=500,
    )


def openapi_document(*, prefix: str = "") -> dict:
    """The OpenAPI document as drf-spectacular generates it, with the paths under `prefix`."""
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
    document["paths"] = {path: item for path, item in document["paths"].items() if path.startswith(prefix)}
    return document


def operation_labels(document: dict) -> list[str]:
    """Each operation's label ("POST /v1/batch"): one fuzz test per operation,
    so that pytest-xdist spreads them over its workers."""
    import schemathesis

    return [result.ok().label for result in schemathesis.openapi.from_dict(document).get_all_operations()]


def fuzz_operation(document: dict, label: str, *, examples: int, **call_options) -> None:
    """Send generated input to one operation, served by the WSGI app, and
    require no 5xx. The same examples on every run, so CI is repeatable."""
    import schemathesis
    from django.core.wsgi import get_wsgi_application
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_dict(document)
    schema.app = get_wsgi_application()
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        case.call_and_validate(checks=[not_a_server_error], **call_options)

    call()


@pytest.fixture
def other_rep(db):
    """A second rep, covering anywhere."""
    return RepFactory(
        user__username="ben", user__password="pw-ben-123", user__first_name="Ben", user__last_name="Ode"
    )


@pytest.fixture
def manager_client(manager):
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def source(db):
    """The product's event source (write key generated)."""
    return Source.objects.create(name="Product", slug="product")


# Alerts: reps on teams with routing rules, and a manager with an email address.


@pytest.fixture
def make_rep(db):
    def make(username, *, capacity=10, email=None, **fields):
        return RepFactory(
            user__username=username,
            user__email=email if email is not None else f"{username}@sales.example",
            user__first_name=username.title(),
            capacity=capacity,
            **fields,
        )

    return make


@pytest.fixture
def make_team(db):
    def make(name, *reps, position=0, slack="", sla_hours=24, **matching):
        team = Team.objects.create(name=name, slack_webhook_url=slack, sla_hours=sla_hours)
        team.members.add(*reps)
        RoutingRule.objects.create(name=f"{name} rule", position=position, team=team, **matching)
        return team

    return make


@pytest.fixture
def sales_manager(db):
    return ManagerFactory(
        username="mia", email="mia@sales.example", first_name="Mia", last_name="Lund", password="pw-mia-123"
    )
