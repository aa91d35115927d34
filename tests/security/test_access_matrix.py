"""Who gets what from every URL of the site: each role (signed out, the
owning rep, another rep, a manager, a source's write key) sends every method
to every route, filled with real objects, and gets the answer in the table.
The admin is sent GET and POST; its other pages are walked model by model.

A route added without a row in the table fails, and so does a row whose
route is gone. Nothing answers 5xx, nothing of the rep's account shows to
anyone else, and no one who may not change anything changes anything."""

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from alerts.models import ManagerAlerts
from leads.models import (
    Account,
    Event,
    LeadStatus,
    Note,
    OutboxBatch,
    PendingEvent,
    RoutingRule,
    SalesRep,
    Source,
    StatusChange,
    Team,
)
from leads.services import Assignment, assign_accounts
from leads.webhooks.models import Attempt, Delivery, Endpoint
from scoring.definitions import duplicate
from scoring.lab.runs import lab_run_job
from scoring.models import Definition, LabRun, PendingRescore
from scoring.rescoring import rescore_all

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "rep", "other_rep", "manager", "write_key"]
READS = ("GET", "HEAD", "OPTIONS")
METHODS = (*READS, "POST", "PUT", "PATCH", "DELETE")
# Django's admin and django-rq's pages answer any method but POST as they answer GET.
ADMIN_METHODS = ("GET", "POST")

# What only the owning rep and managers may ever read.
SECRETS = ("Harbor Legal LLP", "jo@harborlegal.com", "Renewal call on Friday")
SEE_THE_ACCOUNT = {"rep", "manager"}


# --- answers -----------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    """A 302 to a location that starts with `to` (a sign-in page with ?next=)."""

    to: str

    def matches(self, response) -> bool:
        return response.status_code == 302 and response["Location"].startswith(self.to)

    def __str__(self):
        return f"302 to {self.to}"


LOGIN = Redirect("/login/?next=")
ADMIN_LOGIN = Redirect("/admin/login/?next=")


@dataclass(frozen=True)
class Unsent:
    """A request the walk cannot make here, and why."""

    reason: str


def every(answer, **by_method) -> dict:
    """The same answer to every method, except those named."""
    return {method: by_method.get(method, answer) for method in METHODS}


def reads(answer, otherwise, **by_method) -> dict:
    """`answer` to GET, HEAD and OPTIONS, `otherwise` to the rest."""
    return every(otherwise, **{**dict.fromkeys(READS, answer), **by_method})


def matches(expected, response) -> bool:
    if isinstance(expected, Redirect):
        return expected.matches(response)
    return response.status_code == expected


@dataclass(frozen=True)
class Case:
    """A request to send as each role, with each of `methods`. `path` is
    filled from the world's objects, e.g. {account}. Signed-in roles use a
    session, or a token when `via` is "api"; the write key role sends its key
    as the Basic user name everywhere."""

    path: str
    answers: dict
    via: str = "page"
    body: str = ""
    methods: tuple = METHODS


def roles(*, anonymous, rep, other_rep, manager, write_key=None) -> dict:
    """Answers per role; a write key outside ingestion is nobody."""
    return dict(
        anonymous=anonymous,
        rep=rep,
        other_rep=other_rep,
        manager=manager,
        write_key=anonymous if write_key is None else write_key,
    )


def page(path, *, rep, other_rep=None, manager) -> Case:
    """A page for sales people: GET and HEAD only (405 to anyone for the
    rest), then sign in first."""
    other_rep = rep if other_rep is None else other_rep
    return Case(
        path,
        roles(
            anonymous=every(405, GET=LOGIN, HEAD=LOGIN),
            rep=every(405, GET=rep, HEAD=rep),
            other_rep=every(405, GET=other_rep, HEAD=other_rep),
            manager=every(405, GET=manager, HEAD=manager),
        ),
    )


def managers_page(path, *, manager=200) -> Case:
    """Managers only: for a rep it is not found, as anything not theirs."""
    return page(path, rep=404, manager=manager)


def form_post(path, *, rep, other_rep, manager) -> Case:
    """An action page: POST only (405 to anyone for the rest), then the roles."""
    return Case(
        path,
        roles(
            anonymous=every(405, POST=LOGIN),
            rep=every(405, POST=rep),
            other_rep=every(405, POST=other_rep),
            manager=every(405, POST=manager),
        ),
    )


def public(path, answers) -> Case:
    return Case(path, roles(anonymous=answers, rep=answers, other_rep=answers, manager=answers))


def api(path, *, rep, other_rep=None, manager) -> Case:
    """The API: 401 without a user, whatever the method; a write key is no user."""
    return Case(
        path,
        roles(
            anonymous=every(401),
            rep=rep,
            other_rep=rep if other_rep is None else other_rep,
            manager=manager,
        ),
        via="api",
        body="{}",
    )


