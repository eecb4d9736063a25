"""Celery tasks: short interfaces over the services. Each area keeps its own headed section.

This module imports only Celery, Django and leaf modules at its top, so the chat services
can enqueue through it (`tasks.message_send_task`) without importing the integrations;
each task body imports the services it runs.
"""

import logging
from functools import partial

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from integrations.backoff import backoff

logger = logging.getLogger(__name__)

# The backoff of the inbound tasks: from 5 s, doubling to 10 minutes, plus up to half again.
TASK_BACKOFF = {"base": 5, "cap": 600, "spread": (1.0, 1.5)}


def enqueue_on_commit(task, object_id, *, sweeper=None):
    """task.delay(object_id) once the current transaction commits (at once outside one).

    With sweeper (the name of what picks the row up later), a broker that is down must not
    undo the write: the error is logged and the row left to that sweeper. Not
    on_commit(robust=True), whose error path names the callback by __qualname__, which a
    partial lacks.
    """
    if sweeper is None:
        transaction.on_commit(partial(task.delay, object_id))
    else:
        transaction.on_commit(partial(_delay_or_leave, object_id, task=task, sweeper=sweeper))


def _delay_or_leave(object_id, *, task, sweeper):
    try:
        task.delay(object_id)
    except Exception as exc:
        logger.error("%s %s not enqueued (%s); %s will", task.name, object_id, type(exc).__name__, sweeper)


# --- Inbound: webhook deliveries and inbound media (integrations.inbound) -----------------

WEBHOOK_MAX_RETRIES = 5
MEDIA_MAX_RETRIES = 6  # about 5 minutes of tries; media_sweep_task picks up anything left after 30


@shared_task(bind=True, acks_late=True, max_retries=MEDIA_MAX_RETRIES)
def media_download_task(self, message_id):
    """Download the media of one inbound message; transient failures back off and stop."""
    from integrations import inbound_media
    from integrations.whatsapp import WhatsAppError

    final = self.request.retries >= self.max_retries
    try:
        inbound_media.media_download(message_id=message_id, final_attempt=final)
    except WhatsAppError as exc:
        countdown = backoff(self.request.retries, **TASK_BACKOFF, at_least=exc.retry_after)
        raise self.retry(countdown=countdown, exc=exc) from exc
    except (OperationalError, InterfaceError) as exc:
        if final:
            logger.error("Media of message %s: database unavailable; the media sweeper will retry", message_id)
            return
        raise self.retry(countdown=backoff(self.request.retries, **TASK_BACKOFF), exc=exc) from exc


# A delivery wakes a worker through one short-lived cache key: while it is set (a wake is queued or a
# drain runs), further deliveries publish nothing. The drain deletes it once it finds nothing left.
WAKE_KEY = "integrations:webhook-wake"
WAKE_SECONDS = 2  # the longest a delivery can wait on a wake that was lost; the beat sweep backs it


def webhook_wake():
    """Wake a worker to process stored deliveries: at most one Celery message while one is queued or
    draining. A cache or broker that is down must not undo the 200: the sweeper picks the events up."""
    from django.core.cache import cache

    try:
        if cache.add(WAKE_KEY, 1, timeout=WAKE_SECONDS):
            webhook_drain_task.delay()
    except Exception as exc:
        logger.error("Webhook deliveries: no worker woken (%s); the webhook sweeper will", type(exc).__name__)


def webhook_unwake():
    """A drain found nothing left: the next delivery wakes a worker again."""
    from django.core.cache import cache

    try:
        cache.delete(WAKE_KEY)
    except Exception as exc:
        logger.warning("Webhook deliveries: the wake key stays until it expires (%s)", type(exc).__name__)


@shared_task(bind=True, acks_late=True, max_retries=WEBHOOK_MAX_RETRIES)
def webhook_drain_task(self):
    """Process stored deliveries until none is left, claimed in batches (integrations.inbound)."""
    from integrations import inbound

    try:
        return inbound.webhook_events_drain()
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries >= self.max_retries:
            logger.error("Webhook deliveries: database unavailable; the sweeper will process them")
            return 0
        raise self.retry(countdown=backoff(self.request.retries, **TASK_BACKOFF), exc=exc) from exc


@shared_task(acks_late=True)
def webhook_sweep_task():
    """Beat, every minute: events never processed (a lost enqueue)."""
    from integrations import inbound

    return inbound.webhook_events_sweep()


@shared_task(acks_late=True)
def media_sweep_task():
    """Beat, every five minutes: media downloads whose task was lost."""
    from integrations import inbound_media

    return inbound_media.media_sweep()


