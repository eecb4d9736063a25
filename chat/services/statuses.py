"""What WhatsApp reports about our outbound messages: statuses only ever move forward."""

import logging

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from chat import changes
from chat.errors import INTERRUPTED_TITLE, UNCERTAIN_TITLE
from chat.models import STATUS_RANK, Message

logger = logging.getLogger(__name__)

# The statuses Meta reports, with the time each one sets; "played" (a voice message was played) counts as read.
STATUS_TIME_FIELDS = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "read": "seen_at",
    "played": "seen_at",
    "failed": "failed_at",
}
# The times a status implies: a later status fills in those of the earlier ones it skipped.
READ_TIMES = ("sent_at", "delivered_at", "seen_at")
IMPLIED_TIMES = {"sent": ("sent_at",), "delivered": ("sent_at", "delivered_at"), "failed": ("failed_at",)}
# Statuses that change nothing but the status and its times (no error, no data).
PLAIN_STATUSES = ("sent", "delivered", "read")
# A send the sweeper settled as failed without knowing: a status proves it was accepted after all.
UNSETTLED_TITLES = (INTERRUPTED_TITLE, UNCERTAIN_TITLE)


def message_status_apply(*, wamid, name, at, error=None, callback_id=None):
    """Apply one status WhatsApp reported for our outbound message `wamid`; only ever forward.

    name is one of STATUS_TIME_FIELDS; error the (code, title, details) of a failure;
    callback_id the message id our send tagged the request with, which finds a send whose
    wamid was never saved. Returns "applied", "unchanged" (a duplicate or a late one),
    "unknown" (no message has that wamid yet) or "not_outbound" (the wamid is a customer's message).
    """
    if name in PLAIN_STATUSES and _move_forward(wamid, name, at):
        logger.info("Status %s applied", name)
        return "applied"
    # Failures, "played", and whatever _move_forward did not change: read under a lock to see why.
    with transaction.atomic(savepoint=False):
        message = Message.objects.select_for_update().filter(whatsapp_message_id=wamid).first()
        changed = set()
        if message is None:
            message = _unsaved_send(callback_id, wamid)
            if message is None:
                return "unknown"
            changed.update(("whatsapp_message_id", "status", "error_code", "error_title", "error_details", "failed_at"))
        if message.direction != Message.Direction.OUTBOUND:
            return "not_outbound"
        target = Message.Status.READ if name == "played" else name
        if STATUS_RANK[target] > STATUS_RANK.get(message.status, 0):
            message.status = target
            changed.add("status")
            if target == Message.Status.FAILED:
                message.error_code, message.error_title, message.error_details = error or (None, "", "")
                changed.update(("error_code", "error_title", "error_details"))
        for field in IMPLIED_TIMES.get(name, READ_TIMES):
            if getattr(message, field) is None:
                setattr(message, field, at)
                changed.add(field)
        if name == "played" and "played_at" not in message.data:
            message.data = {**message.data, "played_at": at.isoformat()}
            changed.add("data")
        if not changed:
            return "unchanged"
        message.updated_at = timezone.now()
        message.save(update_fields=[*changed, "updated_at"])
        changes.conversations_touched([message.conversation_id])
    logger.info("Message %s: status %s applied", message.pk, name)
    return "applied"


def _move_forward(wamid, name, at):
    """Apply a sent, delivered or read status in one conditional UPDATE, without a lock.

    The status only moves forward and only empty times are filled, as message_status_apply
    does under its lock; a concurrent status re-evaluates these conditions on the row it
    waited for. Returns whether a message changed; when none did, the locked read tells why
    (no message has the wamid yet, nothing is new, or it is a customer's message).
    """
    behind = [status for status, rank in STATUS_RANK.items() if rank < STATUS_RANK[name]]
    times = IMPLIED_TIMES.get(name, READ_TIMES)
    stale = Q(status__in=behind)
    for field in times:
        stale |= Q(**{f"{field}__isnull": True})
    rows = Message.objects.filter(stale, whatsapp_message_id=wamid, direction=Message.Direction.OUTBOUND)
    # The conversation to mark, read first: the filter no longer matches once the row moved.
    conversation_id = rows.values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        return False
    update = {field: Coalesce(F(field), Value(at)) for field in times}
    update["status"] = Case(When(status__in=behind, then=Value(name)), default=F("status"))
    moved = rows.update(**update, updated_at=timezone.now()) > 0
    if moved:
        changes.conversations_touched([conversation_id])
    return moved


def _unsaved_send(callback_id, wamid):
    """The outbound message this status is about, when Meta accepted it but its wamid was never saved.

    The send task tags every send with biz_opaque_callback_data "madio:<message id>" and Meta
    echoes it in statuses. A worker that died between Meta's answer and saving the wamid left
    the row "sending" (or the sweeper marked it failed as interrupted, or the answer never
    came): the status proves the send was accepted, so the wamid is recorded here.
    Call inside the transaction that applies the status.
    """
    if callback_id is None:
        return None
    message = (
        Message.objects.select_for_update()
        .filter(pk=callback_id, direction=Message.Direction.OUTBOUND, whatsapp_message_id=None)
        .filter(Q(status=Message.Status.SENDING) | Q(status=Message.Status.FAILED, error_title__in=UNSETTLED_TITLES))
        .first()
    )
    if message is None:
        return None
    logger.warning("Message %s: its wamid was recovered from a status's callback data", message.pk)
    message.whatsapp_message_id = wamid
    message.status = Message.Status.SENDING  # moved forward below by the status itself
    message.error_code, message.error_title, message.error_details = None, "", ""
    message.failed_at = None
    return message