def routed(route: str, case: Case) -> dict[str, Case]:
    """A router's route and its twin with a format suffix (/api/accounts.json),
    which answers the same."""
    suffixed = route.removesuffix("/$") + "\\.(?P<format>[a-z0-9]+)/?$"
    return {route: case, suffixed: replace(case, path=case.path.removesuffix("/") + ".json")}


def ingest(call: str, message: dict) -> Case:
    """Segment's tracking API: POST only, and only with a write key."""
    answers = every(405, POST=401)
    return Case(
        f"/v1/{call}",
        roles(
            anonymous=answers,
            rep=answers,
            other_rep=answers,
            manager=answers,
            write_key=every(405, POST=200),
        ),
        via="ingest",
        body=json.dumps({"messageId": f"matrix-{call}", "userId": "visitor-1", **message}),
    )


def staff(path, manager) -> Case:
    """An admin page: staff only, so reps are sent to the admin's sign-in."""
    return Case(
        path,
        roles(
            anonymous=every(ADMIN_LOGIN),
            rep=every(ADMIN_LOGIN),
            other_rep=every(ADMIN_LOGIN),
            manager=manager,
        ),
        methods=ADMIN_METHODS,
    )


def job_stats(path) -> Case:
    """django-rq's JSON statistics: staff, or its own bearer token (none is set)."""
    return Case(
        path,
        roles(anonymous=every(401), rep=every(401), other_rep=every(401), manager=every(200)),
        methods=ADMIN_METHODS,
    )


# --- the table ---------------------------------------------------------------

API_LIST = dict(
    rep=reads(200, 405),
    manager=reads(200, 405),
)
API_DETAIL = dict(
    rep=reads(200, 405),
    other_rep=reads(404, 405, OPTIONS=200),
    manager=reads(200, 405),
)
MANAGERS_API = dict(rep=every(403))
DASHBOARD = "/admin/django_rq/dashboard"

