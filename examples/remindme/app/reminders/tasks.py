"""The periodic task beat runs: mail every reminder that has come due."""

import logging

from celery import shared_task
from django.core.mail import send_mail
from django.utils import timezone

from .models import Reminder

log = logging.getLogger(__name__)


@shared_task
def send_due_reminders():
    now = timezone.now()
    due = Reminder.objects.filter(sent_at__isnull=True, due_at__lte=now)
    sent = 0
    for reminder in due:
        send_mail(
            subject=f"Reminder: {reminder.text}",
            message=f"You asked to be reminded on {reminder.due_at:%Y-%m-%d}: {reminder.text}",
            from_email=None,
            recipient_list=[reminder.email],
        )
        reminder.sent_at = now
        reminder.save(update_fields=["sent_at"])
        sent += 1
    log.info("sent %d due reminder(s) at %s", sent, now.isoformat())
    return sent
