"""Celery tasks: short interfaces over the services that do the work."""

import logging
import random

from celery import shared_task
from django.db import InterfaceError, OperationalError

from integrations import inbound
from integrations.whatsapp import WhatsAppError

logger = logging.getLogger(__name__)


def backoff(retries, *, base=5, cap=600, at_least=None):
    """Seconds before try number retries + 1: exponential, capped, with jitter."""
    delay = min(cap, base * 2**retries)
    delay = max(delay, at_least or 0)
    return delay + random.uniform(0, delay / 2)


# --- Inbound: webhook deliveries and inbound media (integrations.inbound) -----------------

WEBHOOK_MAX_RETRIES = 5
MEDIA_MAX_RETRIES = 6  # about 5 minutes of tries; media_sweep_task picks up anything left after 30


@shared_task(bind=True, acks_late=True, max_retries=WEBHOOK_MAX_RETRIES)
def webhook_process_task(self, event_id):
    """Process one stored webhook delivery. Everything in the delivery is handled inside
    process_webhook_event; only an unreachable database is retried here."""
    try:
        inbound.process_webhook_event(event_id)
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries >= self.max_retries:
            logger.error("Webhook event %s: database unavailable; the sweeper will process it", event_id)
            return
        raise self.retry(countdown=backoff(self.request.retries), exc=exc) from exc


@shared_task(bind=True, acks_late=True, max_retries=MEDIA_MAX_RETRIES)
def media_download_task(self, message_id):
    """Download the media of one inbound message; transient failures back off and stop."""
    final = self.request.retries >= self.max_retries
    try:
        inbound.media_download(message_id=message_id, final_attempt=final)
    except WhatsAppError as exc:
        raise self.retry(countdown=backoff(self.request.retries, at_least=exc.retry_after), exc=exc) from exc
    except (OperationalError, InterfaceError) as exc:
        if final:
            logger.error("Media of message %s: database unavailable; the media sweeper will retry", message_id)
            return
        raise self.retry(countdown=backoff(self.request.retries), exc=exc) from exc


@shared_task(acks_late=True)
def webhook_sweep_task():
    """Beat, every minute: events never processed (a lost enqueue)."""
    return inbound.webhook_events_sweep()


@shared_task(acks_late=True)
def media_sweep_task():
    """Beat, every five minutes: media downloads whose task was lost."""
    return inbound.media_sweep()