# --- SharePoint backup (integrations.sharepoint_backup) --------------------------------------


# Eight retries back off from 30 s to an hour (sharepoint_backup.retry_delay): about four hours in all.
# Queue "sharepoint" through settings.CELERY_TASK_ROUTES (Celery deprecates queue= here).
@shared_task(bind=True, acks_late=True, max_retries=8)
def sharepoint_backup_task(self, message_id):
    """Back up one message's stored file to SharePoint; temporary failures retry with backoff."""
    from chat.models import Message
    from integrations.sharepoint import SharePointError
    from integrations.sharepoint_backup import message_backup_to_sharepoint, retry_delay, sharepoint_backup_give_up

    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None:
        return "missing"
    try:
        return message_backup_to_sharepoint(message=message)
    except SharePointError as error:  # only temporary failures get here
        if self.request.retries >= self.max_retries:
            return sharepoint_backup_give_up(message=message, error=error)
        raise self.retry(countdown=retry_delay(error, self.request.retries)) from None


@shared_task(acks_late=True)
def sharepoint_sweep_task():
    """Beat: queue again the backups that seem lost (see sharepoint_backup.sharepoint_sweep)."""
    from integrations.sharepoint_backup import sharepoint_sweep

    return sharepoint_sweep()


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


# A typing indicator is worth nothing seconds later: one quick retry at most, never a backlog.
@shared_task(bind=True, acks_late=True, max_retries=1)
def message_typing_task(self, message_id):
    """Show the customer that staff are typing (it marks the inbound message read too)."""
    from integrations.outbound import RetryLater, message_mark_read_remote

    try:
        return message_mark_read_remote(message_id=message_id, typing=True)
    except RetryLater:
        if self.request.retries >= self.max_retries:
            return False
        raise self.retry(countdown=2)  # noqa: B904 - Retry's cause is the RetryLater


@shared_task(acks_late=True)
def messages_sweep_task():
    """Beat: re-enqueue messages left queued, settle those stuck sending."""
    from integrations.outbound import messages_sweep

    return messages_sweep()


@shared_task(acks_late=True)
def templates_sync_task():
    """Beat, a worker's start, and a composer that found none: copy the templates from WhatsApp Manager.

    Idempotent (the sync updates rows in place); WhatsApp unreachable is logged, never raised.
    """
    from integrations.templates import templates_sync
    from integrations.whatsapp import WhatsAppError

    if not (settings.WHATSAPP_ACCESS_TOKEN and settings.WHATSAPP_BUSINESS_ACCOUNT_ID):
        return None
    try:
        return templates_sync()
    except WhatsAppError as error:
        logger.warning("Template sync failed: WhatsApp error %s (%s)", error.code, error.title)
        return None


# --- Media sent by link, and the worker heartbeat ----------------------------------------


@shared_task(bind=True, acks_late=True, max_retries=4)
def message_fetch_media_task(self, message_id):
    """Keep a copy of media sent by link (for the backup), through the safe fetcher."""
    from chat.services import message_media_failed
    from integrations.fetch import FetchFailed
    from integrations.media_copy import message_keep_media_copy

    try:
        return message_keep_media_copy(message_id=message_id)
    except FetchFailed as failed:
        if self.request.retries >= self.max_retries:
            message_media_failed(message_id=message_id, reason=f"Could not download the file: {failed}")
            return "failed"
        raise self.retry(countdown=backoff(self.request.retries, **{**TASK_BACKOFF, "base": 10})) from None


@shared_task
def worker_heartbeat_task():
    """Run by beat every 30 s: /api/health reports the worker's age from it."""
    from integrations.observability import worker_heartbeat_record

    worker_heartbeat_record()


@worker_ready.connect(weak=False)
def _heartbeat_on_start(**_):
    worker_heartbeat_task()  # the task's body, run here at once


@worker_ready.connect(weak=False)
def _templates_sync_on_start(**_):
    """A fresh install has its templates once a worker runs, not a beat period later."""
    try:
        templates_sync_task.delay()
    except Exception as exc:  # a broker that is down must not stop the worker starting
        logger.warning("Template sync not enqueued at start (%s); beat will sync later", type(exc).__name__)


@worker_ready.connect(weak=False)
def _webhook_drain_on_start(**_):
    """A worker that starts drains what is stored: a wake lost with a dead worker (its key still set) or
    deliveries that came while no worker ran wait for no sweep."""
    webhook_unwake()
    try:
        webhook_drain_task.delay()
    except Exception as exc:  # a broker that is down must not stop the worker starting
        logger.warning("Webhook drain not enqueued at start (%s); the sweeper will", type(exc).__name__)
