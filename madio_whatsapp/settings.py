"""Settings for Madio WhatsApp, read from the environment and an optional .env file.

With nothing set the product runs embedded: SQLite, media files, the cache and
Celery's queue all live under DATA_DIR. PostgreSQL and Redis take over when
DATABASE_URL and REDIS_URL are set. Every variable is listed in .env.example.

Sections, top to bottom: core, files, database, cache, Celery, WhatsApp, SharePoint,
outbound fetches, entity links, chat page, security, REST API, metrics and health, logging.
"""

import ipaddress
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def fail(variable, why):
    """Stop startup with one line that names the variable, not a traceback."""
    sys.exit(f"Configuration error: {variable} {why}")


TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def flag(variable, default):
    value = env.str(variable, default=str(default)).strip().lower()
    if value not in TRUE | FALSE:
        fail(variable, f"must be true or false, not '{value[:20]}'")
    return value in TRUE


def read(variable, cast, default):
    try:
        return cast(variable, default=default)
    except Exception:
        fail(variable, f"has a value that is not a valid {cast.__name__}")


# --- Core -------------------------------------------------------------------------
DEBUG = flag("DEBUG", False)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key():
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        fail("SECRET_KEY", "must be set when DEBUG is off")
    # Development only: one random key per DATA_DIR, so sessions survive restarts.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = read("ALLOWED_HOSTS", env.list, ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = read("CSRF_TRUSTED_ORIGINS", env.list, [])
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "chat",
    "links",
    "integrations",
    "simulator",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "madio_whatsapp",
    "csp",
    "axes",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "csp.middleware.CSPMiddleware",
    # Axes turns a locked-out login into its answer on the way out, so it comes last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "madio_whatsapp.urls"
WSGI_APPLICATION = "madio_whatsapp.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FORMS_URLFIELD_ASSUME_HTTPS = True

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

# --- Files ------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
# Media is never served from a public path: the chat serves it through a view
# that checks permissions. MEDIA_URL exists only because Django requires it.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
MEDIA_URL = "/media-not-public/"
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Database ---------------------------------------------------------------------
_database_url = env.str("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
if _database_url.split("://", 1)[0] not in environ.Env.DB_SCHEMES or "://" not in _database_url:
    fail("DATABASE_URL", "is not a database URL Django understands (postgres://user@host:5432/name)")
try:
    DATABASES = {"default": env.db_url_config(_database_url)}
except Exception:
    fail("DATABASE_URL", "is not a database URL Django understands (postgres://user@host:5432/name)")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker write at the same time: WAL lets readers
    # go on, IMMEDIATE transactions wait for the write lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so a Celery worker process started by a test sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

# --- Cache ------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "madio",
        }
    }
else:
    # A file cache is shared by the web server and the worker on one machine.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

# --- Celery -----------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        # Kombu keeps its exchange tables here; unset, it writes them to ./control.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
    # The filesystem transport has no broadcast exchange for remote control.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Keep database connections across tasks; madio_whatsapp.celery closes only old or broken ones.
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Unit tests only; every other run uses a real worker process.
CELERY_TASK_ALWAYS_EAGER = False
# Separate queues, so a slow SharePoint upload never delays a chat send; every other
# task (webhook processing, media downloads, sweepers) runs on "default".
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "integrations.tasks.message_send_task": {"queue": "whatsapp"},
    "integrations.tasks.message_mark_read_task": {"queue": "whatsapp"},
    "integrations.tasks.message_typing_task": {"queue": "whatsapp"},
    "integrations.tasks.sharepoint_backup_task": {"queue": "sharepoint"},
    "integrations.tasks.sharepoint_sweep_task": {"queue": "sharepoint"},
}
WHATSAPP_TEMPLATE_SYNC_MINUTES = read("WHATSAPP_TEMPLATE_SYNC_MINUTES", env.int, 60)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # The heartbeat /api/health reads (WORKER_HEARTBEAT_MAX_AGE).
    "worker-heartbeat": {"task": "integrations.tasks.worker_heartbeat_task", "schedule": 30.0},
    # Lost enqueues: events still unprocessed after a minute, media still pending after half an hour.
    "webhook-sweep": {"task": "integrations.tasks.webhook_sweep_task", "schedule": 60.0},
    "media-sweep": {"task": "integrations.tasks.media_sweep_task", "schedule": 300.0},
    # Backups that were never queued or were lost on the way.
    "sharepoint-sweep": {"task": "integrations.tasks.sharepoint_sweep_task", "schedule": 15 * 60},
    # Sends queued and untouched, or stuck "sending" (WHATSAPP_SWEEP_*).
    "whatsapp-send-sweeper": {"task": "integrations.tasks.messages_sweep_task", "schedule": 60.0},
    # Snoozed conversations whose time has come open again.
    "conversations-wake": {"task": "chat.tasks.conversations_wake_task", "schedule": 60.0},
    "whatsapp-templates-sync": {
        "task": "integrations.tasks.templates_sync_task",
        "schedule": WHATSAPP_TEMPLATE_SYNC_MINUTES * 60.0,
    },
}

