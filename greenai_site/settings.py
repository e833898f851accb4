"""GreenAI settings: one module, driven by environment variables.

The defaults give the embedded set-up (SQLite and a filesystem Celery broker under var/), so the
product runs on a bare machine. Production names PostgreSQL and Redis in DATABASE_URL and
CELERY_BROKER_URL. See README.md, "Configuration", for every variable.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from greenai_site.env import envbool, envfloat, envint, envlist, envstr, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("GREENAI_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", False)
SECRET_KEY = secret_key(VAR_DIR)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
SITE_ROOT = envstr("SITE_ROOT", "http://localhost:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "collectors",
    "assessments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "greenai_site.middleware.ApiMethodMiddleware",
    "greenai_site.middleware.ControlCharacterMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its lock-out answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "greenai_site.urls"
WSGI_APPLICATION = "greenai_site.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_database_url = envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'greenai.sqlite3'}")
try:
    # Persistent connections (seconds; 0 closes after each request), checked before reuse, so
    # an ingest request or a task does not pay a PostgreSQL connection set-up every time.
    _database = dj_database_url.parse(
        _database_url,
        conn_max_age=envint("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL={_database_url!r} is not usable: {exc}") from exc
if _database["ENGINE"] not in (
    "django.db.backends.postgresql",
    "django.db.backends.sqlite3",
):
    raise ImproperlyConfigured(
        f"DATABASE_URL names {_database['ENGINE']}; GreenAI supports PostgreSQL and SQLite."
    )
# Each test run may name its own test database, so parallel runs on one server never collide.
_test_name = envstr("TEST_DATABASE_NAME", "test_greenai")
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that Celery worker processes in the tests see the same data.
    _database["TEST"] = {"NAME": str(VAR_DIR / f"{_test_name}.sqlite3")}
    _database.setdefault("OPTIONS", {})
    _database["OPTIONS"].setdefault("timeout", 30)
    _database["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    _database["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL;")
else:
    _database["TEST"] = {"NAME": _test_name}
DATABASES = {"default": _database}
DATABASE_IS_POSTGRES = _database["ENGINE"] == "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, chart JSON) ------------------------------------------------------------
_cache_url = envstr("CACHE_URL", "")
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
        }
    }
elif _cache_url in ("", "locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={_cache_url!r}: use redis://HOST:PORT/DB or locmem://.")

# --- Auth -----------------------------------------------------------------------------------
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes, on the login page and the admin): 10 failures for one username,
# or from one address, within 15 minutes lock that username or address out for 15 minutes
# (answered 429 with a lock-out page). Failures are stored in the database (AccessAttempt), so
# every web worker sees them and each test's rollback forgets them.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "greenai_site.middleware.client_address"
# Axes announces itself on every start (manage.py commands included): noise, not information.
AXES_VERBOSE = False
# Keyed hash for collector and personal API tokens; changing it invalidates every token.
TOKEN_HASH_KEY = envstr("TOKEN_HASH_KEY", SECRET_KEY)

# --- I18N / time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": envstr("FILE_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", True)
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# --- Security behind a proxy ----------------------------------------------------------------
# Behind a TLS-terminating proxy (SECURE_PROXY_SSL=1): the proxy's X-Forwarded-Proto says
# whether the request came over HTTPS; plain HTTP is redirected, browsers are told to use HTTPS
# only (HSTS) and cookies never travel in clear. docs/security.md lists the production variables.
SECURE_PROXY_SSL = envbool("SECURE_PROXY_SSL", False)
if SECURE_PROXY_SSL:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 3600, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # Consent to the browsers' preload list is the domain owner's decision: off unless set.
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Content-Security-Policy (django-csp): scripts, styles, fonts, frames and connections from this
# origin only; no inline script or style attribute anywhere (plotly sets its styles through
# the CSSOM, which style-src does not govern). data: images are plotly's own icons and exports.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / envstr("CELERY_BROKER_DIR", "broker")
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu's exchange tables; without this it writes control/ into the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://", "memory://")):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL={CELERY_BROKER_URL!r}: use redis://, amqp:// or filesystem://."
    )
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
ROLLUP_EVERY_SECONDS = envint("ROLLUP_EVERY_SECONDS", 60, minimum=1)
# Devices are split into this many rollup shards (device_id % N); each is a task any worker takes.
ROLLUP_SHARDS = envint("ROLLUP_SHARDS", 8, minimum=1)
# /health reports "lagging" when the oldest unprocessed mark is older than this.
ROLLUP_LAG_WARN_SECONDS = envint("ROLLUP_LAG_WARN_SECONDS", 120, minimum=1)
# Every alert rule is evaluated this often; the fast kinds also after rollups (once a minute).
ALERT_EVALUATE_EVERY_SECONDS = envint("ALERT_EVALUATE_EVERY_SECONDS", 300, minimum=60)
REPORT_DAY_OF_MONTH = envint("REPORT_DAY_OF_MONTH", 1, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "every-minute-rollup-dirty-hours": {
        "task": "assessments.tasks.rollup_dirty_hours",
        "schedule": float(ROLLUP_EVERY_SECONDS),
    },
    "daily-refresh-recommendations": {
        "task": "assessments.tasks.refresh_recommendations",
        "schedule": crontab(hour=3, minute=15),
    },
    "daily-create-raw-sample-partitions": {
        "task": "collectors.tasks.create_raw_sample_partitions",
        "schedule": crontab(hour=0, minute=5),
    },
    "daily-delete-old-raw-samples": {
        "task": "collectors.tasks.delete_old_raw_samples",
        "schedule": crontab(hour=2, minute=30),
    },
    "every-few-minutes-evaluate-alerts": {
        "task": "assessments.tasks.evaluate_alerts",
        "schedule": float(ALERT_EVALUATE_EVERY_SECONDS),
    },
    "monthly-sustainability-reports": {
        "task": "assessments.tasks.generate_monthly_reports",
        "schedule": crontab(day_of_month=REPORT_DAY_OF_MONTH, hour=4, minute=0),
    },
}

# --- GreenAI --------------------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = envint("INGEST_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
# 20,000 samples (the batch maximum) of the longest an agent sends, ~480 bytes each (MIG uuid,
# every field, two tags), are 9.7 MB: 16 MiB leaves room for pretty-printed JSON (docs/ingest.md).
INGEST_MAX_DECOMPRESSED_BYTES = envint(
    "INGEST_MAX_DECOMPRESSED_BYTES", 16 * 1024 * 1024, minimum=1024
)
INGEST_RATE_LIMIT_PER_MINUTE = envint("INGEST_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
RAW_SAMPLE_RETENTION_DAYS = envint("RAW_SAMPLE_RETENTION_DAYS", 35, minimum=1)
INGEST_REJECTION_RETENTION_DAYS = envint("INGEST_REJECTION_RETENTION_DAYS", 90, minimum=1)
# Optional bearer token Prometheus must send to read /metrics (its scrape config's
# `authorization: {credentials: ...}`); unset, /metrics is open (keep it on an internal network).
METRICS_TOKEN = envstr("METRICS_TOKEN", "")
# PostgreSQL: day partitions of raw samples created this many days ahead (collectors.partitions).
RAW_SAMPLE_PARTITIONS_AHEAD_DAYS = envint("RAW_SAMPLE_PARTITIONS_AHEAD_DAYS", 7, minimum=1)
DEFAULT_PUE = envfloat("DEFAULT_PUE", 1.56)
DEFAULT_GRID_INTENSITY_G_PER_KWH = envfloat("DEFAULT_GRID_INTENSITY_G_PER_KWH", 475.0)
REPORT_RECIPIENTS = envlist("REPORT_RECIPIENTS", [])
REPORTS_DIR = "reports"
# Chromium that kaleido drives to draw the report's charts as SVG (Debian's package by default).
CHROMIUM_PATH = envstr("CHROMIUM_PATH", "/usr/bin/chromium")
REPORT_CHART_TIMEOUT_SECONDS = envint("REPORT_CHART_TIMEOUT_SECONDS", 60, minimum=1)

# --- E-mail ---------------------------------------------------------------------------------
# --- Alerts (docs/watch.md) ---------------------------------------------------------------------
# Webhook URLs on loopback, link-local or private addresses are refused unless this is set.
ALERT_WEBHOOK_ALLOW_PRIVATE = envbool("ALERT_WEBHOOK_ALLOW_PRIVATE", False)
ALERT_WEBHOOK_TIMEOUT_SECONDS = envint("ALERT_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# Deliveries failing with a 5xx or a time-out are retried this many times, with back-off.
ALERT_NOTIFY_MAX_RETRIES = envint("ALERT_NOTIFY_MAX_RETRIES", 5, minimum=0)
# Fernet keys (comma-separated) the channels' webhook secrets are encrypted with: the first
# encrypts, every one decrypts (rotation: put a new key first, keep the old ones after it).
# Unset: a key derived from SECRET_KEY (always also tried last).
ALERT_SECRET_KEYS = envlist("ALERT_SECRET_KEYS", [])
for _key in ALERT_SECRET_KEYS:
    try:
        Fernet(_key)
    except (ValueError, TypeError) as _exc:
        raise ImproperlyConfigured(
            "ALERT_SECRET_KEYS: each key must be a Fernet key (32 url-safe base64-encoded bytes; "
            "make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')."
        ) from _exc

EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "greenai@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}
