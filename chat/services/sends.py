"""What happens to an outbound message while the worker sends it (see integrations.outbound
for the order of these steps and why a message is sent at most once).

Every function is one conditional UPDATE of the row that only lands while the row is in
the state the step expects, and marks the conversation when it changed what staff see.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from chat import changes
from chat.errors import INTERRUPTED_TITLE, UNAVAILABLE_TITLE
from chat.models import Conversation, Message
from chat.services.conversations import conversation_touch


def _unsent(message, **conditions):
    # Only outbound rows are ever sent: a note or an activity line can never be claimed.
    return Message.objects.filter(
        pk=message.pk, direction=Message.Direction.OUTBOUND, whatsapp_message_id=None, **conditions
    )


def _changed(message, count):
    if count:
        changes.conversations_touched([message.conversation_id])
    return count


def message_send_claim(*, message):
    """Take a queued message for this worker (queued -> sending, the try counted); True when this worker has it."""
    claimed = _unsent(message, status=Message.Status.QUEUED).update(
        status=Message.Status.SENDING,
        send_attempts=F("send_attempts") + 1,
        send_started_at=None,
        updated_at=timezone.now(),
    )
    return _changed(message, claimed) == 1


def message_send_requeue(*, message, uncount=False, error=None):
    """Give the claim back (sending -> queued) so a later task sends it.

    uncount: the try does not count (a wait for the throughput cap). error: the WhatsApp
    error (code, title, details) to show meanwhile.
    """
    update = {"status": Message.Status.QUEUED, "updated_at": timezone.now()}
    if uncount:
        update["send_attempts"] = F("send_attempts") - 1
    if error is not None:
        code, title, details = error
        update.update(error_code=code, error_title=(title or "")[:255], error_details=details or "")
    return _changed(message, _unsent(message, status=Message.Status.SENDING).update(**update))


def message_send_leaving(*, message):
    """Stamp the row, durably, right before the request: from here on Meta may accept it.

    Lands only while the row is still this worker's claim; True when it did. Not shown to staff.
    """
    stamped = _unsent(message, status=Message.Status.SENDING, send_started_at=None).update(
        send_started_at=timezone.now()
    )
    return stamped == 1


def message_send_media_uploaded(*, message, media_id):
    """Keep the media id WhatsApp gave for the uploaded file, so a retry reuses it (not shown to staff)."""
    Message.objects.filter(pk=message.pk).update(media_id=media_id)
    message.media_id = media_id


def message_send_saved(*, message, wamid, at):
    """Meta accepted the message: store its wamid, and show it sent (the bubble and the sidebar)."""
    _unsent(message).update(
        whatsapp_message_id=wamid,
        status=Message.Status.SENT,
        sent_at=at,
        updated_at=at,
        error_code=None,
        error_title="",
        error_details="",
    )
    message.whatsapp_message_id = wamid
    conversation_touch(conversation_id=message.conversation_id, at=at)


def message_send_failed(*, message, code, title, details, at=None):
    """The send failed for good (nothing was accepted, or staff must check): show why."""
    at = at or timezone.now()
    _unsent(message).update(
        status=Message.Status.FAILED,
        failed_at=at,
        error_code=code,
        error_title=(title or "")[:255],
        error_details=details or "",
        updated_at=at,
    )
    conversation_touch(conversation_id=message.conversation_id, at=at)


def messages_send_sweep(*, now):
    """Settle the outbound rows the worker lost; returns (stale ids, never-left ids, how many were failed).

    Both lists of ids are queued again and need a new task each.

    Queued rows untouched for WHATSAPP_SWEEP_QUEUED_AFTER_MINUTES (the broker was down,
    a task was lost) are touched, so the next sweep waits a full period before trying them
    again. Rows "sending" for WHATSAPP_SWEEP_SENDING_AFTER_MINUTES belong to a worker that
    died mid-send: those whose request never left (no send_started_at) go back to the queue
    until their tries run out; the others may have been accepted by WhatsApp, so they are
    marked failed ("Sending was interrupted"), never sent again by themselves.
    At most WHATSAPP_SWEEP_BATCH rows of each kind per run.
    """
    batch = settings.WHATSAPP_SWEEP_BATCH
    queued_before = now - timedelta(minutes=settings.WHATSAPP_SWEEP_QUEUED_AFTER_MINUTES)
    outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND, whatsapp_message_id=None)
    stale = list(
        outbound.filter(status=Message.Status.QUEUED, created_at__lt=queued_before, updated_at__lt=queued_before)
        .order_by("created_at")
        .values_list("pk", "conversation_id")[:batch]
    )
    if stale:
        Message.objects.filter(pk__in=[pk for pk, _ in stale], status=Message.Status.QUEUED).update(updated_at=now)
    sending_before = now - timedelta(minutes=settings.WHATSAPP_SWEEP_SENDING_AFTER_MINUTES)
    stuck = outbound.filter(status=Message.Status.SENDING, updated_at__lt=sending_before)
    never_left = list(
        stuck.filter(send_started_at=None, send_attempts__lt=settings.WHATSAPP_SEND_MAX_ATTEMPTS)
        .order_by("created_at")
        .values_list("pk", "conversation_id")[:batch]
    )
    if never_left:
        # The same conditions again, so a worker that stamped its request meanwhile keeps its claim.
        Message.objects.filter(
            pk__in=[pk for pk, _ in never_left],
            status=Message.Status.SENDING,
            send_started_at=None,
            updated_at__lt=sending_before,
        ).update(status=Message.Status.QUEUED, updated_at=now)
    settled = list(stuck.order_by("created_at").values_list("pk", "conversation_id", "send_started_at")[:batch])
    if settled:
        _settle_stuck(
            [pk for pk, _, started in settled if started is not None],
            now,
            started=True,
            title=INTERRUPTED_TITLE,
            details="The worker stopped during the send. WhatsApp may have accepted it; "
            "check with the customer before resending.",
        )
        _settle_stuck(
            [pk for pk, _, started in settled if started is None],
            now,
            started=False,
            title=UNAVAILABLE_TITLE,
            details="The worker stopped before the request left, on every try; nothing was sent.",
        )
        Conversation.objects.filter(pk__in={cid for _, cid, _ in settled}).update(updated_at=now)
    changes.conversations_touched([cid for _, cid in stale + never_left] + [cid for _, cid, _ in settled])
    return [pk for pk, _ in stale], [pk for pk, _ in never_left], len(settled)


def _settle_stuck(pks, now, *, started, title, details):
    if pks:
        # send_started_at as read: a row stamped since then may have left, and is not "nothing was sent".
        Message.objects.filter(pk__in=pks, status=Message.Status.SENDING, send_started_at__isnull=not started).update(
            status=Message.Status.FAILED,
            failed_at=now,
            error_code=None,
            error_title=title,
            error_details=details,
            updated_at=now,
        )
