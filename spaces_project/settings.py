"""Spaces settings: one env-driven file that runs with zero configuration.

Every real service is chosen by an environment variable; with none set, Spaces runs on SQLite, an
in-memory channel layer and in-process Celery tasks. `.env.example` lists every variable.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


DEBUG = env_bool("DJANGO_DEBUG", default=True)
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEV_SECRET_KEY
if not DEBUG and SECRET_KEY in {DEV_SECRET_KEY, "change-me"}:
    raise ImproperlyConfigured(
        "DJANGO_DEBUG is false but DJANGO_SECRET_KEY is unset or the built-in development key: set "
        "DJANGO_SECRET_KEY to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# The public base URL of this deployment, used in share links and the websocket URL handed to clients.
SPACES_PUBLIC_URL = os.environ.get("SPACES_PUBLIC_URL", "http://127.0.0.1:8000")

# --- Proxies, TLS, sessions and origins (docs/security.md) -----------------------------------
# Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDRs); none by default, so a
# client cannot pick the address its rate limits are counted under (spaces_project/common/security.py).
SPACES_TRUSTED_PROXIES = [p.strip() for p in os.environ.get("SPACES_TRUSTED_PROXIES", "").split(",") if p.strip()]
for _proxy in SPACES_TRUSTED_PROXIES:  # a typo fails at start instead of trusting the wrong peers
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"SPACES_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network") from None
if SPACES_TRUSTED_PROXIES:
    # Believed only from a trusted proxy: ClientAddressMiddleware drops it from anyone else.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Clients reach Spaces over HTTPS (directly or through a TLS-terminating proxy). On by default when not
# DEBUG; a plain-http deployment (bin/cluster on loopback) says SPACES_TLS=false explicitly.
SPACES_TLS = env_bool("SPACES_TLS", default=not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SPACES_SSL_REDIRECT", default=SPACES_TLS)
SESSION_COOKIE_SECURE = SPACES_TLS
CSRF_COOKIE_SECURE = SPACES_TLS
SECURE_HSTS_SECONDS = env_int("SPACES_HSTS_SECONDS", 31_536_000 if SPACES_TLS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SPACES_HSTS_INCLUDE_SUBDOMAINS", default=SPACES_TLS)
SECURE_HSTS_PRELOAD = env_bool("SPACES_HSTS_PRELOAD", default=False)
# The probes and the readiness check of a load balancer talk plain http to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_HTTPONLY = True
# Where Django admin lives (a less guessable path is one more step for a password sprayer).
SPACES_ADMIN_PATH = os.environ.get("SPACES_ADMIN_PATH", "admin/").strip("/") + "/"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "spaces_project.common",
    "accounts",
    "rooms",
    "tickets",
    "moderation",
]

MIDDLEWARE = [
    "spaces_project.common.middleware.input_guard_middleware",  # NUL bytes, over-size API bodies
    "spaces_project.common.security.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "spaces_project.common.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SuspendedSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The database store, refusing malformed session keys before any query (spaces_project/common/sessions.py).
SESSION_ENGINE = "spaces_project.common.sessions"
ROOT_URLCONF = "spaces_project.urls"
ASGI_APPLICATION = "spaces_project.asgi.application"
WSGI_APPLICATION = None

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
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
if os.environ.get("SPACES_TEST_DB_NAME"):
    # Lets two test runs share one PostgreSQL server without clobbering each other's database.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["SPACES_TEST_DB_NAME"]}
# The admission hot path's statements (token lookup, join read, first-join write) are prepared on each
# PostgreSQL connection (spaces_project/common/precompiled.py, hot_cursor). Turn off behind a pooler that
# cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
SPACES_DB_PREPARED_STATEMENTS = env_bool("SPACES_DB_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("username", "display_name", "email")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if env_bool("SPACES_FAST_PASSWORD_HASHER"):
    # Tests only: PBKDF2 at full strength dominates the run time of an auth-heavy suite.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
LOGIN_URL = "/login"

# --- Redis, cache, channel layer ------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")

if REDIS_URL:
    CACHES = {
        "default": {
            # Degrades (misses, dropped writes) while Redis is unreachable: spaces_project/common/cache.py.
            "BACKEND": "spaces_project.common.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("SPACES_CACHE_PREFIX", "spaces"),
            # Bounded waits: a hung Redis must not hang requests (refused connections fail at once).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # redis-py 8 traps: its 5 s default socket timeout cuts off channels-redis' 5 s blocking
                # reads, and its pool fails fast past 100 connections (docs/protocol.md, "Redis").
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 10,
                        "socket_keepalive": True,
                        "max_connections": env_int("SPACES_CHANNEL_MAX_CONNECTIONS", 1000),
                    }
                ],
                "prefix": os.environ.get("SPACES_CHANNEL_PREFIX", "spaces"),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Realtime: the prefix of the Redis channels (a test run uses its own). The fast path writes frames to
# uvicorn's transports directly (spaces_project/realtime/uvicorn_fastpath.py); false = the plain ASGI send
# on every server, e.g. if a uvicorn upgrade broke the fast path's test.
SPACES_CHANNEL_PREFIX = os.environ.get("SPACES_CHANNEL_PREFIX", "spaces")
SPACES_WS_FAST_PATH = env_bool("SPACES_WS_FAST_PATH", default=True)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Without a broker, tasks run in-process (the embedded default). CELERY_TASK_ALWAYS_EAGER forces it.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}
# rooms: end Spaces whose host team is gone; repair drift between the database and LiveKit.
CELERY_BEAT_SCHEDULE["rooms-end-abandoned"] = {"task": "rooms.tasks.spaces_end_abandoned", "schedule": 30.0}
CELERY_BEAT_SCHEDULE["rooms-livekit-reconcile"] = {
    "task": "rooms.tasks.livekit_reconcile",
    "schedule": float(env_int("SPACES_LIVEKIT_RECONCILE_S", 30)),
}
# tickets: free the seats of expired holds; create and send due host payouts (and re-send stuck ones).
CELERY_BEAT_SCHEDULE["tickets-expire-holds"] = {"task": "tickets.tasks.ticket_holds_expire", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["tickets-payouts"] = {"task": "tickets.tasks.payouts_process_due", "schedule": 300.0}
CELERY_BEAT_SCHEDULE["tickets-refunds"] = {"task": "tickets.tasks.refunds_process_due", "schedule": 300.0}
CELERY_BEAT_SCHEDULE["rooms-recordings-sweep"] = {"task": "rooms.tasks.recordings_sweep", "schedule": 60.0}
# rooms discovery: reminder notifications (tasks in rooms/discovery/tasks.py); catch up on lost hand-offs.
CELERY_BEAT_SCHEDULE["rooms-reminders-sweep"] = {"task": "rooms.reminders_sweep", "schedule": 60.0}
# Tests point a worker at a private queue; an unacked task of a killed worker is redelivered after this.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600)}

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ActiveTokenAuthentication",
        "accounts.authentication.ActiveSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Strict JSON, bounded nesting, no NUL or lone surrogate in any string (spaces_project/common/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "spaces_project.common.parsers.JSONParser",
        "spaces_project.common.parsers.FormParser",
        "spaces_project.common.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "spaces_project.common.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "spaces_project.common.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "spaces_project.common.openapi.SpacesAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("SPACES_THROTTLE_ANON", "120/min"),
        "user": os.environ.get("SPACES_THROTTLE_USER", "1200/min"),
        "register": os.environ.get("SPACES_THROTTLE_REGISTER", "20/hour"),
        "login": os.environ.get("SPACES_THROTTLE_LOGIN", "30/min"),
        "hand": os.environ.get("SPACES_THROTTLE_HAND", "20/min"),
        "reaction": os.environ.get("SPACES_THROTTLE_REACTION", "120/min"),
        "message": os.environ.get("SPACES_THROTTLE_MESSAGE", "10/min"),
        "report": os.environ.get("SPACES_THROTTLE_REPORT", "10/hour"),
        "join": os.environ.get("SPACES_THROTTLE_JOIN", "60/min"),
        "guest_join": os.environ.get("SPACES_THROTTLE_GUEST_JOIN", "10/min"),
        "clip": os.environ.get("SPACES_THROTTLE_CLIP", "20/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Throttles key anonymous callers by REMOTE_ADDR alone: ClientAddressMiddleware has already resolved it
    # from trusted proxies, and DRF's own reading of X-Forwarded-For would believe any client.
    "NUM_PROXIES": 0,
}
if env_bool("SPACES_DISABLE_THROTTLING"):
    REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = []

SPECTACULAR_SETTINGS = {
    "TITLE": "Spaces API",
    "DESCRIPTION": "Live audio rooms: accounts, Spaces, stage, tickets and moderation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the ban scope choices used by the ban endpoints and by remove (`ban`).
    "ENUM_NAME_OVERRIDES": {"BanScopeEnum": "moderation.models.BAN_SCOPES"},
}
# One name per choice set shared by several serializers (drf-spectacular would make up "RoleA15Enum").
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "RoleEnum": "rooms.models.Role.choices",
    "InvitationRoleEnum": ["speaker", "cohost"],
    "BanScopeEnum": "moderation.models.BAN_SCOPES",
}

# --- Product rules ----------------------------------------------------------------------------
SPACES_HOST_MIN_FOLLOWERS = env_int("SPACES_HOST_MIN_FOLLOWERS", 600)
SPACES_HOST_ABSENT_END_S = env_int("SPACES_HOST_ABSENT_END_S", 300)
SPACES_MAX_SCHEDULE_DAYS = env_int("SPACES_MAX_SCHEDULE_DAYS", 14)
SPACES_MAX_COHOSTS = env_int("SPACES_MAX_COHOSTS", 2)
SPACES_MAX_SPEAKERS = env_int("SPACES_MAX_SPEAKERS", 10)
SPACES_DEFAULT_LISTENER_CAP = env_int("SPACES_DEFAULT_LISTENER_CAP", 0)  # 0 = no cap
# Reactions broadcast per Space per second, all processes together (past it: accepted, not broadcast).
SPACES_REACTIONS_PER_SPACE_S = env_int("SPACES_REACTIONS_PER_SPACE_S", 50)
# Who delivers reminder notifications besides the record and the websocket push
# (rooms/discovery/services/notifications.py): "rooms.discovery.services.notifications.ConsoleSender" (log),
# "rooms.discovery.services.notifications.EmailSender" (EMAIL_BACKEND), or your class. The names of before
# the move ("rooms.notifications.…") still work.
SPACES_NOTIFICATION_SENDER = os.environ.get(
    "SPACES_NOTIFICATION_SENDER", "rooms.discovery.services.notifications.ConsoleSender"
)

# --- LiveKit ----------------------------------------------------------------------------------
LIVEKIT_URL = os.environ.get("LIVEKIT_URL", "")  # the ws(s):// URL handed to clients
LIVEKIT_API_URL = os.environ.get("LIVEKIT_API_URL", "")  # http(s):// URL for server calls; derived if empty
LIVEKIT_API_KEY = os.environ.get("LIVEKIT_API_KEY", "")
LIVEKIT_API_SECRET = os.environ.get("LIVEKIT_API_SECRET", "")
LIVEKIT_TOKEN_TTL_S = env_int("LIVEKIT_TOKEN_TTL_S", 600)
# A guest listener's LiveKit token and event-stream pass (docs/security.md, "Guest listeners").
SPACES_GUEST_TTL_S = env_int("SPACES_GUEST_TTL_S", 300)
LIVEKIT_API_TIMEOUT_S = env_int("LIVEKIT_API_TIMEOUT_S", 5)  # per server API call
# A Space's room survives this long with nobody in it (a host reconnecting); auto-end covers the rest.
LIVEKIT_ROOM_EMPTY_TIMEOUT_S = env_int("LIVEKIT_ROOM_EMPTY_TIMEOUT_S", 300)
# Room names are <prefix><space id>; tests use a per-run prefix so runs never share a LiveKit room.
LIVEKIT_ROOM_PREFIX = os.environ.get("LIVEKIT_ROOM_PREFIX", "space-")
# Webhook signing tokens: LiveKit signs for 5 minutes from now; allow this much clock skew, and refuse a
# token valid for longer than the max TTL (a replay window) or dated in the future.
LIVEKIT_WEBHOOK_LEEWAY_S = env_int("LIVEKIT_WEBHOOK_LEEWAY_S", 60)
LIVEKIT_WEBHOOK_MAX_TTL_S = env_int("LIVEKIT_WEBHOOK_MAX_TTL_S", 600)

# --- Recordings and the audio agent (rooms/agent/, docs/architecture.md "The audio agent") -------
# Recordings go to Django's default storage: the filesystem under MEDIA_ROOT unless STORAGES says otherwise.
MEDIA_ROOT = os.environ.get("SPACES_MEDIA_ROOT", str(BASE_DIR / "media"))
if os.environ.get("SPACES_S3_BUCKET"):
    # Any S3-compatible object store through django-storages (tested against SeaweedFS, bin/services s3).
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": os.environ["SPACES_S3_BUCKET"],
                "endpoint_url": os.environ.get("SPACES_S3_ENDPOINT_URL") or None,
                "access_key": os.environ.get("SPACES_S3_ACCESS_KEY_ID", ""),
                "secret_key": os.environ.get("SPACES_S3_SECRET_ACCESS_KEY", ""),
                "region_name": os.environ.get("SPACES_S3_REGION", "us-east-1"),
                "addressing_style": "path",
                "file_overwrite": False,
                "default_acl": None,
                "querystring_auth": True,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
# An agent renews its lease on a Space every RENEW_S; another agent may take the Space once it has not
# been renewed for LEASE_S. A killed agent's Space therefore records again within LEASE_S + POLL_S.
SPACES_AGENT_LEASE_S = env_float("SPACES_AGENT_LEASE_S", 15.0)
SPACES_AGENT_RENEW_S = env_float("SPACES_AGENT_RENEW_S", 5.0)
SPACES_AGENT_POLL_S = env_float("SPACES_AGENT_POLL_S", 1.0)
SPACES_AGENT_MAX_SPACES = env_int("SPACES_AGENT_MAX_SPACES", 20)
# The mix is stored in parts of this many seconds: a killed agent loses at most its unstored part.
SPACES_RECORDING_PART_S = env_float("SPACES_RECORDING_PART_S", 2.0)
SPACES_RECORDING_RETENTION_DAYS = env_int("SPACES_RECORDING_RETENTION_DAYS", 30)

# --- HLS overflow (rooms/services/hls.py, docs/operations.md "HLS and a CDN") -----------------------
# The agent writes each HLS Space's playlist and segments under HLS_DIR/<space id>/; nginx serves them at
# HLS_URL (absolute, or empty for root-relative "/hls/..." behind the same host) after checking the
# per-listener signature (HLS_SECRET, nginx `secure_link`). A link lives HLS_LINK_TTL_S: the bound on
# how long a removed or banned listener keeps hearing the Space. Listeners past HLS_THRESHOLD (the
# Space's own ``hls_threshold`` wins; 0 = never) get HLS instead of WebRTC (the figure: docs/operations.md).
SPACES_HLS_DIR = os.environ.get("SPACES_HLS_DIR", str(BASE_DIR / ".services" / "hls"))
SPACES_HLS_URL = os.environ.get("SPACES_HLS_URL", "")
SPACES_HLS_SECRET = os.environ.get("SPACES_HLS_SECRET", "")
SPACES_HLS_LINK_TTL_S = env_int("SPACES_HLS_LINK_TTL_S", 120)
SPACES_HLS_THRESHOLD = env_int("SPACES_HLS_THRESHOLD", 2500)
SPACES_HLS_SEGMENT_S = env_float("SPACES_HLS_SEGMENT_S", 1.0)

# --- Live captions (rooms/captions/, docs/captions.md) ---------------------------------------------
# A dotted path to a class with ``transcribe(pcm16k) -> str``; the default ships inside moonshine-cpp.
SPACES_CAPTIONS_ENGINE = os.environ.get("SPACES_CAPTIONS_ENGINE", "rooms.captions.engine.MoonshineEngine")
# How many of an agent's Spaces it captions at once (the rest are recorded without captions).
SPACES_CAPTIONS_MAX_SPACES = env_int("SPACES_CAPTIONS_MAX_SPACES", 2)
# A partial caption at most every PARTIAL_S of an ongoing phrase (dropped if the engine is busy).
SPACES_CAPTIONS_PARTIAL_S = env_float("SPACES_CAPTIONS_PARTIAL_S", 1.5)

# --- Stripe -----------------------------------------------------------------------------------
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
# The web client loads Stripe.js (served only by Stripe) for card entry when this is set.
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")  # e.g. stripe-mock on loopback in tests

# --- Tickets ----------------------------------------------------------------------------------
TICKETS_HOLD_TTL_S = env_int("TICKETS_HOLD_TTL_S", 900)  # a seat is held this long while payment is pending
TICKETS_REFUND_WINDOW_S = env_int("TICKETS_REFUND_WINDOW_S", 86400)  # after a Space ends, before its payout
TICKETS_HOST_SHARE_BPS = env_int("TICKETS_HOST_SHARE_BPS", 9700)  # 97 % ...
TICKETS_HOST_SHARE_AFTER_THRESHOLD_BPS = env_int("TICKETS_HOST_SHARE_AFTER_THRESHOLD_BPS", 8000)  # ... then 80 %
TICKETS_HOST_THRESHOLD_CENTS = env_int("TICKETS_HOST_THRESHOLD_CENTS", 5_000_000)  # lifetime host earnings
TICKETS_PAYOUT_STUCK_S = env_int("TICKETS_PAYOUT_STUCK_S", 600)  # a "submitting" payout older than this is re-sent
TICKETS_REFUND_STUCK_S = env_int("TICKETS_REFUND_STUCK_S", 900)  # a "refund_pending" ticket older than this: again
TICKETS_WEBHOOK_TOLERANCE_S = env_int("TICKETS_WEBHOOK_TOLERANCE_S", 300)  # Stripe signature timestamp tolerance

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
