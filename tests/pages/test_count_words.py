"""One set of numbers: Team, Metrics and Lab call the same counts by the same
words (open leads, qualifying now) and show the same figures for them."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from leads.models import OPEN_LEAD_STATUSES, Account
from scoring.lab.runs import compute
from scoring.models import AccountScore, Definition, LabRun
from scoring.rescoring import rescore_all
from scoring.starter import ensure_starter_definition

pytestmark = pytest.mark.django_db


def counts_on(html: str) -> dict[str, str]:
    """Each count a page marks with data-count, and the word beside it."""
    return dict(re.findall(r'data-count="(\w+)">([\d,]+)<', html))


def test_team_metrics_and_lab_agree_on_the_counts_of_a_seeded_book(book, manager):
    client = Client()
    client.force_login(manager)
    definition = Definition.objects.active().first() or ensure_starter_definition()
    rescore_all(reason="test")
    run = LabRun.objects.create(
        definition=definition, status=LabRun.Status.DONE, requested_at=definition.updated_at,
        started_at=definition.updated_at, finished_at=definition.updated_at, result=compute(definition),
    )
    open_leads = Account.objects.filter(status__in=OPEN_LEAD_STATUSES).count()
    qualifying = AccountScore.objects.filter(qualifies=True).count()
    assert open_leads and qualifying

    pages = {
        "team": client.get(reverse("team")).content.decode(),
        "metrics": client.get(reverse("metrics")).content.decode(),
        "lab": client.get(reverse("lab-definition", args=[run.definition_id])).content.decode(),
    }
    for name, html in pages.items():
        assert counts_on(html) == {"open_leads": f"{open_leads:,}", "qualifying_now": f"{qualifying:,}"}, name
        assert ">Open leads</abbr>" in html and ">Qualifying now</abbr>" in html, name
        assert 'title="Accounts in PQL, assigned or contacted, now."' in html, name
    assert "Ever a PQL" in pages["metrics"]
    assert f">{run.result['what_if']['live_qualifying']:,}<" in pages["lab"]
    assert "Would stop qualifying" in pages["lab"] and "Would drop out" not in pages["lab"]
