"""Settings for pqlsite, read from the environment (twelve-factor).

Unset variables give the zero-set-up defaults: a SQLite file in the project
folder and RQ jobs run inline. Production sets DATABASE_URL (PostgreSQL),
REDIS_URL, SECRET_KEY, ALLOWED_HOSTS and the SECURE_* variables.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# A development-only key; `check --deploy` flags it, so production must set SECRET_KEY.
SECRET_KEY = env(
    "SECRET_KEY", default="django-insecure-pqlsite-development-key-do-not-use-in-production"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "pqlsite.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "import_export",
    "axes",
    "leads",
    "leads.webhooks",
    "scoring",
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "leads.access.RolesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the locked-out response.
    "axes.middleware.AxesMiddleware",
]

# Brute-force limits on every sign-in (/login/, /admin/login/, /api/token/):
# after LOGIN_FAILURE_LIMIT wrong passwords for one username from one address,
# that pair is locked out for LOGIN_COOLOFF_MINUTES (a 429 with Retry-After).
# The failures are kept in the database (django-axes' tables).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "leads.lockout.locked_out"
AXES_HTTP_RESPONSE_CODE = 429
# Unlock from the shell (manage.py axes_reset_username <name>), not the admin.
AXES_ENABLE_ADMIN = False
# Proxies in front of the app that append to X-Forwarded-For. 0: the client's
# address is the connection's, which a client cannot forge (a forged
# X-Forwarded-For must not buy a fresh limit per request).
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
if TRUSTED_PROXIES:
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXIES
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")

ROOT_URLCONF = "pqlsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "leads.context_processors.roles",
            ],
        },
    },
]

WSGI_APPLICATION = "pqlsite.wsgi.application"

DATABASES = {
    # An empty DATABASE_URL (`DATABASE_URL= make run`) means unset, as an absent one does.
    "default": env.db_url_config(os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# Server-side binding, and psycopg preparing a statement from its fifth run
# (Django's default prepares none): the ingest path repeats the same few
# statements every batch, and PostgreSQL then parses and plans them once per
# connection. Behind PgBouncer older than 1.21 in transaction mode, turn it off.
if DATABASES["default"]["ENGINE"].endswith("postgresql") and env.bool("DB_SERVER_SIDE_BINDING", default=True):
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# RQ: with REDIS_URL set, jobs go to Redis and run in `manage.py rqworker`;
# without it they run inline in the process that enqueues them.
REDIS_URL = env("REDIS_URL", default="")
RQ_QUEUES = {
    name: {
        "URL": REDIS_URL or "redis://127.0.0.1:6379/0",
        "ASYNC": bool(REDIS_URL),
        "DEFAULT_TIMEOUT": timeout,
    }
    for name, timeout in (("default", 600), ("scoring", 3600), ("webhooks", 300))
}
# Workers run each job in their own process, no fork per job (scoring.worker).
RQ = {"WORKER_CLASS": "scoring.worker.ScoringWorker"}
# Hours a rep has to contact a lead assigned by hand (routed leads use their team's SLA).
DEFAULT_SLA_HOURS = env.int("DEFAULT_SLA_HOURS", default=24)
# Seconds between scheduled full rescores (manage.py rqcron pqlsite.cron): a
# daily safety net, since time-driven changes are rescored when they are due.
SCORING_RESCORE_INTERVAL = env.int("SCORING_RESCORE_INTERVAL", default=24 * 3600)
# Seconds between passes that rescore the results time alone has changed.
SCORING_TIME_DRIVEN_INTERVAL = env.int("SCORING_TIME_DRIVEN_INTERVAL", default=60)
SCORING_TIME_DRIVEN_LIMIT = env.int("SCORING_TIME_DRIVEN_LIMIT", default=100_000)
# A drain job scores routine accounts in slices sized to last about
# SCORING_DRAIN_SLICE_SECONDS each, from the last slices' cost per account,
# and at most SCORING_DRAIN_SLICE accounts (a hand-raise waits for one slice
# at most); it hands over to a new job after SCORING_DRAIN_SECONDS.
SCORING_DRAIN_SLICE = env.int("SCORING_DRAIN_SLICE", default=2_000)
SCORING_DRAIN_SLICE_SECONDS = env.float("SCORING_DRAIN_SLICE_SECONDS", default=0.1)
SCORING_DRAIN_SECONDS = env.float("SCORING_DRAIN_SECONDS", default=30)
# An account taken by a job is leased to it this long (a killed worker's
# accounts are taken again afterwards; the catch-up pass rescores them sooner).
SCORING_LEASE_SECONDS = env.int("SCORING_LEASE_SECONDS", default=600)
# /health/ fails when scoring is further behind than this many seconds, or
# when no scoring worker has sent a heartbeat within the stale time
# (workers run by `manage.py scoring_worker` beat every 45 s).
SCORING_LAG_LIMIT = env.float("SCORING_LAG_LIMIT", default=120)
SCORING_WORKER_STALE_SECONDS = env.int("SCORING_WORKER_STALE_SECONDS", default=120)
# Rescores held in the database (Redis was unreachable, or a worker died
# mid-job) are done by a catch-up pass this often, once held this long.
SCORING_CATCH_UP_INTERVAL = env.int("SCORING_CATCH_UP_INTERVAL", default=60)
SCORING_CATCH_UP_GRACE = env.int("SCORING_CATCH_UP_GRACE", default=180)
# After Redis fails, enqueueing skips it (holding accounts instead) this long.
SCORING_QUEUE_RETRY_AFTER = env.float("SCORING_QUEUE_RETRY_AFTER", default=5)
# Days a pending event (its person never identified or never grouped) is
# kept before the daily expiry deletes it.
PENDING_EVENT_RETENTION_DAYS = env.int("PENDING_EVENT_RETENTION_DAYS", default=30)

# Alerts (docs/alerts.md). Email goes through Django's email framework: SMTP
# from the environment, the console (the terminal) under DEBUG unless set.
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Seconds: a slow mail server must not hold a delivery job for long.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="pqlsite <pqlsite@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where the links in alerts point: the address reps open pqlsite at.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Another alert for the same account and kind within this many minutes is not sent.
ALERTS_COOLDOWN_MINUTES = env.int("ALERTS_COOLDOWN_MINUTES", default=240)
# "Contact due soon" this many minutes before a lead's SLA passes.
ALERTS_SLA_WARNING_MINUTES = env.int("ALERTS_SLA_WARNING_MINUTES", default=60)
# The daily digest is sent from this hour (TIME_ZONE) on.
ALERTS_DIGEST_HOUR = env.int("ALERTS_DIGEST_HOUR", default=8)
# Seconds between delivery passes (what an on-commit wake-up missed) and SLA checks.
ALERTS_DELIVERY_INTERVAL = env.int("ALERTS_DELIVERY_INTERVAL", default=60)
ALERTS_SLA_CHECK_INTERVAL = env.int("ALERTS_SLA_CHECK_INTERVAL", default=300)
# Seconds a Slack post may take before it counts as failed (and is retried).
ALERTS_SLACK_TIMEOUT = env.int("ALERTS_SLACK_TIMEOUT", default=10)
# Optional: a Slack incoming-webhook URL for managers' alerts no team claims.
ALERTS_MANAGERS_SLACK_WEBHOOK_URL = env("ALERTS_MANAGERS_SLACK_WEBHOOK_URL", default="")


# Webhooks (leads.webhooks). Private, loopback and link-local targets are
# refused unless allowed (development and tests, whose receivers listen on
# 127.0.0.1).
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=DEBUG)
# Seconds: to connect, per read, and for the whole request.
WEBHOOKS_CONNECT_TIMEOUT = env.float("WEBHOOKS_CONNECT_TIMEOUT", default=3)
WEBHOOKS_READ_TIMEOUT = env.float("WEBHOOKS_READ_TIMEOUT", default=5)
WEBHOOKS_TOTAL_TIMEOUT = env.float("WEBHOOKS_TOTAL_TIMEOUT", default=10)
# Seconds before each retry (timeouts, connection errors, 408, 429, 5xx):
# about a day in all, then the delivery has failed.
WEBHOOKS_RETRY_SCHEDULE = [
    float(seconds)
    for seconds in env.list(
        "WEBHOOKS_RETRY_SCHEDULE",
        default=["5", "30", "120", "600", "1800", "3600", "7200", "14400", "28800", "28800"],
    )
]
# An endpoint failing this long (no success in between) is turned off.
WEBHOOKS_DISABLE_AFTER = env.int("WEBHOOKS_DISABLE_AFTER", default=24 * 3600)
# One run for one endpoint sends at most this many, for at most this long,
# claiming this many at a time; then it yields the worker.
WEBHOOKS_RUN_LIMIT = env.int("WEBHOOKS_RUN_LIMIT", default=500)
WEBHOOKS_RUN_SECONDS = env.float("WEBHOOKS_RUN_SECONDS", default=30)
WEBHOOKS_BATCH = env.int("WEBHOOKS_BATCH", default=50)
# Workers sending to one endpoint at once.
WEBHOOKS_ENDPOINT_CONCURRENCY = env.int("WEBHOOKS_ENDPOINT_CONCURRENCY", default=1)
# Seconds between sweeps (due retries, disabling), and an old secret's life after a rotation.
WEBHOOKS_SWEEP_INTERVAL = env.int("WEBHOOKS_SWEEP_INTERVAL", default=5)
WEBHOOKS_ROTATION_OVERLAP = env.int("WEBHOOKS_ROTATION_OVERLAP", default=24 * 3600)
# Days a delivery that ended (delivered or failed) and each attempt are kept.
WEBHOOKS_RETENTION_DAYS = env.int("WEBHOOKS_RETENTION_DAYS", default=30)
# The django-rq dashboard (queues, failed jobs) appears in the admin index.
RQ_SHOW_ADMIN_LINK = True

# Throttling counts requests in the cache: Redis when configured, so every
# web process shares the counts; process memory otherwise. The cache gets a
# Redis database of its own: clearing it must never touch the job queues.
CACHE_REDIS_DB = env.int("CACHE_REDIS_DB", default=1)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": urlunsplit(urlsplit(REDIS_URL)._replace(path=f"/{CACHE_REDIS_DB}")),
        "KEY_PREFIX": "pqlsite",
        # Fail fast when Redis is down: the throttles then let requests through.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON under the bounds ingest keeps (depth, NUL, lone surrogates): a 400 naming the field.
    "DEFAULT_PARSER_CLASSES": [
        "leads.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "leads.api.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "leads.api.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "leads.api.throttles.AnonThrottle",
        "leads.api.throttles.UserThrottle",
    ],
    "NUM_PROXIES": TRUSTED_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/minute"),
        # POST /api/token/ per address, signed in or not.
        "login": env("API_THROTTLE_LOGIN", default="60/minute"),
        "user": env("API_THROTTLE_USER", default="3000/minute"),
        "ingest": env("INGEST_THROTTLE", default="6000/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "pqlsite API",
    "DESCRIPTION": "Product-qualified leads: accounts, people, events, scores, PQL definitions "
    "and the reps' queues. Authenticate with a token (`Authorization: Token <key>`) or a session.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"LeadStatusEnum": "leads.models.LeadStatus"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "leads.ingest.openapi.add_ingest_paths",
    ],
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env.bool("STATIC_MANIFEST", default=True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# HTTPS and cookies: production turns these on (see README, "Production settings").
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO", "propagate": True}},
}
