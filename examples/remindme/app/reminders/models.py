from django.db import models


class Reminder(models.Model):
    email = models.EmailField()
    text = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
