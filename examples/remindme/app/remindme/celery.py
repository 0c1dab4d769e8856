"""The Celery app: the worker (and beat, inside it) read Django's settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "remindme.settings")

app = Celery("remindme")
# Every `CELERY_*` setting of settings.py, e.g. CELERY_BEAT_SCHEDULE.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
