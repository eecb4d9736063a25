from django.conf import settings
from django.db import models
from django.utils import timezone


class EntityLink(models.Model):
    """A message linked to an ERP record (a project, petty-cash request, lead, employee)."""

    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, related_name="entity_links")
    # One of settings.ENTITY_TYPES; checked by links.services, not by a DB constraint,
    # so adding a type is a setting, not a migration.
    entity_type = models.CharField(max_length=32)
    entity_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "whatsapp_entity_links"
        constraints = [
            models.UniqueConstraint(fields=["message", "entity_type", "entity_id"], name="entity_link_unique"),
        ]
        indexes = [
            # Used by the entity view and /api/whatsapp/entity-messages.
            models.Index(fields=["entity_type", "entity_id"], name="entity_link_lookup_idx"),
        ]

    def __str__(self):
        return f"{self.entity_type} {self.entity_id}"
