"""The reps' and managers' pages: thin views over selectors and services."""

from functools import cached_property

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from alerts.forms import ManagerAlertsForm
from alerts.services import update_manager_alerts
from scoring.selectors import explained_scores

from . import selectors
from .access import managers_only, roles_for, sales_people_only, visible_accounts
from .forms import AssignForm, NoteForm, OutcomeForm, QueueFilterForm, RepSettingsForm
from .models import OPEN_LEAD_STATUSES, SalesRep
from .routing import reassign_by_hand
from .services import OutcomeRefused, add_note, mark_queue_seen, record_outcome, update_rep_settings

QUEUE_PAGE_SIZE = 25
TIMELINE_PAGE_SIZE = 50


def contacts_for(accounts, words):
    """The person to contact in each account, from what its explanation says."""
    return selectors.contacts_of(
        accounts,
        hand_raise_events={pk: found.get("hand_raise_events", []) for pk, found in words.items()},
        matched_people={pk: found.get("matched_people", []) for pk, found in words.items()},
    )


class CountedPaginator(Paginator):
    """Pages of a list whose length is counted by a cheaper query than the
    list's own (the unassigned queue: on the account index, without the score join)."""

    def __init__(self, object_list, per_page, *, count: int, **options):
        super().__init__(object_list, per_page, **options)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count


def queue_rows(page, *, seen_at=None, marking_new: bool = False):
    """Each account of a page with its reasons, contact and SLA (a few
    queries per page), and whether it is new since `seen_at` when `marking_new`."""
    accounts = list(page)
    scores = [account.score for account in accounts if hasattr(account, "score")]
    words = explained_scores(scores)
    contacts = contacts_for(accounts, words)
    now = timezone.now()
    return [
        {
            "account": account,
            "score": getattr(account, "score", None),
            "words": words.get(account.pk, {}),
            "reasons": words.get(account.pk, {}).get("reasons", [])[:3],
            "contact": contacts.get(account.pk),
            "sla": selectors.sla_of(account, now=now),
            "new": marking_new and selectors.is_new(account, seen_at=seen_at),
        }
        for account in accounts
    ]


@require_safe
@sales_people_only
def home(request):
    roles = roles_for(request)
    return redirect("queue" if roles.rep or not roles.is_manager else "team")


