from django.db import models
from django.utils import timezone


class Note(models.Model):
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.text
