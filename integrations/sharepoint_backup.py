"""The SharePoint backup of every stored media file: what goes where, and the state on the message.

Callers: queue_sharepoint_backup(message) once a file is stored (inbound download, outbound
send); integrations.tasks.sharepoint_backup_task runs message_backup_to_sharepoint; the beat
sweeper runs sharepoint_sweep; `manage.py sharepoint_backfill` and the admin action cover
the rest. Graph itself is integrations.sharepoint.
"""

import logging
import os
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from chat.media_rules import extension_for
from chat.models import Message
from chat.services import message_backup_queue, message_backup_set
from chat.services.media import message_backup_disabled
from integrations import tasks
from integrations.backoff import backoff
from integrations.metrics import record_sharepoint_upload
from integrations.sharepoint import SharePointError, safe_name, sharepoint_client

log = logging.getLogger(__name__)

State = Message.BackupState
BACKOFF_BASE = 30
BACKOFF_MAX = 3600
MAX_PATH_LENGTH = 400  # SharePoint's limit on the decoded path, site and library included
SITE_PATH_ALLOWANCE = 100  # room for "sites/<site>/Shared Documents/" that we do not know
LOCK_SECONDS = 3600  # longer than any upload; a dead worker's lock expires by itself
SWEEP_WINDOW = timedelta(days=7)  # older messages are the backfill command's job
SWEEP_PENDING_AFTER = timedelta(hours=2)  # longer than the longest backoff between retries
SWEEP_FAILED_AFTER = timedelta(hours=6)  # a temporary failure that outlasted the retries waits this long
SWEEP_UPLOADING_AFTER = timedelta(seconds=LOCK_SECONDS)  # the worker died mid-upload; its lock has expired
SWEEP_BATCH = 200


def record_backup_outcome(outcome, *, message_id, reason=""):
    """The one place every backup outcome passes through (logs; counted as
    sharepoint_uploads_total{status=outcome}). Outcomes: uploaded, already_uploaded,
    disabled, no_file, busy, retry, failed. reason is Graph's error code, never content."""
    level = logging.WARNING if outcome == "failed" else logging.INFO
    log.log(level, "SharePoint backup of message %s: %s%s", message_id, outcome, f" ({reason})" if reason else "")
    record_sharepoint_upload(outcome)


def queue_sharepoint_backup(message):
    """Back up the message's stored file after commit (chat.services.message_backup_queue,
    which keeps the backup's state on the message, where the chat poll shows it)."""
    message_backup_queue(message=message)


def backup_location(message):
    """(folder, file name) for the message's file: SHAREPOINT_FOLDER/<yyyy>/<mm>/<customer>/<name>,
    every part a safe SharePoint name. The name starts with the time and our message id,
    so it is unique and the same on every try."""
    root = [safe_name(part) for part in settings.SHAREPOINT_FOLDER.split("/") if part.strip()]
    if root and root[0].lower() == "forms":  # reserved as a library's root folder
        root[0] = "_forms"
    when = timezone.localtime(message.created_at)
    conversation = message.conversation
    customer = conversation.other_party or conversation.wa_user_id or message.other_party or "unknown"
    folder = [*root, f"{when:%Y}", f"{when:%m}", safe_name(customer)]
    original = message.file_name or os.path.basename(message.file.name or "")
    if not original:
        original = f"{message.message_type}{extension_for(message.mime_type)}"
    prefix = f"{when:%Y%m%d-%H%M%S}_{message.pk}_"
    room = min(255, MAX_PATH_LENGTH - 1 - SITE_PATH_ALLOWANCE - len("/".join(folder)) - 1) - len(prefix)
    if room < 8:
        raise SharePointError("SHAREPOINT_FOLDER is too long for SharePoint's 400-character paths", retryable=False)
    return folder, prefix + safe_name(original, max_length=room, fallback=message.message_type)


def message_backup_to_sharepoint(*, message):
    """Upload the message's stored file to SharePoint once, and record the result on it.

    Returns the outcome. A permanent failure is recorded (state failed, Graph's code and
    message in sharepoint_error); a temporary one leaves the state pending and raises
    SharePointError(retryable=True) for the caller to try again later.
    """
    if message.sharepoint_state == State.UPLOADED and message.sharepoint_item_id:
        record_backup_outcome("already_uploaded", message_id=message.pk)
        return "already_uploaded"
    if not message.file:
        record_backup_outcome("no_file", message_id=message.pk)
        return "no_file"
    if not settings.SHAREPOINT_ENABLED:
        message_backup_disabled(message=message)
        return "disabled"
    # The lock, not the state, keeps a second worker out: "uploading" can be left behind by a
    # worker that died mid-upload, and the sweeper takes that up once the lock has expired.
    lock = f"sharepoint:lock:{message.pk}"
    if not cache.add(lock, 1, LOCK_SECONDS):
        # Another worker is uploading this file right now (the sweeper and a retry can meet).
        record_backup_outcome("busy", message_id=message.pk)
        return "busy"
    try:
        message.refresh_from_db(fields=["sharepoint_state", "sharepoint_item_id"])
        if message.sharepoint_state == State.UPLOADED and message.sharepoint_item_id:
            record_backup_outcome("already_uploaded", message_id=message.pk)
            return "already_uploaded"
        return _upload(message)
    finally:
        cache.delete(lock)