# Route (as Django joins the patterns) -> what each role gets from it. Paths
# name the first rep's objects: {account} is owned by the rep, not by the other rep.
ROUTES: dict[str, Case | list[Case]] = {
    # The reps' and managers' pages.
    "": page("/", rep=302, manager=302),
    # Only a manager may name whose queue: a rep gets their own.
    "queue/": page("/queue/?rep={rep}", rep=200, manager=200),
    "accounts/<int:pk>/": page("/accounts/{account}/", rep=200, other_rep=404, manager=200),
    # Empty forms: a 400 with the form's errors for those who may act.
    "accounts/<int:pk>/outcome/": form_post(
        "/accounts/{account}/outcome/", rep=400, other_rep=404, manager=400
    ),
    "accounts/<int:pk>/notes/": form_post(
        "/accounts/{account}/notes/", rep=400, other_rep=404, manager=400
    ),
    "team/": managers_page("/team/"),
    # One's own settings (a rep's absence and alerts, a manager's digest):
    # an empty form is a 400 with its errors.
    "settings/": Case(
        "/settings/",
        roles(
            anonymous=every(405, GET=LOGIN, HEAD=LOGIN, POST=LOGIN),
            rep=every(405, GET=200, HEAD=200, POST=400),
            other_rep=every(405, GET=200, HEAD=200, POST=400),
            manager=every(405, GET=200, HEAD=200, POST=400),
        ),
    ),
    # No rep chosen: back to the team page with a message.
    "team/assign/<int:pk>/": form_post(
        "/team/assign/{account}/", rep=404, other_rep=404, manager=302
    ),
    "login/": Case(
        "/login/",
        roles(
            anonymous=every(405, GET=200, HEAD=200, OPTIONS=200, POST=200, PUT=200),
            rep=every(302),  # signed in already: on to the home page
            other_rep=every(302),
            manager=every(302),
        ),
    ),
    "logout/": public("/logout/", every(405, OPTIONS=200, POST=302)),
    # For monitors: no sign-in, read only (inline jobs here: no worker to miss).
    "health/": public("/health/", every(405, GET=200, HEAD=200)),
    # Metrics and the criteria lab.
    "metrics/": managers_page("/metrics/"),
    "metrics.json": managers_page("/metrics.json"),
    "metrics/<slug:table>.csv": managers_page("/metrics/summary.csv"),
    "lab/": managers_page("/lab/"),
    "lab/new-draft/": form_post("/lab/new-draft/", rep=404, other_rep=404, manager=302),
    "lab/<int:pk>/": managers_page("/lab/{definition}/"),
    "lab/<int:pk>/run/": form_post("/lab/{definition}/run/", rep=404, other_rep=404, manager=302),
    "lab/<int:pk>/<slug:table>.csv": managers_page("/lab/{definition}/backtest.csv"),
    # The API. Reps may read what is theirs; changing accounts is for managers.
    "api/": api("/api/", **API_LIST),
    "api/<drf_format_suffix:format>": api("/api/.json", **API_LIST),
    **routed("api/^accounts/$", api("/api/accounts/", rep=reads(200, 403), manager=reads(200, 405))),
    **routed(
        "api/^accounts/(?P<pk>[^/.]+)/$",
        api(
            "/api/accounts/{account}/",
            rep=reads(200, 403),
            other_rep=reads(404, 403, OPTIONS=200),
            # An empty PUT misses the required fields; an empty PATCH changes nothing.
            manager=reads(200, 405, PUT=400, PATCH=200),
        ),
    ),
    **routed(
        "api/^accounts/(?P<pk>[^/.]+)/outcome/$",
        api(
            "/api/accounts/{account}/outcome/",
            rep=every(405, OPTIONS=200, POST=400),
            other_rep=every(405, OPTIONS=404, POST=404),
            manager=every(405, OPTIONS=200, POST=400),
        ),
    ),
    **routed(
        "api/^accounts/(?P<pk>[^/.]+)/assign/$",
        api(
            "/api/accounts/{account}/assign/",
            rep=every(403),
            manager=every(405, OPTIONS=200, POST=400),
        ),
    ),
    **routed("api/^people/$", api("/api/people/", **API_LIST)),
    **routed("api/^people/(?P<pk>[^/.]+)/$", api("/api/people/{person}/", **API_DETAIL)),
    **routed("api/^events/$", api("/api/events/", **API_LIST)),
    **routed("api/^events/(?P<pk>[^/.]+)/$", api("/api/events/{event}/", **API_DETAIL)),
    **routed("api/^status-changes/$", api("/api/status-changes/", **API_LIST)),
    **routed(
        "api/^status-changes/(?P<pk>[^/.]+)/$",
        api("/api/status-changes/{status_change}/", **API_DETAIL),
    ),
    **routed(
        "api/^definitions/$",
        api("/api/definitions/", **MANAGERS_API, manager=reads(200, 405, POST=400)),
    ),
    # The active definition: it cannot be deleted (400) while active.
    **routed(
        "api/^definitions/(?P<pk>[^/.]+)/$",
        api(
            "/api/definitions/{definition}/",
            **MANAGERS_API,
            manager=reads(200, 405, PUT=400, PATCH=200, DELETE=400),
        ),
    ),
    **routed(
        "api/^definitions/(?P<pk>[^/.]+)/activate/$",
        api(
            "/api/definitions/{definition}/activate/",
            **MANAGERS_API,
            manager=every(405, OPTIONS=200, POST=200),
        ),
    ),
    # Only a manager may name whose queue: a rep gets their own.
    "api/queue/": api("/api/queue/?rep={rep}", **API_LIST),
    "api/metrics/": api("/api/metrics/", **MANAGERS_API, manager=reads(200, 405)),
    # Anyone may ask for a token (an empty form is a 400); DELETE revokes your own.
    "api/token/": Case(
        "/api/token/",
        roles(
            anonymous=every(405, OPTIONS=200, POST=400, DELETE=401),
            rep=every(405, OPTIONS=200, POST=400, DELETE=204),
            other_rep=every(405, OPTIONS=200, POST=400, DELETE=204),
            manager=every(405, OPTIONS=200, POST=400, DELETE=204),
        ),
        via="api",
        body="{}",
    ),
    # The schema and its docs are public: a write key gets what anyone gets.
    "api/schema/": replace(public("/api/schema/", reads(200, 405)), via="api"),
    "api/docs/": replace(public("/api/docs/", reads(200, 405, OPTIONS=405)), via="api"),
    # Ingestion: every call, each with a message it accepts.
    "v1/^(?P<call>batch|import|track|identify|group|page|screen|alias)/?$": [
        ingest(
            "batch",
            {"batch": [{"type": "track", "messageId": "matrix-1", "userId": "visitor-1", "event": "login"}]},
        ),
        ingest(
            "import",
            {"batch": [{"type": "track", "messageId": "matrix-2", "userId": "visitor-1", "event": "login",
                        "timestamp": "2024-01-15T09:00:00Z"}]},
        ),
        ingest("track", {"event": "login"}),
        ingest("identify", {"traits": {"email": "visitor@example.com"}}),
        ingest("group", {"groupId": "acct_visitor"}),
        ingest("page", {"name": "Pricing"}),
        ingest("screen", {"name": "Home"}),
        ingest("alias", {"previousId": "anonymous-1"}),
    ],
    # The admin site (the per-model pages are walked by ModelAdmin below).
    "admin/": staff("/admin/", every(200)),
    # An empty POST is a sign-in form with errors.
    "admin/login/": Case(
        "/admin/login/",
        roles(
            anonymous=every(200),
            # Signed in but not staff: the form, saying that they may not.
            rep=every(200),
            other_rep=every(200),
            manager=every(200, GET=302),  # on to the index
        ),
        methods=ADMIN_METHODS,
    ),
    "admin/logout/": Case(
        "/admin/logout/",
        roles(
            anonymous=every(Redirect("/admin/")),
            rep=every(Redirect("/admin/")),
            other_rep=every(Redirect("/admin/")),
            manager=every(405, POST=302),
        ),
        methods=ADMIN_METHODS,
    ),
    # CSV imports: the upload (an empty POST is the form with its errors) and
    # the confirm step (POST only; an empty one is the upload form again).
    **{
        f"admin/leads/{model}/import/": staff(f"/admin/leads/{model}/import/", every(200))
        for model in ("account", "person", "salesrep", "statuschange")
    },
    **{
        f"admin/leads/{model}/process_import/": staff(
            f"/admin/leads/{model}/process_import/", every(405, POST=200)
        )
        for model in ("account", "person", "salesrep", "statuschange")
    },
    # The definition builder's live preview: JSON for a POSTed form (an empty
    # one answers with its errors).
    "admin/scoring/definition/preview/": staff(
        "/admin/scoring/definition/preview/", every(405, POST=200)
    ),
    "admin/password_change/": staff("/admin/password_change/", every(200)),
    "admin/password_change/done/": staff("/admin/password_change/done/", reads(200, 405)),
    "admin/autocomplete/": staff(
        "/admin/autocomplete/?app_label=leads&model_name=account&field_name=owner", reads(200, 405)
    ),
    "admin/jsi18n/": staff("/admin/jsi18n/", reads(200, 405)),
    # Accounts have no page of their own to show on the site.
    "admin/r/<path:content_type_id>/<path:object_id>/": staff(
        "/admin/r/{account_type}/{account}/", every(404)
    ),
    "admin/^(?P<app_label>auth|authtoken|leads|django_rq|webhooks|scoring|alerts)/$": [
        staff("/admin/leads/", every(200)),
        staff("/admin/alerts/", every(200)),
        staff("/admin/webhooks/", every(200)),
        staff("/admin/scoring/", every(200)),
        # Apps where managers hold no permission are not found.
        staff("/admin/auth/", every(404)),
        staff("/admin/authtoken/", every(404)),
        staff("/admin/django_rq/", every(404)),
    ],
    "admin/(?P<url>.*)$": staff("/admin/nowhere/", every(404)),
    "admin/auth/user/<id>/password/": staff("/admin/auth/user/{rep_user}/password/", every(403)),
    # django-rq's job dashboard, inside the admin: any staff member (managers
    # are staff) sees the queues and may act on jobs. Its job pages show a
    # failed rescore; their empty POSTs delete, requeue or stop it.
    "admin/django_rq/dashboard/": staff(f"{DASHBOARD}/", every(200)),  # also the model's list
    "admin/django_rq/dashboard/^stats.json/?$": job_stats(f"{DASHBOARD}/stats.json"),
    "admin/django_rq/dashboard/^stats.json/(?P<token>[\\w]+)?/?$": job_stats(
        f"{DASHBOARD}/stats.json/nottoken/"
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/": staff(f"{DASHBOARD}/queues/0/", every(200)),
    "admin/django_rq/dashboard/queues/<int:queue_index>/details/": staff(
        f"{DASHBOARD}/queues/0/details/", every(200)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/finished/": staff(
        f"{DASHBOARD}/queues/0/finished/", every(200)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/failed/": staff(
        f"{DASHBOARD}/queues/0/failed/", every(200)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/failed/clear/": staff(
        f"{DASHBOARD}/queues/0/failed/clear/", every(200, POST=302)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/scheduled/": staff(
        f"{DASHBOARD}/queues/0/scheduled/", every(200)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/started/": staff(
        f"{DASHBOARD}/queues/0/started/", every(200)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/deferred/": staff(
        f"{DASHBOARD}/queues/0/deferred/", every(200)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/empty/": staff(
        f"{DASHBOARD}/queues/0/empty/",
        every(200, POST=Unsent("emptying a queue runs a Lua script, which the fake Redis lacks")),
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/requeue-all/": staff(
        f"{DASHBOARD}/queues/0/requeue-all/", every(200, POST=302)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/": staff(
        f"{DASHBOARD}/queues/0/{{job}}/", every(200)
    ),
    # The job has not run: it has no result yet.
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/results/<str:result_id>/": staff(
        f"{DASHBOARD}/queues/0/{{job}}/results/none-yet/", every(404)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/delete/": staff(
        f"{DASHBOARD}/queues/0/{{job}}/delete/", every(200, POST=302)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/requeue/": staff(
        f"{DASHBOARD}/queues/0/{{job}}/requeue/", every(200, POST=302)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/enqueue/": staff(
        f"{DASHBOARD}/queues/0/{{job}}/enqueue/", every(200, POST=302)
    ),
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/stop/": staff(
        f"{DASHBOARD}/queues/0/{{job}}/stop/", every(405, POST=302)
    ),
    # Without an action chosen, both go back where they came from.
    "admin/django_rq/dashboard/queues/confirm-action/<int:queue_index>/": staff(
        f"{DASHBOARD}/queues/confirm-action/0/", every(302)
    ),
    "admin/django_rq/dashboard/queues/actions/<int:queue_index>/": staff(
        f"{DASHBOARD}/queues/actions/0/", every(302)
    ),
    "admin/django_rq/dashboard/workers/<int:queue_index>/": staff(
        f"{DASHBOARD}/workers/0/", every(200)
    ),
    "admin/django_rq/dashboard/workers/<int:queue_index>/<str:key>/": staff(
        f"{DASHBOARD}/workers/0/{{worker}}/", every(200)
    ),
    # No cron scheduler runs here: not found.
    "admin/django_rq/dashboard/cron-schedulers/<int:connection_index>/<str:scheduler_name>/": staff(
        f"{DASHBOARD}/cron-schedulers/0/nightly/", every(404)
    ),
    "admin/django_rq/dashboard/cron-schedulers/<int:connection_index>/<str:scheduler_name>/jobs/<path:cron_job_name>/": staff(
        f"{DASHBOARD}/cron-schedulers/0/nightly/jobs/rescore/", every(404)
    ),
    # The dashboard's model has no table: nothing to add, and its object pages
    # say there is no such object.
    "admin/django_rq/dashboard/add/": staff(f"{DASHBOARD}/add/", every(403)),
    "admin/django_rq/dashboard/<path:object_id>/": staff(f"{DASHBOARD}/1/", every(302)),
    "admin/django_rq/dashboard/<path:object_id>/change/": staff(f"{DASHBOARD}/1/change/", every(302)),
    "admin/django_rq/dashboard/<path:object_id>/history/": staff(f"{DASHBOARD}/1/history/", every(302)),
    "admin/django_rq/dashboard/<path:object_id>/delete/": staff(f"{DASHBOARD}/1/delete/", every(403)),
}

