"""Delivering queued outbound messages to the Cloud API, once.

integrations.tasks holds the thin Celery tasks; the work is here:

- message_deliver: claim a queued row, send it, store the wamid (or the failure).
- message_mark_read_remote: the read receipt for an inbound message (with typing=True, also
  the typing indicator staff's reply shows the customer).
- messages_sweep: re-enqueue rows left queued, and settle rows stuck "sending".

Sending once. A worker claims a row by moving it from queued to sending in one
conditional UPDATE; only the worker whose UPDATE changed the row sends it, and a row
with a whatsapp_message_id is never claimed. A redelivered task (acks_late after a
worker crash) or a sweeper re-enqueue therefore finds nothing to do.

Right before the request leaves, one more conditional UPDATE stamps send_started_at
(each claim clears it). A worker that dies between its claim and that stamp (during the
upload, the template check or the wait for the throughput cap) sent nothing: the
sweeper puts such a row back in the queue after WHATSAPP_SWEEP_SENDING_AFTER_MINUTES,
and it is sent once, later. The stamp only lands while the row is still this worker's
claim, so a sweeper that re-queued a slow worker's row wins and that worker sends nothing.

The one gap: the stamp is set, and the worker died before the UPDATE that saves the
wamid committed. Meta may have accepted the message; nothing else is sent in between,
so the window is one request and one round trip to the database. Such a row stays
"sending" and is never sent again automatically: the sweeper marks it failed as
"Sending was interrupted", and staff decide whether to resend. The send carries
biz_opaque_callback_data "madio:<message id>", which Meta echoes in every status, so
the webhook can still tie such a message's statuses to the row. The same rule holds
for a send whose answer never came (read timeout, connection dropped after the request
went out): Meta may have accepted it, so it is not repeated.
"""

import logging
import mimetypes
import os
import random
import time
from functools import partial

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from chat.errors import TEMPLATE_TITLE, UNAVAILABLE_TITLE, UNCERTAIN_TITLE
from chat.models import Message
from chat.phones import mask_phone
from chat.services import (
    message_send_claim,
    message_send_failed,
    message_send_leaving,
    message_send_media_uploaded,
    message_send_requeue,
    message_send_saved,
    messages_send_sweep,
)
from integrations import metrics, tasks
from integrations.backoff import backoff
from integrations.statuses import apply_pending_statuses
from integrations.templates import TemplateInvalid, template_check
from integrations.throughput import throughput_wait
from integrations.whatsapp import MIN_RETRY_DELAY, CloudAPIClient, WhatsAppError

logger = logging.getLogger(__name__)

CALLBACK_PREFIX = "madio:"

# Our own infrastructure failing (the cache behind the throughput cap, the database) before
# the request to Meta: nothing has left, so the send is tried again, never failed for good.
INFRASTRUCTURE_ERRORS = (RedisError, ConnectionInterrupted, OperationalError, InterfaceError)


class RetryLater(Exception):  # noqa: N818 - a signal to the task, not an error
    """The task should run again after `countdown` seconds."""

    def __init__(self, countdown, reason=""):
        super().__init__(f"retry in {countdown:.1f}s: {reason}")
        self.countdown = countdown
        self.reason = reason


class LocalSendError(Exception):
    """A message this system cannot turn into a Cloud API request."""

    def __init__(self, title, details=""):
        super().__init__(title)
        self.title = title
        self.details = details


def callback_data(message_id):
    return f"{CALLBACK_PREFIX}{message_id}"


def retry_delay(*, attempt, error=None):
    """Seconds before try number attempt+1: exponential with jitter, never below what Meta asked
    (its Retry-After, or the wait its error code needs, trusted up to an hour)."""
    floor = 0
    if error is not None:
        floor = min(max(error.retry_after or 0, MIN_RETRY_DELAY.get(error.code, 0)), 3600)
    return backoff(
        attempt - 1,
        base=settings.WHATSAPP_SEND_RETRY_BASE_SECONDS,
        cap=settings.WHATSAPP_SEND_RETRY_MAX_DELAY,
        at_least=floor,
    )


def _count_send(message, sent_at):
    try:
        metrics.record_message("outbound", message.message_type)
        metrics.record_send_latency(max(0.0, (sent_at - message.created_at).total_seconds()))
    except Exception:  # metrics never break a send
        logger.warning("Could not record send metrics for message %s", message.pk, exc_info=True)


# --- the send ------------------------------------------------------------------------


def _upload(client, message):
    """Upload the kept file to WhatsApp once; the media id is stored so a retry reuses it."""
    name = message.file_name or os.path.basename(message.file.name)
    mime_type = message.mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        with message.file.open("rb") as fileobj:
            media_id = client.upload_media(fileobj, mime_type=mime_type, filename=name)
    except OSError as exc:
        raise LocalSendError("The file to send is missing", type(exc).__name__) from exc
    message_send_media_uploaded(message=message, media_id=media_id)
    return media_id


