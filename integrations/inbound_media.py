"""The media of inbound messages: downloaded from Meta, checked and handed to chat.services.

The worker's media_download_task calls media_download; media_sweep (beat) enqueues the
downloads whose task was lost. What the message shows (stored, failed) is chat.services.media's.
"""

import base64
import binascii
import hashlib
import logging
import re
import tempfile
from datetime import timedelta

from django.core.files import File
from django.utils import timezone

from chat.media_rules import MB, RULES_BY_TYPE, extension_for
from chat.models import Message
from chat.payload import as_size, as_text, safe_file_name
from chat.services import message_media_failed, message_media_stored
from integrations import tasks
from integrations.whatsapp import TOKEN_CODES, CloudAPIClient, WhatsAppError

logger = logging.getLogger(__name__)


class MediaProblem(WhatsAppError):
    """A media download that failed for a reason of our own checks, with a sentence for the chat."""

    def __init__(self, sentence, *, retryable):
        super().__init__(sentence, title=sentence, retryable=retryable)
        self.sentence = sentence


def sha256_matches(expected, digest):
    """Compare Meta's sha256 (hex or base64; it documents neither) with a digest; None when unreadable."""
    expected = (expected or "").strip()
    if not expected:
        return None
    if re.fullmatch(r"[0-9a-fA-F]{64}", expected):
        return bytes.fromhex(expected) == digest
    text = expected.replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded == digest if len(decoded) == 32 else None


def media_download(*, message_id, client=None, final_attempt=True):
    """Download, check and store the media of an inbound message.

    Raises WhatsAppError with retryable set (network, 5xx, a broken download) unless
    final_attempt; every other failure, and the last one, is recorded on the message as
    media_state "failed" with a sentence for the chat. Returns the message.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None or message.media_state != Message.MediaState.PENDING:
        return message
    rule = RULES_BY_TYPE.get(message.message_type)
    if rule is None or not message.media_id:
        return _media_failed(message, "This message has no media WhatsApp can hand over.")
    limit = rule.max_bytes
    client = client or CloudAPIClient.from_settings()
    try:
        spooled, info, size, verified = _fetch_media(client, message, limit)
    except WhatsAppError as exc:
        if exc.retryable and not final_attempt:
            logger.info("Media of message %s: %s; will retry", message.pk, exc.title)
            raise
        return _media_failed(message, _media_sentence(exc, message, limit))
    try:
        return _media_store(message, spooled, info, size, verified)
    finally:
        spooled.close()


def _fetch_media(client, message, limit):
    """Look up a fresh URL and download it; an expired URL is looked up again (twice at most)."""
    for attempt in range(3):
        info = client.media_info(message.media_id)
        url = as_text(info.get("url"))
        if not url:
            raise MediaProblem("WhatsApp gave no download address for this media.", retryable=True)
        declared = as_size(info.get("file_size"))
        if declared is not None and declared > limit:
            raise MediaProblem(_too_large(message, limit), retryable=False)
        spooled = tempfile.SpooledTemporaryFile(max_size=MB)
        digest, size = hashlib.sha256(), 0
        try:
            for chunk in client.download_media(url, max_bytes=limit):
                spooled.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        except WhatsAppError as exc:
            spooled.close()
            if exc.http_status in (401, 403, 404, 410):
                if attempt < 2:
                    continue  # the short-lived URL expired: ask for a new one
                raise MediaProblem("WhatsApp's download address kept expiring.", retryable=True) from exc
            if exc.title == "Media too large":
                raise MediaProblem(_too_large(message, limit), retryable=False) from exc
            raise
        if declared is not None and size != declared:
            spooled.close()
            raise MediaProblem("The download from WhatsApp was incomplete.", retryable=True)
        verified = sha256_matches(as_text(info.get("sha256")) or message.sha256, digest.digest())
        if verified is False:
            spooled.close()
            raise MediaProblem(
                "The downloaded file did not match WhatsApp's checksum, so it was not kept.", retryable=True
            )
        spooled.seek(0)
        return spooled, info, size, verified
    raise MediaProblem("WhatsApp's download address kept expiring.", retryable=True)  # pragma: no cover


def _too_large(message, limit):
    return f"The {message.message_type} is larger than WhatsApp's {limit // 1024} KB limit, so it was not downloaded."


def _media_sentence(exc, message, limit):
    if isinstance(exc, MediaProblem):
        return exc.sentence
    if exc.http_status == 401 or exc.code in TOKEN_CODES:
        return "WhatsApp refused our access token, so the media could not be downloaded."
    if exc.http_status == 404 or exc.code == 100:
        return "WhatsApp no longer offers this media for download."
    return f"The media could not be downloaded from WhatsApp ({exc.title})."


def _media_failed(message, sentence):
    message_media_failed(
        message_id=message.pk, reason=sentence, conversation_id=message.conversation_id, pending_only=True
    )
    logger.warning("Media of message %s failed: %s", message.pk, sentence)
    message.refresh_from_db()
    return message


def _media_store(message, spooled, info, size, verified):
    mime_type = as_text(info.get("mime_type"), 128) or message.mime_type
    original = message.file_name
    fallback = f"{message.message_type}-{message.pk}{extension_for(mime_type)}"
    name = safe_file_name(original, fallback=fallback) if original else fallback
    message.file.save(name, File(spooled, name=name), save=False)
    stored = message.file.name
    kept = message_media_stored(
        message=message,
        stored=stored,
        file_name=original or name,
        mime_type=mime_type,
        size=size,
        data={"sha256_unverified": True} if verified is None else None,
    )
    if kept is None:
        # Another worker finished (or failed) first: keep its result, drop our copy.
        message.file.storage.delete(stored)
        message.refresh_from_db()
        return message
    logger.info("Media of message %s stored (%d bytes)", message.pk, size)
    return kept


def media_sweep(*, older_than=timedelta(minutes=30), window=timedelta(days=1), limit=100, enqueue=None):
    """Enqueue downloads still pending long after their task's retries would have ended."""
    enqueue = enqueue or tasks.media_download_task.delay
    now = timezone.now()
    # message_status_idx (status, created_at); the window keeps the scan small.
    pending = Message.objects.filter(
        status=Message.Status.RECEIVED,
        created_at__range=(now - older_than - window, now - older_than),
        media_state=Message.MediaState.PENDING,
    )
    ids = list(pending.order_by("created_at").values_list("pk", flat=True)[:limit])
    for pk in ids:
        enqueue(pk)
    return len(ids)