# --- WhatsApp Cloud API -----------------------------------------------------------
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_BUSINESS_ACCOUNT_ID = env.str("WHATSAPP_BUSINESS_ACCOUNT_ID", default="")
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_WEBHOOK_VERIFY_TOKEN = env.str("WHATSAPP_WEBHOOK_VERIFY_TOKEN", default="")
WHATSAPP_APP_SECRET = env.str("WHATSAPP_APP_SECRET", default="")
WHATSAPP_API_BASE_URL = env.str("WHATSAPP_API_BASE_URL", default="https://graph.facebook.com").rstrip("/")
WHATSAPP_API_VERSION = env.str("WHATSAPP_API_VERSION", default="v24.0")
# Turn off the local 24-hour window check for numbers with history from before
# this system; Meta's own 131047 then explains a refused send.
WHATSAPP_ENFORCE_SERVICE_WINDOW = flag("WHATSAPP_ENFORCE_SERVICE_WINDOW", True)
# Inbound webhook: Meta sends deliveries of up to 3 MB; anything larger is answered 413 unread.
WHATSAPP_WEBHOOK_MAX_BYTES = read("WHATSAPP_WEBHOOK_MAX_BYTES", env.int, 3_670_016)
# Outbound sends: seconds to wait for the Cloud API's answer (a send with no answer is not repeated).
WHATSAPP_API_READ_TIMEOUT = read("WHATSAPP_API_READ_TIMEOUT", env.float, 30.0)
# Meta's throughput cap per business number, messages per second, shared by all workers.
WHATSAPP_SEND_RATE = read("WHATSAPP_SEND_RATE", env.float, 80.0)
# How long a worker waits for a throughput slot before rescheduling the send instead.
WHATSAPP_SEND_RATE_MAX_WAIT = read("WHATSAPP_SEND_RATE_MAX_WAIT", env.float, 5.0)
# Tries per message for retryable errors (then failed), and the backoff between them.
WHATSAPP_SEND_MAX_ATTEMPTS = read("WHATSAPP_SEND_MAX_ATTEMPTS", env.int, 6)
WHATSAPP_SEND_RETRY_BASE_SECONDS = read("WHATSAPP_SEND_RETRY_BASE_SECONDS", env.float, 4.0)
WHATSAPP_SEND_RETRY_MAX_DELAY = read("WHATSAPP_SEND_RETRY_MAX_DELAY", env.float, 300.0)
# The sweeper: re-enqueue messages queued and untouched this long (longer than the
# longest backoff), and settle messages stuck "sending" this long.
WHATSAPP_SWEEP_QUEUED_AFTER_MINUTES = read("WHATSAPP_SWEEP_QUEUED_AFTER_MINUTES", env.int, 10)
WHATSAPP_SWEEP_SENDING_AFTER_MINUTES = read("WHATSAPP_SWEEP_SENDING_AFTER_MINUTES", env.int, 15)
WHATSAPP_SWEEP_BATCH = 1000

