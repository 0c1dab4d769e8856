"""Settings for the remindme example.

Everything that differs between runs comes from environment variables, so that
teamster can point the app and its worker at the PostgreSQL, Redis and SMTP sink it
started.
"""

import os
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

# A fixed key: this app only ever runs in tests.
SECRET_KEY = "remindme-example-insecure-key-do-not-use-in-production"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["reminders"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "remindme.urls"
WSGI_APPLICATION = "remindme.wsgi.application"
APPEND_SLASH = False
TEMPLATES = []


def _database_from_url(url):
    """postgresql://user:pass@host:port/db -> a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


_database_url = os.environ.get("DATABASE_URL")
if not _database_url:
    raise ImproperlyConfigured("DATABASE_URL is not set")
DATABASES = {"default": _database_from_url(_database_url)}

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = "remindme@example.test"

# The broker comes from the celery kind (CELERY_BROKER_URL, from `broker` in the bundle).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Hourly: within a demo it runs only because time travel moves the clock past the hour.
CELERY_BEAT_SCHEDULE = {
    "send-due-reminders": {
        "task": "reminders.tasks.send_due_reminders",
        "schedule": 3600.0,
    },
}

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
