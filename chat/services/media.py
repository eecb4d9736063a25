"""The state of a message's file: its download (inbound media, the copy of media sent by
link) and its SharePoint backup. The HTTP of each lives in integrations; the rows change here."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat import changes
from chat.models import Message
from integrations import metrics, tasks

logger = logging.getLogger(__name__)

State = Message.BackupState

_disabled_logged = False


def message_media_failed(*, message_id, reason, conversation_id=None, pending_only=False):
    """The file could not be had: media_state failed, with a sentence for the chat.

    pending_only: only while the download is still pending (another worker may have finished it).
    conversation_id, when the caller knows it, saves reading it.
    """
    rows = Message.objects.filter(pk=message_id)
    if pending_only:
        rows = rows.filter(media_state=Message.MediaState.PENDING)
    if conversation_id is None:
        conversation_id = rows.values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        return
    if rows.update(media_state=Message.MediaState.FAILED, media_error=reason[:1000], updated_at=timezone.now()):
        changes.conversations_touched([conversation_id])


def message_media_stored(*, message, stored, file_name, mime_type, size, data=None):
    """A downloaded inbound file, already saved in storage as `stored`: the message shows it.

    Returns the message as stored, or None when another worker finished (or failed) first;
    the caller then drops its copy. data: what the message's data gains (a checksum note).
    """
    with transaction.atomic():
        current = Message.objects.select_for_update().get(pk=message.pk)
        if current.media_state != Message.MediaState.PENDING:
            return None
        Message.objects.filter(pk=message.pk).update(
            file=stored,
            file_name=file_name,
            mime_type=mime_type,
            file_size=size,
            media_state=Message.MediaState.READY,
            media_error="",
            data={**current.data, **(data or {})},
            updated_at=timezone.now(),
        )
        changes.conversations_touched([message.conversation_id])
    message.refresh_from_db()
    message_backup_queue(message=message)
    return message


def message_media_copy_stored(*, message, size, mime_type):
    """The copy of media sent by link is kept (message.file already saved in storage)."""
    Message.objects.filter(pk=message.pk).update(
        file=message.file.name,
        file_size=size,
        mime_type=mime_type,
        media_state=Message.MediaState.READY,
        media_error="",
        updated_at=timezone.now(),
    )
    changes.conversations_touched([message.conversation_id])
    message_backup_queue(message=message)


# --- the SharePoint backup's state ---------------------------------------------------------


def message_backup_set(*, message, **fields):
    """Write the backup fields without touching the rest of the row; the chat poll sees the change."""
    fields["updated_at"] = timezone.now()
    Message.objects.filter(pk=message.pk).update(**fields)
    changes.conversations_touched([message.conversation_id])
    for name, value in fields.items():
        setattr(message, name, value)


def _log_disabled_once():
    global _disabled_logged
    if not _disabled_logged:
        _disabled_logged = True
        logger.info(
            "SharePoint backup is off: set SHAREPOINT_TENANT_ID, CLIENT_ID, CLIENT_SECRET and SITE_ID to turn it on"
        )


def message_backup_disabled(*, message):
    """SharePoint is not configured: the message says so, and nothing is queued."""
    _log_disabled_once()
    if message.sharepoint_state != State.DISABLED:
        message_backup_set(message=message, sharepoint_state=State.DISABLED, sharepoint_error="")
    logger.info("SharePoint backup of message %s: disabled", message.pk)
    metrics.record_sharepoint_upload("disabled")


def message_backup_queue(*, message):
    """Back up the message's stored file after the current transaction commits.

    Call it once the file is stored (the inbound media download, the outbound send).
    Marks the message pending first, so the sweeper finds it even if the queue loses the task.
    With SharePoint not configured it marks the message disabled and queues nothing.
    """
    if not message.file or message.sharepoint_state == State.UPLOADED:
        return
    if not settings.SHAREPOINT_ENABLED:
        message_backup_disabled(message=message)
        return
    message_backup_set(message=message, sharepoint_state=State.PENDING, sharepoint_error="", sharepoint_retry_at=None)
    tasks.enqueue_on_commit(tasks.sharepoint_backup_task, message.pk)