# --- SharePoint (Microsoft Graph) -------------------------------------------------
SHAREPOINT_TENANT_ID = env.str("SHAREPOINT_TENANT_ID", default="")
SHAREPOINT_CLIENT_ID = env.str("SHAREPOINT_CLIENT_ID", default="")
SHAREPOINT_CLIENT_SECRET = env.str("SHAREPOINT_CLIENT_SECRET", default="")
SHAREPOINT_SITE_ID = env.str("SHAREPOINT_SITE_ID", default="")
SHAREPOINT_FOLDER = env.str("SHAREPOINT_FOLDER", default="Madio ERP/WhatsApp Media")
SHAREPOINT_AUTHORITY = env.str("SHAREPOINT_AUTHORITY", default="https://login.microsoftonline.com").rstrip("/")
GRAPH_API_BASE_URL = env.str("GRAPH_API_BASE_URL", default="https://graph.microsoft.com").rstrip("/")
SHAREPOINT_ENABLED = all((SHAREPOINT_TENANT_ID, SHAREPOINT_CLIENT_ID, SHAREPOINT_CLIENT_SECRET, SHAREPOINT_SITE_ID))

# --- Outbound fetches (media downloads by the server) ------------------------------
# Networks the safe fetcher may reach despite being private (tests only; keep empty in production).
FETCH_ALLOWED_NETWORKS = [net for net in read("FETCH_ALLOWED_NETWORKS", env.list, []) if net.strip()]
try:
    for _network in FETCH_ALLOWED_NETWORKS:
        ipaddress.ip_network(_network.strip(), strict=False)
except ValueError:
    fail("FETCH_ALLOWED_NETWORKS", "must be a comma-separated list of networks such as 127.0.0.2/32")
# CA bundle for https downloads by the server; empty means certifi's (tests point it at their own CA).
FETCH_CA_BUNDLE = env.str("FETCH_CA_BUNDLE", default="")
# Upper bound on any one fetch by the server (seconds).
FETCH_TIMEOUT = read("FETCH_TIMEOUT", env.int, 30)

# --- Entity links -----------------------------------------------------------------
ENTITY_TYPES = read("ENTITY_TYPES", env.list, ["project", "petty_cash", "lead", "employee"])
# Region for numbers typed without a country code (e.g. "IN"); empty means the code is required.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="") or None

# --- Chat page --------------------------------------------------------------------
# Seconds between the page's polls for new messages and statuses (3 to 5).
CHAT_POLL_SECONDS = read("CHAT_POLL_SECONDS", env.int, 3)
if not 3 <= CHAT_POLL_SECONDS <= 5:
    fail("CHAT_POLL_SECONDS", "must be between 3 and 5")
# A hidden tab keeps polling, slowly, so its title count and desktop notifications stay current.
CHAT_BACKGROUND_POLL_SECONDS = read("CHAT_BACKGROUND_POLL_SECONDS", env.int, 20)
if not 10 <= CHAT_BACKGROUND_POLL_SECONDS <= 60:
    fail("CHAT_BACKGROUND_POLL_SECONDS", "must be between 10 and 60")
# Off (the default): a shared inbox, everyone sees every conversation. On: agents see their
# own and unassigned conversations; users with chat.see_all_conversations still see all.
CHAT_AGENTS_SEE_OWN_ONLY = read("CHAT_AGENTS_SEE_OWN_ONLY", env.bool, False)
# How long "Ravi is replying" lasts after Ravi's last keystroke or look at the conversation.
CHAT_PRESENCE_SECONDS = 15