def _upload(message):
    message_backup_set(message=message, sharepoint_state=State.UPLOADING, sharepoint_retry_at=None)
    try:
        folder, name = backup_location(message)
        with message.file.open("rb") as fileobj:
            fileobj.seek(0, os.SEEK_END)
            size = fileobj.tell()
            item = sharepoint_client().upload(
                folder=folder, name=name, fileobj=fileobj, size=size, session_key=f"sharepoint:session:{message.pk}"
            )
    except OSError:
        error = SharePointError("The stored file is missing or unreadable", retryable=False, code="fileMissing")
        return _record_failure(message, error)
    except SharePointError as error:
        if error.retryable:
            message_backup_set(message=message, sharepoint_state=State.PENDING, sharepoint_error=str(error))
            record_backup_outcome("retry", message_id=message.pk, reason=str(error.code or error.status or "error"))
            raise
        return _record_failure(message, error)
    message_backup_set(
        message=message,
        sharepoint_state=State.UPLOADED,
        sharepoint_item_id=str(item.get("id", "")),
        media_url=str(item.get("webUrl", ""))[:2000],
        sharepoint_error="",
        sharepoint_retry_at=None,
    )
    record_backup_outcome("uploaded", message_id=message.pk)
    return "uploaded"


def _record_failure(message, error, retry_at=None):
    message_backup_set(
        message=message, sharepoint_state=State.FAILED, sharepoint_error=str(error), sharepoint_retry_at=retry_at
    )
    record_backup_outcome("failed", message_id=message.pk, reason=str(error.code or error.status or "error"))
    return "failed"


def sharepoint_backup_give_up(*, message, error):
    """After the last retry of a temporary failure: failed, with the time the sweeper tries again."""
    return _record_failure(message, error, retry_at=timezone.now() + SWEEP_FAILED_AFTER)


def retry_delay(error, retries):
    """Seconds before retry number retries+1: Graph's Retry-After when it gave one (never
    less, plus up to a tenth of it, at most 30 s, of jitter), otherwise exponential backoff
    from 30 s to an hour, with jitter."""
    if error.retry_after is not None:
        jitter = min(30, error.retry_after / 10 + 1)
        return error.retry_after + backoff(0, base=jitter, cap=jitter, spread=(0.0, 1.0))
    return backoff(retries, base=BACKOFF_BASE, cap=BACKOFF_MAX)


def _not_backed_up():
    return Message.objects.exclude(file="").exclude(sharepoint_state=State.UPLOADED)


def sharepoint_sweep(*, now=None, limit=SWEEP_BATCH):
    """Queue again the recent backups that seem lost: pending for hours, left uploading by a worker
    that died, failed for a temporary reason whose retry time has come, or skipped while
    SharePoint was off. Bounded by the window and the batch, so its
    cost does not grow with history. Returns how many were queued."""
    if not settings.SHAREPOINT_ENABLED:
        return 0
    now = now or timezone.now()
    due = (
        Q(sharepoint_state=State.PENDING, updated_at__lt=now - SWEEP_PENDING_AFTER)
        | Q(sharepoint_state=State.UPLOADING, updated_at__lt=now - SWEEP_UPLOADING_AFTER)
        | Q(sharepoint_state=State.DISABLED)
        | Q(sharepoint_state=State.FAILED, sharepoint_retry_at__lte=now)
    )
    ids = list(
        _not_backed_up()
        .filter(due, created_at__gte=now - SWEEP_WINDOW)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        tasks.sharepoint_backup_task.delay(pk)
    if ids:
        log.info("SharePoint sweep queued %d backups again", len(ids))
    return len(ids)


def messages_to_back_up(*, since=None):
    """Every message with a stored file that is not on SharePoint yet, oldest first."""
    messages = _not_backed_up().select_related("conversation").order_by("pk")
    if since is not None:
        messages = messages.filter(created_at__gte=since)
    return messages


def backup_in_progress(message, *, now=None):
    """True while a worker is uploading the file (a stale "uploading" is the sweeper's to take up)."""
    now = now or timezone.now()
    return message.sharepoint_state == State.UPLOADING and message.updated_at >= now - SWEEP_UPLOADING_AFTER


def sharepoint_backup_retry(*, messages):
    """Queue the backup of the given messages again (the admin's action), leaving out those
    already uploaded or being uploaded right now; returns how many were queued."""
    count = 0
    for message in messages:
        if message.file and message.sharepoint_state != State.UPLOADED and not backup_in_progress(message):
            queue_sharepoint_backup(message)
            count += 1
    return count
