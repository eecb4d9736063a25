"""Meta's status objects (statuses[] of a webhook delivery) turned into calls of
chat.services.message_status_apply, and the statuses that beat our send to the database.

Used by integrations.inbound (each delivery) and integrations.outbound (right after a
send's wamid is saved), so neither imports the other.
"""

import logging
import re
from datetime import timedelta

from django.utils import timezone

from chat.payload import as_dict, as_int, as_list, as_text, parse_timestamp
from chat.services import STATUS_TIME_FIELDS, message_status_apply
from integrations.models import WebhookEvent

logger = logging.getLogger(__name__)

# How far back apply_pending_statuses looks for statuses that beat our send task to the database.
PENDING_STATUS_WINDOW = timedelta(minutes=15)
# What our send tags each request with (integrations.outbound.callback_data), echoed by Meta.
CALLBACK_RE = re.compile(r"^madio:(\d{1,18})$")


def apply_status(status):
    """Apply one entry of statuses[] to our outbound message; only ever forward.

    Returns what message_status_apply returns, or "unrecognised" (a status name we do not
    know) or "invalid" (no usable id or status).
    """
    wamid = as_text(status.get("id"), 512)
    name = as_text(status.get("status"), 20).lower()
    if not wamid or not name:
        return "invalid"
    if name not in STATUS_TIME_FIELDS:
        return "unrecognised"  # a status WhatsApp added later: kept in the event's notes
    match = CALLBACK_RE.match(as_text(status.get("biz_opaque_callback_data"), 40))
    return message_status_apply(
        wamid=wamid,
        name=name,
        at=parse_timestamp(status.get("timestamp")) or timezone.now(),
        error=_error(status) if name == "failed" else None,
        callback_id=int(match.group(1)) if match else None,
    )


def _error(status):
    """(code, title, details) of a failed status's first error."""
    error = as_dict((as_list(status.get("errors")) or [None])[0])
    details = as_text(as_dict(error.get("error_data")).get("details"))
    return (
        as_int(error.get("code")),
        as_text(error.get("title") or error.get("message"), 255),
        details or as_text(error.get("message")),
    )


def apply_status_quietly(status):
    try:
        return apply_status(status)
    except Exception as exc:
        logger.warning("A pending status could not be applied: %s", type(exc).__name__)
        return "error"


def apply_pending_statuses(message, *, since=None):
    """Apply statuses that arrived before `message`'s wamid was stored; returns how many did.

    The send task calls this right after saving the wamid Meta gave: Meta can report
    "sent" (even "delivered") before that save commits, and process_webhook_event then
    keeps the status in its event's notes as unknown.
    """
    wamid = message.whatsapp_message_id
    if not wamid:
        return 0
    since = since or timezone.now() - PENDING_STATUS_WINDOW
    events = WebhookEvent.objects.filter(received_at__gte=since, notes__has_key="unknown_statuses").order_by("pk")
    applied = 0
    for notes in events.values_list("notes", flat=True)[:500]:
        for status in as_list(as_dict(notes).get("unknown_statuses")):
            if isinstance(status, dict) and status.get("id") == wamid:
                applied += apply_status_quietly(status) == "applied"
    return applied