# What a manager may do with each model in the admin (the Sales managers
# group's permissions). Reps are no staff: every admin page sends them to sign in.
MANAGER_ADMIN_RIGHTS = {
    "alerts.manageralerts": "view add change delete",
    "auth.group": "",
    "auth.user": "",
    "authtoken.tokenproxy": "",
    "leads.account": "view add change delete",
    "leads.event": "view add change delete",
    "leads.outboxbatch": "view",  # read-only: delivery unfolds and deletes it
    "leads.outboxmessage": "view",  # read-only; its re-queue is the deliveries' replay right
    "leads.pendingevent": "view",
    "leads.person": "view add change delete",
    "leads.routingrule": "view add change delete",
    "leads.salesrep": "view add change delete",
    "leads.source": "view add change delete",
    "leads.statuschange": "view",
    "leads.team": "view add change delete",
    "scoring.accountscore": "view",
    "scoring.definition": "view add change delete",
    "scoring.definitionchange": "view",
    "scoring.labrun": "",
    "scoring.pendingrescore": "",
    "scoring.scoringrun": "view",
    "webhooks.attempt": "view",
    "webhooks.delivery": "view change",
    "webhooks.endpoint": "view add change delete",
}
# Registered models whose routes are rows of ROUTES instead.
ADMIN_MODELS_IN_ROUTES = {
    "django_rq.dashboard": "django-rq's job dashboard: its pages are django-rq's views",
}
MODEL_ADMIN_ROUTES = (
    "",
    "add/",
    "<path:object_id>/",
    "<path:object_id>/change/",
    "<path:object_id>/history/",
    "<path:object_id>/delete/",
)