def _with_uploaded_header(client, message, components):
    """A template whose media header was uploaded from the page: its media id, uploaded once."""
    media_id = message.media_id or _upload(client, message)
    filled = []
    for component in components:
        if str(component.get("type", "")).lower() == "header":
            parameter = dict(component["parameters"][0])
            media = parameter["type"]
            parameter[media] = {**(parameter.get(media) or {}), "id": media_id}
            component = {**component, "parameters": [parameter]}
        filled.append(component)
    return filled


def _prepare(client, message):
    """Everything before the send itself (upload, template check); returns the send, ready to call."""
    to = message.to_phone or message.conversation.recipient
    reply_to = message.reply_to_whatsapp_id or None
    tag = callback_data(message.pk)
    kind = message.message_type
    if kind == Message.Type.TEXT:
        return partial(client.send_text, to, message.message_body, reply_to=reply_to, callback_data=tag)
    if kind in Message.MEDIA_TYPES:
        link = (message.data or {}).get("link") or None
        media_id = message.media_id or None
        if not media_id and not link:
            if not message.file:
                raise LocalSendError("There is no file or link to send")
            media_id = _upload(client, message)
        return partial(
            client.send_media,
            to,
            kind,
            media_id=media_id,
            link=None if media_id else link,
            caption=message.caption,
            filename=message.file_name,
            reply_to=reply_to,
            callback_data=tag,
        )
    if kind == Message.Type.TEMPLATE:
        template = (message.data or {}).get("template") or {}
        name, language = str(template.get("name") or ""), str(template.get("language") or "")
        components = template_check(
            name=name,
            language=language,
            parameters=template.get("parameters"),
            components=template.get("components"),
        )
        if message.file:
            components = _with_uploaded_header(client, message, components)
        return partial(client.send_template, to, name, language, components, reply_to=reply_to, callback_data=tag)
    if kind == Message.Type.REACTION:
        target = (message.data or {}).get("message_id") or message.reply_to_whatsapp_id
        if not target:
            raise LocalSendError("A reaction needs the message it reacts to")
        return partial(client.send_reaction, to, target, message.message_body, callback_data=tag)
    content = (message.data or {}).get(kind)
    if isinstance(content, dict | list):  # location, contacts, interactive: stored as Meta's object
        return partial(client.send, to, kind, content, reply_to=reply_to, callback_data=tag)
    raise LocalSendError(f"This system cannot send a '{kind}' message")


def _wait_for_throughput(message):
    """Take a slot of the number's throughput cap, right before the send; else give the claim back."""
    if throughput_wait(
        number_id=settings.WHATSAPP_PHONE_NUMBER_ID or "default",
        rate=settings.WHATSAPP_SEND_RATE,
        max_wait=settings.WHATSAPP_SEND_RATE_MAX_WAIT,
    ):
        return
    # Waiting is no failed try: back to queued, the attempt not counted, and the task rescheduled.
    message_send_requeue(message=message, uncount=True)
    # The schedule is booked at least max_wait ahead: come back about then, spread out.
    raise RetryLater(max(1.0, settings.WHATSAPP_SEND_RATE_MAX_WAIT) * random.uniform(0.5, 1.5), reason="throughput cap")


def _fail(message, *, code, title, details):
    message_send_failed(message=message, code=code, title=title, details=details)
    logger.info(
        "Message %s to %s failed: code %s, %s", message.pk, mask_phone(message.to_phone), code, (title or "")[:80]
    )
    return "failed"


def _after_infrastructure_error(message, exc):
    """The cache or database failed before the request: give the claim back and retry, counted and bounded."""
    details = f"{type(exc).__name__} before the request to WhatsApp, on try {message.send_attempts}"
    if message.send_attempts >= settings.WHATSAPP_SEND_MAX_ATTEMPTS:
        logger.error("Message %s: %s; no tries left", message.pk, details)
        return _fail(message, code=None, title=UNAVAILABLE_TITLE, details=details)
    countdown = retry_delay(attempt=message.send_attempts)
    # The claim's increment of send_attempts stays: this try counts. If the database is the
    # part that is down, this UPDATE fails too and the row stays "sending" for the sweeper.
    message_send_requeue(message=message)
    logger.warning("Message %s: %s, nothing sent; retrying in %.1fs", message.pk, details, countdown)
    raise RetryLater(countdown, reason=type(exc).__name__)


def _internal_error(message, exc):
    logger.exception("Message %s could not be sent", message.pk)
    return _fail(message, code=None, title="Internal error while sending", details=type(exc).__name__)


def _after_whatsapp_error(message, error):
    if error.uncertain:
        return _fail(
            message,
            code=error.code,
            title=UNCERTAIN_TITLE,
            details=f"{error.title}. WhatsApp may have accepted the message: check before resending.",
        )
    if error.retryable and message.send_attempts < settings.WHATSAPP_SEND_MAX_ATTEMPTS:
        countdown = retry_delay(attempt=message.send_attempts, error=error)
        # Back to queued, so the retried task can claim it again; the error stays visible meanwhile.
        message_send_requeue(message=message, error=(error.code, error.title, error.details))
        logger.info(
            "Message %s: WhatsApp error %s on try %s, retrying in %.1fs",
            message.pk,
            error.code,
            message.send_attempts,
            countdown,
        )
        raise RetryLater(countdown, reason=f"WhatsApp error {error.code}")
    return _fail(message, code=error.code, title=error.title, details=error.details)


