"""A manager in a real browser: the metrics page with its charts, then the
criteria lab computing a draft. Screenshots go to var/screenshots/."""

import pytest
from django.core.management import call_command

from scoring.definitions import duplicate
from scoring.models import Criterion, Definition
from scoring.rescoring import rescore_all
from scoring.starter import ensure_starter_definition
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_book(manager, inline_queues):
    """A seeded book scored by the starter definition, and a draft with a lower bar."""
    import os

    call_command(
        "seed_demo", "--accounts", "300", "--events", "15000", "--reps", "4", "--seed", "11",
        "--days", "84", stdout=open(os.devnull, "w"),  # noqa: SIM115
    )
    ensure_starter_definition()
    rescore_all()
    draft = duplicate(Definition.objects.active().get())
    Definition.objects.filter(pk=draft.pk).update(name="Lower bar", score_threshold=40)
    Criterion.objects.create(
        definition=draft, position=30, label="Invited 3+ teammates", points=20,
        event_name="invite_sent", operator="gte", value="3",
    )
    manager.set_password("metrics-walkthrough-pw")
    manager.save()
    return Definition.objects.get(pk=draft.pk)


def sign_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("morgan")
    page.get_by_label("Password").fill("metrics-walkthrough-pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_a_manager_reads_the_metrics_and_computes_a_draft_in_the_lab(live_server, browser, demo_book):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server)

    page.get_by_role("link", name="Metrics").click()
    page.wait_for_url(f"{live_server.url}/metrics/")
    assert page.get_by_role("heading", name="Metrics").is_visible()
    assert page.locator("svg[role=img]").count() == 4
    assert page.locator("svg[role=img] rect.bar").count() > 12
    assert "pql rate" in page.inner_text(".kpi-grid").lower()
    page.screenshot(path=str(SCREENSHOTS / "metrics.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#table-by-tier + a.csv, .table-head:has(#table-by-tier) a.csv").first.click()
    assert download.value.suggested_filename.startswith("pql-by-tier-")

    page.get_by_role("link", name="Lab", exact=True).click()
    page.get_by_role("link", name="Lower bar").click()
    assert "Not computed yet." in page.inner_text("main")
    page.get_by_role("button", name="Compute").click()
    page.wait_for_load_state()

    main = page.inner_text("main")
    assert "Computed" in main and "Would newly qualify" in main and "Recall" in main
    assert page.locator("#table-events").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "lab.png"), full_page=True)


def test_the_metrics_page_fits_a_phone(live_server, browser, demo_book):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/metrics/")

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(SCREENSHOTS / "metrics-phone.png"), full_page=True)