# --- the walk ----------------------------------------------------------------


def walked_routes(patterns=None, prefix="") -> set[str]:
    """Every route of the project, as Django joins the patterns."""
    routes = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes |= walked_routes(pattern.url_patterns, route)
        else:
            routes.add(route)
    return routes


def admin_models() -> dict[str, type]:
    return {model._meta.label_lower: model for model in admin.site._registry}


def model_admin_routes(label: str) -> set[str]:
    app_label, model_name = label.split(".")
    return {f"admin/{app_label}/{model_name}/{route}" for route in MODEL_ADMIN_ROUTES}


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


@dataclass
class World:
    """The objects paths are filled with, and who plays each role."""

    ids: dict
    users: dict
    write_key: str
    reset_job: object
    signed_in: dict = field(default_factory=dict)

    def client(self, role: str, via: str):
        """A client for the role; signed-in clients are kept while their
        session or token lasts (a logout or a revoked token ends it)."""
        kind = APIClient if via == "api" else Client
        # A 500 is an answer to report with the others, not an exception.
        if role == "anonymous":
            return kind(raise_request_exception=False)
        if role == "write_key":
            return kind(raise_request_exception=False, HTTP_AUTHORIZATION=basic(self.write_key))
        kept = self.signed_in.get((role, kind))
        if kept and kept[1]():
            return kept[0]
        client = kind(raise_request_exception=False)
        user = self.users[role]
        if via == "api":
            key = Token.objects.get_or_create(user=user)[0].key
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
            lasts = Token.objects.filter(key=key).exists
        else:
            client.force_login(user)
            lasts = Session.objects.filter(session_key=client.session.session_key).exists
        self.signed_in[(role, kind)] = (client, lasts)
        return client

    def send(self, role: str, method: str, case: Case):
        path = case.path.format(**self.ids)
        if "{job}" in case.path:
            self.reset_job()  # an earlier request may have requeued or deleted it
        client = self.client(role, case.via)
        if method in READS:
            return path, client.generic(method, path)
        content_type = "application/x-www-form-urlencoded" if case.via == "page" else "application/json"
        return path, client.generic(method, path, case.body, content_type=content_type)


