"""The record of every change to a factor that moves every team's figures (sites, hardware)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class FactorChange(models.Model):
    """One creation or edit of a site or hardware model: who, when, and the fields it changed.

    `before` and `after` hold only the fields that changed (`before` is empty for a creation), so
    the methodology page can say "PUE 1.3 -> 1.4" without comparing whole rows.
    """

    class ObjectKind(models.TextChoices):
        SITE = "site", "Site"
        HARDWARE_MODEL = "hardware_model", "Hardware model"

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"

    changed_at = models.DateTimeField(default=timezone.now, db_index=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who, in words, kept when the user is deleted: a username or "inventory file site.yaml".
    changed_by_label = models.CharField(max_length=300)
    object_kind = models.CharField(max_length=20, choices=ObjectKind.choices)
    object_id = models.PositiveIntegerField()
    object_name = models.CharField(max_length=200)
    action = models.CharField(max_length=10, choices=Action.choices)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [models.Index(fields=["object_kind", "object_id"])]

    def __str__(self):
        return f"{self.object_kind} {self.object_name} {self.action} by {self.changed_by_label}"