# --- Security: login, sessions, HTTPS, CSP, login lockout --------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:page"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sessions are read from the cache and written through to the database (Django's cached_db),
# so a poll costs no session query, a cache flush logs nobody out, and while Redis is down
# they come from the database instead of failing every page.
SESSION_ENGINE = "madio_whatsapp.sessions"
# How long chat.access may trust a cached "may use the chat" answer. Group and permission
# changes made through Django (the admin, the ORM) clear it at once; this bounds anything else.
CHAT_PERMISSION_CACHE_SECONDS = read("CHAT_PERMISSION_CACHE_SECONDS", env.int, 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = flag("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The CSRF token reaches HTMX through the hx-headers attribute in base.html, never from script reading the cookie.
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if flag("BEHIND_TLS_PROXY", False) else None
# Behind the TLS proxy plain http is redirected to https (the health probe may stay on http).
SECURE_SSL_REDIRECT = flag("SECURE_SSL_REDIRECT", SECURE_PROXY_SSL_HEADER is not None)
SECURE_REDIRECT_EXEMPT = [r"^api/health$"]
# HSTS is sent only on https responses; one year in production unless set.
SECURE_HSTS_SECONDS = read("SECURE_HSTS_SECONDS", env.int, 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = flag("SECURE_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
# ERP pages may frame the entity view from the same site.
X_FRAME_OPTIONS = "SAMEORIGIN"
SILENCED_SYSTEM_CHECKS = [
    # X-Frame-Options is SAMEORIGIN on purpose: ERP pages on this site frame the entity view.
    "security.W019",
    # Joining the browsers' HSTS preload list is the domain owner's decision (SECURE_HSTS_PRELOAD).
    "security.W021",
]

# No inline script, no eval, nothing from another site. htmx comes from django-htmx's
# vendored file; base.html turns off its eval'd trigger filters and injected indicator
# styles through <meta name="htmx-config">, so neither needs an exception here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the empty favicon; blob: for previews of a file picked in the composer.
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        # Same rule as X-Frame-Options: ERP pages on this site may frame the entity view.
        "frame-ancestors": ["'self'"],
    }
}

# Login lockout (django-axes) on the web login page and /api/auth/token alike: after
# LOGIN_FAILURE_LIMIT failures for one username from one address, that pair waits
# LOGIN_LOCKOUT_MINUTES. Keyed on the pair, so a stranger cannot lock staff out everywhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = read("LOGIN_FAILURE_LIMIT", env.int, 5)
AXES_COOLOFF_TIME = timedelta(minutes=read("LOGIN_LOCKOUT_MINUTES", env.int, 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "madio_whatsapp.security.client_ip"
AXES_LOCKOUT_CALLABLE = "madio_whatsapp.security.lockout_response"
# Failed attempts are kept in the database (admin: Axes > Access attempts; `manage.py axes_reset` unlocks).
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# Passwords never reach axes' records; neither do tokens.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "refresh", "access", "token"]

# --- REST API: JWT, rate limit, errors, docs ---------------------------------------
# Requests per user (per address before login) on every API endpoint, counted in the
# default cache, so all web processes share one count when REDIS_URL is set.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="100/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["chat.api_throttle.ApiRateThrottle"],
    "EXCEPTION_HANDLER": "chat.api_errors.exception_handler",
    # Behind the TLS proxy, count anonymous requests by the client's address, not the proxy's.
    "NUM_PROXIES": 1 if SECURE_PROXY_SSL_HEADER else None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=30),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=read("JWT_REFRESH_DAYS", env.int, 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Madio WhatsApp API",
    "DESCRIPTION": "Send and read WhatsApp messages from the Madio ERP. Every endpoint takes a JWT bearer token "
    "from POST /api/auth/token.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A conversation's status is read and written: one enum, under the name generated clients already use.
    "ENUM_NAME_OVERRIDES": {"ConversationOutputStatusEnum": "chat.models.Conversation.Status"},
}

# --- Metrics and health -----------------------------------------------------------
# Addresses that may read /metrics without a token (REMOTE_ADDR, so the proxy's address behind one).
METRICS_ALLOWED_IPS = read("METRICS_ALLOWED_IPS", env.list, ["127.0.0.1", "::1"])
# A bearer token that also opens /metrics (Authorization: Bearer <token>); empty means addresses only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Web and worker processes write their metrics here (prometheus_client multiprocess mode);
# `make run` empties it at start. It must be set before prometheus_client is imported.
PROMETHEUS_MULTIPROC_DIR = Path(env.str("PROMETHEUS_MULTIPROC_DIR", default=str(DATA_DIR / "prometheus")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)
# The worker refreshes a heartbeat in the cache; /api/health calls it down when older than this.
WORKER_HEARTBEAT_MAX_AGE = read("WORKER_HEARTBEAT_MAX_AGE", env.int, 120)

# --- Logging ----------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler masks phone numbers; message content is never logged at all.
    "filters": {"mask_phones": {"()": "madio_whatsapp.logging.MaskPhonesFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_phones"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Failures and lockouts are logged (WARNING, usernames and addresses masked); not every successful login.
        "axes": {"level": "WARNING"},
    },
}