REP_SET_UP = [field.attname for field in SalesRep._meta.concrete_fields if field.name != "queue_seen_at"]


def fingerprint(world: World) -> tuple:
    """The rep's account and its history, and what only managers may set up."""
    return (
        Account.objects.filter(pk=world.ids["account"]).values().get(),
        StatusChange.objects.count(),
        Note.objects.count(),
        list(Definition.objects.order_by("pk").values()),
        LabRun.objects.count(),
        # Opening one's queue records the visit (what is new since): not a set-up.
        list(SalesRep.objects.order_by("pk").values(*REP_SET_UP)),
        list(Source.objects.order_by("pk").values()),
        list(Team.objects.order_by("pk").values()),
        list(RoutingRule.objects.order_by("pk").values()),
        list(
            get_user_model().objects.order_by("pk").values_list("pk", "username", "password", "is_staff", "is_superuser")
        ),
        list(Group.objects.order_by("pk").values_list("pk", "name", "permissions")),
    )


def leaked(response) -> list[str]:
    if response.streaming:
        return []
    body = response.content.decode(errors="replace")
    return [secret for secret in SECRETS if secret in body]


def described(response) -> str:
    if response.status_code in (301, 302):
        return f"{response.status_code} to {response['Location']}"
    return str(response.status_code)


def walk(world: World, role: str, cases) -> list[str]:
    """Send each case its methods as `role`; the answers that differ from
    the table, and anything shown that the role may not see."""
    problems = []
    for case in cases:
        for method in case.methods:
            expected = case.answers[role][method]
            if isinstance(expected, Unsent):
                continue
            path, response = world.send(role, method, case)
            if not matches(expected, response):
                problems.append(f"{method} {path}: expected {expected}, got {described(response)}")
            if role not in SEE_THE_ACCOUNT and (secrets := leaked(response)):
                problems.append(f"{method} {path} shows {secrets} to {role}")
    return problems


def allowed(may: bool, answer=200):
    return answer if may else 403


# The live definition has no delete (tests/admin); its rights are a draft's.
ADMIN_OPENS = {"scoring.definition": {"is_active": False}}


def model_admin_cases(world: World):
    """The generic admin pages of each model, answered by the manager's rights."""
    for label, model in sorted(admin_models().items()):
        if label in ADMIN_MODELS_IN_ROUTES:
            continue
        rights = set(MANAGER_ADMIN_RIGHTS[label].split())
        sees = bool(rights & {"view", "change"})
        obj = model._default_manager.filter(**ADMIN_OPENS.get(label, {})).first()
        assert obj is not None, f"the world holds no {label} to open in the admin"
        base = f"/admin/{label.replace('.', '/')}/"
        # An empty form has errors: the page again, nothing saved.
        saved = 200
        for path, get, post in [
            (base, allowed(sees), allowed(sees)),
            (f"{base}add/", allowed("add" in rights), allowed("add" in rights, saved)),
            (f"{base}{obj.pk}/change/", allowed(sees), allowed("change" in rights, saved)),
            (f"{base}{obj.pk}/history/", allowed(sees), allowed(sees)),
            # An empty POST is no confirmation: the page again, nothing deleted.
            (f"{base}{obj.pk}/delete/", allowed("delete" in rights), allowed("delete" in rights)),
        ]:
            yield staff(path, every(None, GET=get, POST=post))
        # /<id>/ sends staff on to the change page.
        yield staff(f"{base}{obj.pk}/", every(Redirect(f"{base}{obj.pk}/change/")))


