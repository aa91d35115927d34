"""The managers' metrics page and criteria lab: thin views over scoring.metrics
and scoring.lab. Managers only: a rep gets 404, anyone else 403."""

from django.conf import settings
from django.contrib import messages
from django.db import DatabaseError, connection
from django.db.models import Count, Max, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe
from redis.exceptions import RedisError

from leads.access import managers_only
from leads.selectors import book_counts

from . import definitions, jobs
from .forms import period_form
from .lab.runs import last_result, request_run
from .lab.tables import lab_tables
from .metrics import build_report, tables
from .metrics.charts import page_charts
from .metrics.report import as_data
from .metrics.tables import kpis
from .models import Definition, LabRun
from .scorecards import scorecard_for
from .sentences import sentence


def metrics_data(request):
    form = period_form(request.GET)
    period = form.period()
    return form, period, as_data(build_report(period))


def csv_response(table, filename: str) -> HttpResponse:
    response = HttpResponse(table.csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_safe
@managers_only
def metrics(request):
    form, period, data = metrics_data(request)
    return render(
        request,
        "scoring/metrics.html",
        {
            "form": form,
            "period": period,
            "data": data,
            "kpis": kpis(data),
            "counts": book_counts(),
            "table_list": [table for name, table in tables(data).items() if name != "summary"],
            "charts": page_charts(data),
            "sla_hours": settings.DEFAULT_SLA_HOURS,
            "querystring": f"start={period.start.isoformat()}&end={period.end.isoformat()}",
        },
    )


@require_safe
@managers_only
def metrics_json(request):
    _form, _period, data = metrics_data(request)
    return JsonResponse(data)


@require_safe
@managers_only
def metrics_csv(request, table):
    _form, period, data = metrics_data(request)
    chosen = tables(data).get(table)
    if chosen is None:
        raise Http404
    return csv_response(chosen, f"pql-{table}-{period.start}-to-{period.end}.csv")


@require_safe
@managers_only
def lab(request):
    found = (
        Definition.objects.annotate(
            criteria_count=Count("criteria", distinct=True),
            last_computed=Max("lab_runs__finished_at", filter=Q(lab_runs__status=LabRun.Status.DONE)),
        )
        .order_by("-is_active", "name")
    )
    return render(request, "scoring/lab_index.html", {"definitions": found})


@require_POST
@managers_only
def lab_new_draft(request):
    active = Definition.objects.active().first()
    if active is None:
        messages.error(request, "There is no active definition to copy.")
        return redirect("lab")
    draft = definitions.duplicate(active, changed_by=request.user)
    messages.success(request, f"“{draft.name}” created: change it in the admin, then compute it here.")
    return redirect("lab-definition", pk=draft.pk)


@require_safe
@managers_only
def lab_definition(request, pk):
    definition = get_object_or_404(Definition.objects.prefetch_related("criteria", "milestones"), pk=pk)
    latest = definition.lab_runs.first()
    run = latest if latest and latest.status == LabRun.Status.DONE else last_result(definition)
    result = run.result if run else {}
    return render(
        request,
        "scoring/lab.html",
        {
            "definition": definition,
            "run": run,
            "pending": latest if latest and latest.pending else None,
            "failed": latest if latest and latest.status == LabRun.Status.FAILED else None,
            "changed_since": bool(
                run and definition.changes.filter(changed_at__gt=run.started_at).exists()
            ),
            "result": result,
            "tables": lab_tables(result),
            "counts": book_counts(),
            "sentence": sentence(scorecard_for(definition)),
        },
    )


@require_POST
@managers_only
def lab_run(request, pk):
    definition = get_object_or_404(Definition, pk=pk)
    _run, created = request_run(definition, requested_by=request.user)
    if not created:
        messages.info(request, "A computation for this definition is already under way.")
    return redirect("lab-definition", pk=definition.pk)


@require_safe
@managers_only
def lab_csv(request, pk, table):
    definition = get_object_or_404(Definition, pk=pk)
    run = last_result(definition)
    chosen = lab_tables(run.result if run else {}).get(table)
    if chosen is None:
        raise Http404
    return csv_response(chosen, f"lab-{definition.pk}-{table}.csv")


@never_cache
@require_safe
def health(request):
    """For a monitor to poll, without signing in: the database, Redis, the
    scoring workers and how far behind scoring is. 503 when any fails: the
    lag is over SCORING_LAG_LIMIT seconds, or no worker is alive."""
    checks: dict[str, dict] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except DatabaseError as error:
        checks["database"] = {"ok": False, "error": type(error).__name__}
    queue = jobs.scoring_queue()
    if queue.is_async:
        try:
            queue.connection.ping()
            checks["redis"] = {"ok": True}
        except RedisError as error:
            checks["redis"] = {"ok": False, "error": type(error).__name__}
    else:
        checks["redis"] = {"ok": True, "mode": "inline: no REDIS_URL, jobs run in the web process"}
    if checks["database"]["ok"]:
        behind = jobs.lag()
        limit = settings.SCORING_LAG_LIMIT
        if queue.is_async:
            alive = behind.workers or 0
            checks["workers"] = {"ok": alive > 0, "alive": alive} if behind.redis_ok else {"ok": False}
        last = behind.last_full_rescore
        checks["scoring"] = {
            "ok": behind.seconds <= limit,
            "lag_s": round(behind.seconds, 1),
            "limit_s": limit,
            "waiting": behind.waiting,
            "hand_raises_waiting": behind.urgent,
            "being_scored": behind.scoring,
            "held_in_database": behind.held,
            "oldest_wait_s": None if behind.oldest_wait_s is None else round(behind.oldest_wait_s, 1),
            "due_by_time": behind.overdue,
            "last_full_rescore": last.finished_at.isoformat() if last else None,
        }
    failing = sorted(name for name, check in checks.items() if not check["ok"])
    return JsonResponse(
        {"status": "failing" if failing else "ok", "failing": failing, **checks},
        status=503 if failing else 200,
    )
