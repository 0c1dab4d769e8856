"""remindme: the reminders app of hitchserve's tutorial, on Django and Celery."""

# Celery's app is loaded with Django, so that `@shared_task` tasks bind to it.
from .celery import app as celery_app

__all__ = ["celery_app"]
