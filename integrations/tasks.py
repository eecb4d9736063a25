"""Celery tasks: short interfaces over services. Each area adds its tasks in its own section."""

import random

from celery import shared_task
from celery.signals import worker_ready

# --- Media sent by link, and the worker heartbeat (issue 6: REST API) -------------------
from integrations.fetch import FetchFailed


def _backoff(retries):
    """Exponential with jitter: about 10 s, 20 s, 40 s, 80 s."""
    return 10 * 2**retries + random.uniform(0, 5)


@shared_task(bind=True, acks_late=True, max_retries=4)
def message_fetch_media_task(self, message_id):
    """Keep a copy of media sent by link (for the backup), through the safe fetcher."""
    from integrations.media_copy import message_keep_media_copy, message_media_failed

    try:
        return message_keep_media_copy(message_id=message_id)
    except FetchFailed as failed:
        if self.request.retries >= self.max_retries:
            message_media_failed(message_id=message_id, reason=f"Could not download the file: {failed}")
            return "failed"
        raise self.retry(countdown=_backoff(self.request.retries)) from None


@shared_task
def worker_heartbeat_task():
    """Run by beat every 30 s: /api/health reports the worker's age from it."""
    from integrations.observability import worker_heartbeat_record

    worker_heartbeat_record()


@worker_ready.connect(weak=False)
def _heartbeat_on_start(**_):
    from integrations.observability import worker_heartbeat_record

    worker_heartbeat_record()
