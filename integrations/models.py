from django.db import models
from django.utils import timezone


class WebhookEvent(models.Model):
    """A delivery from Meta's webhook, kept exactly as received before it is acted on."""

    body = models.BinaryField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_error = models.TextField(blank=True)
    # What processing learned that is not an error: unknown status ids,
    # the webhook's own errors array, fields we keep but do not act on.
    notes = models.JSONField(default=dict, blank=True)
    signed = models.BooleanField(default=True)
    # When a worker took it to process (integrations.inbound.webhook_events_drain); a claim older
    # than CLAIM_EXPIRES is a worker that died, and another takes the event.
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Used by the sweeper that processes events a worker never picked up.
            models.Index(fields=["processed_at", "received_at"], name="webhook_pending_idx"),
        ]

    def __str__(self):
        return f"Webhook event {self.pk}"

    @property
    def body_text(self):
        return bytes(self.body).decode("utf-8", errors="replace")