SAVE_TRIES = 3


def _save_sent(message, wamid, now):
    """Store the wamid Meta gave; a brief database outage is waited out rather than lost."""
    for attempt in range(SAVE_TRIES):
        try:
            message_send_saved(message=message, wamid=wamid, at=now)
            return
        except (OperationalError, InterfaceError):
            if attempt == SAVE_TRIES - 1 or connection.in_atomic_block:
                # The id is not customer content; an admin can match it against the webhook's statuses.
                logger.error("Message %s was accepted by WhatsApp as %s but could not be saved", message.pk, wamid)
                raise
            connection.close()  # the next query reconnects
            time.sleep(0.5 * 2**attempt)


def message_deliver(*, message_id, client=None):
    """Send one queued outbound message; returns "sent", "failed" or "skipped".

    Raises RetryLater when the task should run again (a retryable WhatsApp error, the
    business number's throughput cap reached for longer than a worker waits, or the cache
    or database failing before the request left).
    """
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if (
        message is None
        or message.direction != Message.Direction.OUTBOUND
        or message.whatsapp_message_id
        or message.status != Message.Status.QUEUED
    ):
        return "skipped"
    if not message_send_claim(message=message):
        return "skipped"  # another worker has it, or it was sent meanwhile
    message.refresh_from_db(fields=["send_attempts", "media_id", "data"])
    client = client or CloudAPIClient.from_settings()
    requested = False
    try:
        send = _prepare(client, message)
        # The cap is taken right before the request, so sends leave at the rate, evenly spaced.
        _wait_for_throughput(message)
        if not message_send_leaving(message=message):
            return "skipped"  # the sweeper took the claim back meanwhile: another try sends it
        requested = True
        wamid = send()
    except WhatsAppError as error:
        return _after_whatsapp_error(message, error)
    except TemplateInvalid as error:
        return _fail(message, code=None, title=TEMPLATE_TITLE, details=str(error))
    except LocalSendError as error:
        return _fail(message, code=None, title=error.title, details=error.details)
    except RetryLater:
        raise
    except INFRASTRUCTURE_ERRORS as exc:
        if not requested:  # nothing left: safe to try again
            return _after_infrastructure_error(message, exc)
        return _internal_error(message, exc)
    except Exception as exc:
        return _internal_error(message, exc)
    # Meta has accepted the message. Until the next UPDATE commits, a crash leaves the
    # row "sending" with no wamid: the one window in which the outcome is not recorded
    # (see the module docstring). Keep anything else out of this gap.
    now = timezone.now()
    _save_sent(message, wamid, now)
    # Statuses can reach the webhook before the wamid above was saved; the inbound side
    # keeps them as unknown, and this applies them now that the wamid is known.
    try:
        apply_pending_statuses(message)
    except Exception:  # the send is done and recorded; a late status is applied by the webhook's own check
        logger.warning("Pending statuses of message %s could not be applied", message.pk, exc_info=True)
    _count_send(message, now)
    return "sent"


# --- read receipts ---------------------------------------------------------------------


def message_mark_read_remote(*, message_id, typing=False, client=None):
    """Tell WhatsApp staff read this inbound message (and the earlier ones). Returns True when done.

    typing: also show the customer "typing…" (Meta's typing indicator is a read receipt with
    typing_indicator; it goes when the reply arrives, or after 25 s).
    Raises RetryLater for a retryable error; a permanent one (an id older than 30 days,
    131009) is logged and dropped: a read receipt is never worth a failure.
    """
    message = Message.objects.filter(pk=message_id, direction=Message.Direction.INBOUND).first()
    if message is None or not message.whatsapp_message_id:
        return False
    client = client or CloudAPIClient.from_settings()
    try:
        return client.mark_read(message.whatsapp_message_id, typing=typing)
    except WhatsAppError as error:
        if error.retryable:
            raise RetryLater(retry_delay(attempt=1, error=error), reason=f"WhatsApp error {error.code}") from None
        logger.warning("WhatsApp refused the read receipt for message %s: code %s", message.pk, error.code)
        return False


# --- the sweeper -------------------------------------------------------------------------


def messages_sweep(*, now=None, enqueue=None):
    """Re-enqueue outbound messages left queued; settle those stuck "sending". Returns the counts.

    The rows change in chat.services.messages_send_sweep (which says which and why); each
    row queued again gets a new task, and the claim makes an extra task harmless.
    """
    now = now or timezone.now()
    enqueue = enqueue or tasks.message_send_task.delay
    stale, never_left, failed = messages_send_sweep(now=now)
    if failed:
        logger.warning("Marked %s message(s) stuck while sending as failed", failed)
    for pk in stale + never_left:
        enqueue(pk)
    if stale:
        logger.info("Re-enqueued %s message(s) left queued", len(stale))
    if never_left:
        logger.info("Re-queued %s message(s) whose worker stopped before sending", len(never_left))
    return {"requeued": len(stale) + len(never_left), "failed": failed}
