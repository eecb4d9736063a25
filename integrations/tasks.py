"""Celery tasks: short interfaces over services. Other areas add their own sections."""

import logging

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


# --- Outbound ------------------------------------------------------------------------
# Sends, read receipts, the sweeper and template sync; the work is in integrations.outbound
# and integrations.templates. Routed to the "whatsapp" queue in settings.CELERY_TASK_ROUTES.

READ_RECEIPT_MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=None)
def message_send_task(self, message_id):
    """Send one queued outbound message (once: see integrations.outbound).

    Retries are bounded by Message.send_attempts (WHATSAPP_SEND_MAX_ATTEMPTS), not by
    Celery's counter, because a wait for the throughput cap is no failed try.
    """
    from integrations.outbound import RetryLater, message_deliver

    try:
        return message_deliver(message_id=message_id)
    except RetryLater as later:
        raise self.retry(countdown=later.countdown)  # noqa: B904 - Retry's cause is the RetryLater


@shared_task(bind=True, acks_late=True, max_retries=READ_RECEIPT_MAX_RETRIES)
def message_mark_read_task(self, message_id):
    """Send WhatsApp the read receipt for an inbound message."""
    from integrations.outbound import RetryLater, message_mark_read_remote

    try:
        return message_mark_read_remote(message_id=message_id)
    except RetryLater as later:
        if self.request.retries >= READ_RECEIPT_MAX_RETRIES:
            logger.warning("Gave up the read receipt for message %s", message_id)
            return False
        raise self.retry(countdown=later.countdown)  # noqa: B904 - Retry's cause is the RetryLater


@shared_task(acks_late=True)
def messages_sweep_task():
    """Beat: re-enqueue messages left queued, settle those stuck sending."""
    from integrations.outbound import messages_sweep

    return messages_sweep()


@shared_task(acks_late=True)
def templates_sync_task():
    """Beat: copy the approved templates from WhatsApp Manager."""
    from integrations.templates import templates_sync
    from integrations.whatsapp import WhatsAppError

    if not (settings.WHATSAPP_ACCESS_TOKEN and settings.WHATSAPP_BUSINESS_ACCOUNT_ID):
        return None
    try:
        return templates_sync()
    except WhatsAppError as error:
        logger.warning("Template sync failed: WhatsApp error %s (%s)", error.code, error.title)
        return None