# --- the world ---------------------------------------------------------------


@pytest.fixture
def job_redis(monkeypatch):
    """django-rq's dashboard reads its queues from Redis: here an in-process
    fake, so that emptying a queue can never touch a shared server."""
    import fakeredis
    import redis

    server = fakeredis.FakeServer()
    monkeypatch.setattr(
        redis.Redis, "from_url", classmethod(lambda cls, url, **options: fakeredis.FakeRedis(server=server))
    )
    return fakeredis.FakeRedis(server=server)


@pytest.fixture
def world(rep, other_rep, manager, definition, account, job_redis, inline_queues, monkeypatch):
    """One account of the rep's, qualified and assigned, with a person, an
    event, a note and its history; and one of everything the admin lists."""
    # Thousands of requests from one address: no throttle here (it has its own tests).
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": None, "user": None, "login": None})

    now = timezone.now()
    person = account.people.create(email="jo@harborlegal.com", name="Jo Park", title="Associate")
    event = Event.objects.create(
        account=account, person=person, name="contact_sales_clicked", occurred_at=now - timedelta(hours=2)
    )
    rescore_all(reason="access matrix")
    assign_accounts(
        assignments={account.pk: Assignment(rep.pk, "test", now + timedelta(hours=24))}, cause="routing"
    )
    account.refresh_from_db()
    assert account.status == LeadStatus.ASSIGNED
    Note.objects.create(account=account, author=rep.user, body="Renewal call on Friday")
    RoutingRule.objects.create(name="Everyone", team=Team.objects.create(name="Everyone"))
    source = Source.objects.create(name="Product", slug="product")
    ManagerAlerts.objects.create(user=manager)
    PendingEvent.objects.create(
        source="product", message_id="waiting-1", user_id="visitor-0", name="login", occurred_at=now
    )
    PendingRescore.objects.create(account=account, requested_at=now, reason="queue unreachable")
    Token.objects.get_or_create(user=rep.user)
    run = LabRun.objects.create(definition=definition, requested_at=now)
    lab_run_job(run.pk)
    duplicate(definition)
    endpoint = Endpoint.objects.create(url="https://crm.example.com/hooks", event_types=["lead.qualified"])
    delivery = Delivery.objects.create(
        endpoint=endpoint, message_id="msg_1", event_type="lead.qualified", account=account,
        body="{}", created_at=now, next_attempt_at=now,
    )
    Attempt.objects.create(
        delivery=delivery, endpoint=endpoint, attempted_at=now, response_code=500, outcome="retry"
    )
    # A large change's messages, not yet unfolded by delivery.
    OutboxBatch.objects.create(notices=f'[["qualified", {account.pk}, null, null, null, {{}}, false, null]]')

    queue = Queue("default", connection=job_redis)
    Worker([queue], connection=job_redis, name="matrix-worker").register_birth()

    def reset_job():
        """A rescore that failed, as the dashboard shows it."""
        if Job.exists("nightly-rescore", connection=job_redis):
            Job.fetch("nightly-rescore", connection=job_redis).delete()
        job = queue.enqueue("scoring.rescoring.rescore_all", job_id="nightly-rescore")
        queue.remove(job)
        job.set_status(JobStatus.FAILED)
        FailedJobRegistry(queue=queue).add(job, exc_string="redis.exceptions.ConnectionError")

    reset_job()
    return World(
        ids=dict(
            account=account.pk,
            person=person.pk,
            event=event.pk,
            status_change=account.status_changes.first().pk,
            definition=definition.pk,
            rep=rep.pk,
            rep_user=rep.user.pk,
            account_type=ContentType.objects.get_for_model(Account).pk,
            job="nightly-rescore",
            worker="rq:worker:matrix-worker",
        ),
        users=dict(rep=rep.user, other_rep=other_rep.user, manager=manager),
        write_key=source.write_key,
        reset_job=reset_job,
    )


# --- the table covers every route --------------------------------------------


def test_every_route_of_the_site_has_a_row_in_the_table():
    covered_by_model_admins = set().union(*(model_admin_routes(label) for label in MANAGER_ADMIN_RIGHTS))
    walked = walked_routes()

    assert sorted(walked - set(ROUTES) - covered_by_model_admins) == [], "routes without a row"
    assert sorted(set(ROUTES) - walked) == [], "rows for routes that are gone"
    assert sorted(covered_by_model_admins - walked) == [], "admin rights for models not in the admin"