@require_safe
@sales_people_only
def queue(request):
    rep = roles_for(request).rep
    filters = QueueFilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    if "rep" in filters.errors:
        return HttpResponseBadRequest(f"rep: {filters.errors['rep'][0]}", content_type="text/plain")
    if roles_for(request).is_manager and chosen.get("rep"):
        rep = get_object_or_404(SalesRep.objects.select_related("user"), pk=chosen["rep"])
    if rep is None:
        return redirect("team")
    accounts = selectors.queue_for(rep, status=chosen.get("status"), tier=chosen.get("tier"))
    page = Paginator(accounts, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    own_queue = rep == roles_for(request).rep
    seen_at = rep.queue_seen_at
    rows = queue_rows(page, seen_at=seen_at, marking_new=own_queue)
    new_count = 0
    if own_queue:
        # What is new is marked on this visit, then counts as seen.
        new_count = selectors.new_since_seen(rep, seen_at=seen_at).count()
        rep.queue_seen_at = timezone.now()
        mark_queue_seen(rep_id=rep.pk, at=rep.queue_seen_at)
        request.queue_just_seen = True
    return render(
        request,
        "leads/queue.html",
        {
            "rep": rep,
            "own_queue": own_queue,
            "filters": filters,
            "page": page,
            "rows": rows,
            "new_count": new_count,
            "querystring": querystring_without_page(request),
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@sales_people_only
def rep_settings(request):
    """A sales person's own settings: a rep's availability and how they hear
    of new leads; a manager's choice for unowned and overdue leads (at once
    or in a daily digest). Someone who is both gets both."""
    roles = roles_for(request)
    rep = roles.rep
    data = request.POST if request.method == "POST" else None
    form = RepSettingsForm.for_rep(rep, data) if rep else None
    manager_form = ManagerAlertsForm.for_user(request.user, data, prefix="manager") if roles.is_manager else None
    if form is None and manager_form is None:
        raise Http404("Settings are for sales reps and managers.")
    context = {"rep": rep, "form": form, "manager_form": manager_form, "digest_hour": settings.ALERTS_DIGEST_HOUR}
    if request.method == "POST":
        if all(f.is_valid() for f in (form, manager_form) if f is not None):
            with transaction.atomic():
                if form is not None and rep is not None:
                    update_rep_settings(rep_id=rep.pk, **form.settings())
                if manager_form is not None:
                    update_manager_alerts(user_id=request.user.pk, **manager_form.cleaned_data)
            messages.success(request, "Settings saved.")
            return redirect("settings")
        return render(request, "leads/settings.html", context, status=400)
    return render(
        request, "leads/settings.html", {**context, "away_now": rep.is_away(timezone.now()) if rep else False}
    )


@require_safe
@sales_people_only
def account_detail(request, pk):
    account = get_object_or_404(
        visible_accounts(roles_for(request)).select_related("score", "owner__user"), pk=pk
    )
    return render(request, "leads/account.html", account_context(request, account))


def account_context(request, account, *, outcome_form=None, note_form=None):
    score = getattr(account, "score", None)
    events = Paginator(selectors.timeline(account), TIMELINE_PAGE_SIZE).get_page(
        request.GET.get("events")
    )
    explanation = explained_scores([score]).get(account.pk) if score else None
    words = {account.pk: explanation} if explanation else {}
    return {
        "account": account,
        "score": score,
        "explanation": explanation,
        "contact": contacts_for([account], words).get(account.pk),
        "sla": selectors.sla_of(account, now=timezone.now()),
        "people": account.people.order_by("name", "email"),
        "events": events,
        "history": selectors.history(account),
        "notes": selectors.notes(account),
        "outcome_form": outcome_form or OutcomeForm(),
        "note_form": note_form or NoteForm(),
        "can_act": account.status in OPEN_LEAD_STATUSES,
    }


@require_POST
@sales_people_only
def account_outcome(request, pk):
    account = get_object_or_404(visible_accounts(roles_for(request)).select_related("score", "owner__user"), pk=pk)
    form = OutcomeForm(request.POST)
    if form.is_valid():
        try:
            record_outcome(
                account_id=account.pk,
                outcome=form.cleaned_data["outcome"],
                changed_by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except OutcomeRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, f"{account.name} marked {form.cleaned_data['outcome']}.")
            return redirect("account", pk=account.pk)
    return render(
        request, "leads/account.html", account_context(request, account, outcome_form=form), status=400
    )


@require_POST
@sales_people_only
def account_note(request, pk):
    account = get_object_or_404(visible_accounts(roles_for(request)).select_related("score", "owner__user"), pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        add_note(account_id=account.pk, changed_by=request.user, body=form.cleaned_data["body"])
        messages.success(request, "Note added.")
        return redirect("account", pk=account.pk)
    return render(
        request, "leads/account.html", account_context(request, account, note_form=form), status=400
    )


@require_safe
@managers_only
def team(request):
    filters = QueueFilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    unassigned = selectors.unassigned_queue(tier=chosen.get("tier"))
    paginator = CountedPaginator(
        unassigned, QUEUE_PAGE_SIZE, count=selectors.unassigned_count(tier=chosen.get("tier"))
    )
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "leads/team.html",
        {
            "figures": selectors.team_figures(),
            "counts": selectors.book_counts(),
            "page": page,
            "rows": queue_rows(page),
            "assign_form": AssignForm(),
            "filters": filters,
            "sla_hours": settings.DEFAULT_SLA_HOURS,
            "querystring": querystring_without_page(request),
        },
    )


@require_POST
@managers_only
def team_assign(request, pk):
    account = get_object_or_404(visible_accounts(roles_for(request)), pk=pk)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an active rep to assign the account to.")
        return redirect("team")
    try:
        reassign_by_hand([account.pk], form.cleaned_data["rep"], changed_by=request.user)
    except ValueError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{account.name} assigned to {form.cleaned_data['rep']}.")
    return redirect(request.POST.get("next") or "team")


def querystring_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