def test_every_model_in_the_admin_has_the_managers_rights_in_the_table():
    assert sorted(admin_models()) == sorted({**MANAGER_ADMIN_RIGHTS, **ADMIN_MODELS_IN_ROUTES})
    for label in ADMIN_MODELS_IN_ROUTES:
        assert model_admin_routes(label) <= set(ROUTES), label


# --- each role gets what the table says --------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_table_says_from_every_route(role, world):
    before = fingerprint(world)
    cases = [case for row in ROUTES.values() for case in (row if isinstance(row, list) else [row])]

    problems = walk(world, role, cases)

    assert not problems, "\n".join(problems)
    if role != "manager":
        assert fingerprint(world) == before, f"{role} changed something"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_managers_rights_say_from_every_model_admin(role, world):
    before = fingerprint(world)

    problems = walk(world, role, list(model_admin_cases(world)))

    assert not problems, "\n".join(problems)
    assert fingerprint(world) == before, f"{role} changed something"


# --- refused changes change nothing ------------------------------------------


def account_as_it_stands(world: World) -> tuple:
    account = Account.objects.get(pk=world.ids["account"])
    return account.status, account.owner_id, account.name, account.notes.count(), account.status_changes.count()


def test_another_rep_cannot_work_my_account_on_the_pages_or_through_the_api(world, rep):
    before, whole = account_as_it_stands(world), fingerprint(world)
    pages, api = world.client("other_rep", "page"), world.client("other_rep", "api")
    account = world.ids["account"]

    refused = [
        pages.post(f"/accounts/{account}/outcome/", {"outcome": "disqualified", "reason": "Not a fit"}),
        pages.post(f"/accounts/{account}/notes/", {"body": "Mine now"}),
        api.post(f"/api/accounts/{account}/outcome/", {"outcome": "converted"}, format="json"),
    ]

    assert [response.status_code for response in refused] == [404, 404, 404]
    assert api.patch(f"/api/accounts/{account}/", {"name": "Mine now"}, format="json").status_code == 403
    assert account_as_it_stands(world) == before
    assert before[:2] == (LeadStatus.ASSIGNED, rep.pk)
    assert fingerprint(world) == whole


@pytest.mark.parametrize("role", ["rep", "other_rep"])
def test_reps_cannot_hand_an_account_to_someone_else(world, role, other_rep):
    before = account_as_it_stands(world)
    account = world.ids["account"]

    by_page = world.client(role, "page").post(f"/team/assign/{account}/", {"rep": other_rep.pk})
    by_api = world.client(role, "api").post(
        f"/api/accounts/{account}/assign/", {"rep": other_rep.pk}, format="json"
    )

    assert (by_page.status_code, by_api.status_code) == (404, 403)
    assert account_as_it_stands(world) == before


@pytest.mark.parametrize("role", ["anonymous", "write_key"])
def test_signed_out_visitors_and_write_keys_change_nothing(world, role, other_rep):
    whole = fingerprint(world)
    pages, api = world.client(role, "page"), world.client(role, "api")
    account, definition = world.ids["account"], world.ids["definition"]

    outcome = pages.post(f"/accounts/{account}/outcome/", {"outcome": "contacted"})
    deleted = pages.post(f"/admin/leads/account/{account}/delete/", {"post": "yes"})
    api_answers = [
        api.post(f"/api/accounts/{account}/outcome/", {"outcome": "contacted"}, format="json"),
        api.post(f"/api/accounts/{account}/assign/", {"rep": other_rep.pk}, format="json"),
        api.patch(f"/api/accounts/{account}/", {"name": "Taken"}, format="json"),
        api.delete(f"/api/definitions/{definition}/"),
    ]

    assert LOGIN.matches(outcome) and ADMIN_LOGIN.matches(deleted)
    assert [response.status_code for response in api_answers] == [401, 401, 401, 401]
    assert fingerprint(world) == whole


def test_reps_cannot_change_or_try_out_pql_definitions(world, definition):
    draft = Definition.objects.create(name="Lower bar", score_threshold=5)
    whole = fingerprint(world)
    pages, api = world.client("rep", "page"), world.client("rep", "api")

    api_answers = [
        api.patch(f"/api/definitions/{definition.pk}/", {"score_threshold": 1}, format="json"),
        api.post(f"/api/definitions/{draft.pk}/activate/"),
        api.delete(f"/api/definitions/{draft.pk}/"),
    ]
    page_answers = [pages.post("/lab/new-draft/"), pages.post(f"/lab/{draft.pk}/run/")]

    assert [response.status_code for response in api_answers] == [403, 403, 403]
    assert [response.status_code for response in page_answers] == [404, 404]
    assert list(Definition.objects.filter(is_active=True)) == [definition]
    assert fingerprint(world) == whole
