"""What Meta's webhook delivers, turned into messages, statuses and files.

integrations.webhook stores each delivery as a WebhookEvent; the worker then calls
process_webhook_event(event_id). Everything here is idempotent: replaying an event
changes nothing, because a message is known by its WhatsApp id (wamid) and statuses
only move forward. Nothing a delivery carries is dropped: what is not understood is
kept as an "unsupported" message with its raw object, or in the event's notes.

Shapes follow shared/research/whatsapp-cloud-api.md.
"""

import base64
import binascii
import hashlib
import json
import logging
import mimetypes
import re
import tempfile
import time
import traceback
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from django.core.cache import cache
from django.core.files import File
from django.db import DataError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from chat.errors import INTERRUPTED_TITLE, UNCERTAIN_TITLE
from chat.models import STATUS_RANK, Conversation, Message
from chat.phones import InvalidPhone, normalize_phone
from chat.services import conversation_apply_message, conversation_get_or_create, message_preview
from integrations import metrics
from integrations.models import WebhookEvent
from integrations.sharepoint_backup import queue_sharepoint_backup
from integrations.whatsapp import TOKEN_CODES, CloudAPIClient, WhatsAppError

logger = logging.getLogger(__name__)

MB = 1024 * 1024
# WhatsApp's own limits per media type (an animated sticker may be 500 KB).
MEDIA_LIMITS = {"image": 5 * MB, "video": 16 * MB, "audio": 16 * MB, "document": 100 * MB, "sticker": 500 * 1024}
# How far back apply_pending_statuses looks for statuses that beat our send task to the database.
PENDING_STATUS_WINDOW = timedelta(minutes=15)
# The statuses Meta reports; "played" (a voice message was played) counts as read.
STATUS_TIME_FIELDS = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "read": "seen_at",
    "played": "seen_at",
    "failed": "failed_at",
}
# An IntegerField's range: a larger error code is dropped rather than refused by the database.
MAX_INT = 2**31 - 1


class _Duplicate(Exception):
    """Raised inside a transaction to undo it when another worker stored the same wamid first."""


# --- small, defensive readers ------------------------------------------------------


def _clean(value):
    """Drop what a database refuses in text and JSON: NUL characters and lone surrogates."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_clean(str(key)): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def _str(value, limit=None):
    """A string field from a payload value: "" for missing, objects and lists."""
    if value is None or isinstance(value, dict | list):
        return ""
    text = _clean(str(value))
    return text[:limit] if limit else text


def _obj(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def _int(value):
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -MAX_INT <= number <= MAX_INT else None


def _size(value):
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _loads(raw):
    """json.loads that refuses NaN and Infinity, which no database stores as JSON."""
    return json.loads(raw, parse_constant=_reject_constant)


def parse_timestamp(value):
    """Meta's Unix seconds, as a string ("1700000000") or a number; None when unusable."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        seconds = int(float(value)) if isinstance(value, str | float) else int(value)
    except (ValueError, OverflowError):
        return None
    if not 0 < seconds < 253402300799:  # before year 10000
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def _metric(name, *args):
    """Record a metric; a metrics failure never stops processing."""
    try:
        getattr(metrics, name)(*args)
    except Exception:
        logger.warning("Metric %s could not be recorded", name, exc_info=True)


# --- events ----------------------------------------------------------------------------


TRANSIENT_ATTEMPTS = 3


def process_webhook_event(event_id, *, force=False):
    """Act on a stored delivery: store its messages, apply its statuses, note the rest.

    Never raises for anything in the delivery: an unexpected failure is recorded in
    processing_error. Only a database that cannot be reached raises (OperationalError),
    so the task retries. An event already processed is skipped unless force is set
    (replays); processing it again changes nothing.
    """
    started = time.monotonic()
    event = WebhookEvent.objects.filter(pk=event_id).first()
    if event is None:
        logger.warning("Webhook event %s does not exist", event_id)
        return None
    if event.processed_at is not None and not force:
        return event
    # Concurrent workers on the same customers can deadlock in the database; processing is
    # idempotent, so a transient failure is simply tried again at once, a few times.
    for attempt in range(TRANSIENT_ATTEMPTS):
        notes, errors = {}, []
        transient = False
        try:
            transient = _process_body(bytes(event.body), notes, errors)
        except Exception as exc:  # the last line of defence: record, never raise out of the task
            logger.error("Webhook event %s: unexpected %s while processing", event.pk, type(exc).__name__)
            errors.append(f"Unexpected {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
            transient = isinstance(exc, OperationalError | InterfaceError)
        if not transient:
            break
        time.sleep(0.05 * (attempt + 1))
    event.notes = _clean(notes)
    event.processing_error = _clean("\n".join(errors))[:20000]
    # A database hiccup leaves the event unprocessed, so the sweeper tries it again.
    event.processed_at = None if transient else timezone.now()
    rows = WebhookEvent.objects.filter(pk=event.pk)
    try:
        with transaction.atomic():
            rows.update(notes=event.notes, processing_error=event.processing_error, processed_at=event.processed_at)
    except DataError:  # notes the database refuses; the raw body still holds everything
        event.notes = {"unstorable_notes": True}
        rows.update(notes=event.notes, processing_error=event.processing_error, processed_at=event.processed_at)
    # A status can beat our send task, which stores the wamid after Meta answers. The send
    # task calls apply_pending_statuses after saving; checking again here, after the notes
    # are committed, means one of the two sides always sees the other.
    for status in notes.get("unknown_statuses", []):
        _apply_status_quietly(status)
    if errors:
        logger.warning("Webhook event %s processed with %d problem(s)", event.pk, len(errors))
    _metric("record_webhook_processing", time.monotonic() - started)
    return event


def _process_body(raw, notes, errors):
    """Walk the envelope; returns True when a database error left work undone."""
    try:
        payload = _loads(raw)
    except (ValueError, RecursionError) as exc:
        errors.append(f"The body is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})")
        return False
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        errors.append("Not a WhatsApp webhook delivery: expected an object with an entry list")
        return False
    if payload.get("object") != "whatsapp_business_account":
        notes["object"] = _str(payload.get("object"), 100)
    transient = False
    for i, entry in enumerate(payload["entry"]):
        changes = _obj(entry).get("changes")
        if not isinstance(changes, list):
            errors.append(f"entry[{i}] has no changes list")
            continue
        for j, change in enumerate(changes):
            where = f"entry[{i}].changes[{j}]"
            if not isinstance(change, dict):
                errors.append(f"{where} is not an object")
                continue
            field = _str(change.get("field"), 100)
            if field != "messages":
                # Template status updates, account updates, echoes...: kept in the raw body, noted here.
                notes.setdefault("fields", []).append({"field": field, "where": where})
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                errors.append(f"{where}.value is not an object")
                continue
            transient |= _process_value(value, where, notes, errors)
    return transient


def _count(notes, outcome):
    counts = notes.setdefault("outcomes", {})
    counts[outcome] = counts.get(outcome, 0) + 1


def _guarded(where, errors, work):
    """Run one item's work; a failure is recorded and the other items go on."""
    try:
        return work(), False
    except Exception as exc:
        logger.error("Webhook item %s failed: %s", where, type(exc).__name__)
        errors.append(f"{where}: {type(exc).__name__}: {str(exc)[:300]}")
        return "error", isinstance(exc, OperationalError | InterfaceError)


def _process_value(value, where, notes, errors):
    transient = False
    metadata = _obj(value.get("metadata"))
    contacts = [contact for contact in _list(value.get("contacts")) if isinstance(contact, dict)]
    for key in ("messages", "statuses", "errors"):
        if key in value and not isinstance(value[key], list):
            errors.append(f"{where}.value.{key} is not a list")
    for k, msg in enumerate(_list(value.get("messages"))):
        item = f"{where}.messages[{k}]"
        if not isinstance(msg, dict):
            errors.append(f"{item} is not an object")
            continue
        outcome, failed = _guarded(item, errors, partial(_receive_message, msg, contacts, metadata))
        transient |= failed
        _count(notes, outcome)
        if outcome == "unattributed":
            errors.append(f"{item} names no sender (no from, from_user_id or contact)")
    for k, status in enumerate(_list(value.get("statuses"))):
        item = f"{where}.statuses[{k}]"
        if not isinstance(status, dict):
            errors.append(f"{item} is not an object")
            continue
        outcome, failed = _guarded(item, errors, partial(apply_status, status))
        transient |= failed
        _count(notes, f"status_{outcome}")
        if outcome == "unknown":
            notes.setdefault("unknown_statuses", []).append(_clean(status))
        elif outcome == "unrecognised":
            notes.setdefault("unrecognised_statuses", []).append(_clean(status))
        elif outcome == "invalid":
            errors.append(f"{item} has no usable id or status")
    for error in _list(value.get("errors")):
        error = _obj(error)
        notes.setdefault("webhook_errors", []).append(_clean(error))
        # Codes and titles only: details can quote message content.
        logger.warning("WhatsApp webhook error %s: %s", _int(error.get("code")), _str(error.get("title"), 100))
    return transient


SWEEP_LOCK = "integrations:webhook-sweep"


def webhook_events_sweep(*, older_than=timedelta(minutes=1), batch=100, budget=timedelta(seconds=45)):
    """Process events whose enqueue was lost (a broker outage, a worker that died).

    Works through the backlog in batches for up to `budget`, oldest first; the next
    beat run goes on from there. One sweeper at a time (a cache lock), so an outage's
    backlog is not processed twice over.
    """
    if not cache.add(SWEEP_LOCK, True, timeout=int(budget.total_seconds()) + 15):
        return 0
    try:
        done, deadline, last = 0, time.monotonic() + budget.total_seconds(), 0
        cutoff = timezone.now() - older_than
        while time.monotonic() < deadline:
            # webhook_pending_idx (processed_at, received_at)
            pending = WebhookEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff, pk__gt=last)
            ids = list(pending.order_by("pk").values_list("pk", flat=True)[:batch])
            for pk in ids:
                process_webhook_event(pk)
            done += len(ids)
            if len(ids) < batch:
                break
            last = ids[-1]
    finally:
        cache.delete(SWEEP_LOCK)
    if done:
        logger.info("Webhook sweep processed %d event(s) left behind", done)
    return done


def webhook_events_replay(*, ids=None, failed=False, since=None, limit=1000):
    """Process stored events again (idempotent): given ids, else unprocessed ones,
    or with failed those that recorded a processing error. Returns how many."""
    events = WebhookEvent.objects.order_by("pk")
    if ids:
        events = events.filter(pk__in=ids)
    elif failed:
        events = events.exclude(processing_error="")
    else:
        events = events.filter(processed_at__isnull=True)
    if since is not None:
        events = events.filter(received_at__gte=since)
    pks = list(events.values_list("pk", flat=True)[:limit])
    for pk in pks:
        process_webhook_event(pk, force=True)
    return len(pks)


# --- messages ----------------------------------------------------------------------------


@dataclass
class Customer:
    phone: str | None
    user_id: str | None
    name: str
    sender: str


def _phone(digits):
    """WhatsApp's digits (919876543210) as E.164; a number phonenumbers doubts is kept as given."""
    if not 6 <= len(digits) <= 15:
        return None
    try:
        return normalize_phone("+" + digits)
    except InvalidPhone:
        return "+" + digits


def _customer(msg, contacts):
    digits = re.sub(r"\D", "", _str(msg.get("from"), 64))
    user_id = _str(msg.get("from_user_id"), 200).strip()
    contact = {}
    for candidate in contacts:
        wa_id = re.sub(r"\D", "", _str(candidate.get("wa_id"), 64))
        if (digits and wa_id == digits) or (user_id and _str(candidate.get("user_id")) == user_id):
            contact = candidate
            break
    else:
        if len(contacts) == 1 and not contacts[0].get("wa_id") and not contacts[0].get("user_id"):
            contact = contacts[0]
    if not digits:
        digits = re.sub(r"\D", "", _str(contact.get("wa_id"), 64))
    if not user_id:
        user_id = _str(contact.get("user_id"), 200).strip()
    profile = _obj(contact.get("profile"))
    name = _str(profile.get("name") or profile.get("username"), 256).strip()
    phone = _phone(digits)
    user_id = user_id if 0 < len(user_id) <= 128 else None
    return Customer(phone=phone, user_id=user_id, name=name, sender=phone or user_id or "")


def _wamid(msg):
    """The message's WhatsApp id; a stable stand-in when it is missing or too long to store."""
    wamid = _str(msg.get("id"))
    if wamid and len(wamid) <= 512:
        return wamid
    if wamid:
        return "long-id:" + hashlib.sha256(wamid.encode()).hexdigest()
    canonical = json.dumps(msg, sort_keys=True, default=str)
    return "no-id:" + hashlib.sha256(canonical.encode()).hexdigest()


def _conversation(customer, at):
    """The customer's conversation, with the profile name kept current (never reverted by an old event)."""
    try:
        with transaction.atomic():
            conversation = conversation_get_or_create(phone=customer.phone, user_id=customer.user_id)
    except IntegrityError:
        # The number and the user id belong to two different conversations: keep to the number's.
        conversation = conversation_get_or_create(
            phone=customer.phone or None, user_id=None if customer.phone else customer.user_id
        )
    if customer.name and customer.name != conversation.contact_name:
        newest = conversation.last_inbound_at is None or at is None or at >= conversation.last_inbound_at
        if newest:
            Conversation.objects.filter(pk=conversation.pk).update(
                contact_name=customer.name, updated_at=timezone.now()
            )
            conversation.contact_name = customer.name
    return conversation


def _receive_message(msg, contacts, metadata):
    """Store one inbound message; returns what happened ("stored", "duplicate", ...)."""
    kind = _str(msg.get("type"), 40).strip().lower() or "unknown"
    customer = _customer(msg, contacts)
    if not customer.sender:
        return "unattributed"
    wamid = _wamid(msg)
    at = parse_timestamp(msg.get("timestamp"))
    if kind in ("edit", "revoke"):
        outcome = _apply_change(kind, msg, customer, wamid, at)
        if outcome is not None:
            return outcome
    if Message.objects.filter(whatsapp_message_id=wamid).exists():
        return "duplicate"
    try:
        with transaction.atomic():
            message = _store_message(msg, kind, customer, wamid, at, metadata)
    except _Duplicate:
        return "duplicate"
    _metric("record_message", Message.Direction.INBOUND.value, message.message_type)
    return "stored"


def _store_message(msg, kind, customer, wamid, at, metadata):
    conversation = None
    if kind == "system":  # a changed user id: the conversation is the previous id's
        previous_user_id = _str(_obj(msg.get("system")).get("previous_user_id"), 200).strip()
        if previous_user_id:
            conversation = Conversation.objects.filter(wa_user_id=previous_user_id).first()
    conversation = conversation or _conversation(customer, at)
    fields = message_content(msg, kind)
    data = fields.pop("data")
    _common_data(msg, data, fields)
    business = re.sub(r"\D", "", _str(metadata.get("display_phone_number"), 64))
    if metadata.get("phone_number_id"):
        data["phone_number_id"] = _str(metadata.get("phone_number_id"), 64)
    message = Message(
        conversation=conversation,
        whatsapp_message_id=wamid,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        from_phone=customer.sender[:128],
        to_phone=("+" + business)[:128] if business else "",
        other_party=(conversation.recipient or customer.sender)[:128],
        whatsapp_timestamp=at,
        data=_clean(data),
        **fields,
    )
    visible = True
    if message.message_type == Message.Type.REACTION:
        visible = _settle_reaction(message, conversation)
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError as exc:
        raise _Duplicate from exc
    conversation_apply_message(message=message, shown=visible)
    if kind == "system":
        _follow_identity_change(message, conversation, _obj(msg.get("system")))
    if message.media_state == Message.MediaState.PENDING:
        from integrations.tasks import media_download_task

        transaction.on_commit(partial(media_download_task.delay, message.pk), robust=True)
    return message


def _follow_identity_change(message, conversation, system):
    """A customer who changed number or user id stays one conversation, unless the new
    identity already has a conversation of its own (then both are kept, and noted)."""
    changes = {}
    new_digits = re.sub(r"\D", "", _str(system.get("wa_id") or system.get("new_wa_id"), 64))
    new_phone = _phone(new_digits) if system.get("type") == "user_changed_number" else None
    if new_phone and new_phone != conversation.other_party:
        changes["other_party"] = new_phone
    new_user_id = _str(system.get("user_id"), 200).strip()
    previous_user_id = _str(system.get("previous_user_id"), 200).strip()
    if new_user_id and len(new_user_id) <= 128 and conversation.wa_user_id in (None, previous_user_id):
        if new_user_id != conversation.wa_user_id:
            changes["wa_user_id"] = new_user_id
    if not changes:
        return
    taken = Conversation.objects.exclude(pk=conversation.pk).filter(
        Q(other_party=changes.get("other_party", "-")) | Q(wa_user_id=changes.get("wa_user_id", "-"))
    )
    applied = not taken.exists()
    if applied:
        try:
            with transaction.atomic():
                Conversation.objects.filter(pk=conversation.pk).update(**changes, updated_at=timezone.now())
        except IntegrityError:
            applied = False
    message.data = {**message.data, "identity_change": {**changes, "applied": applied}}
    Message.objects.filter(pk=message.pk).update(data=message.data)


def _common_data(msg, data, fields):
    """What any message type can carry: a quoted message, forwarding, an ad referral, errors."""
    context = _obj(msg.get("context"))
    if context:
        data["context"] = context
        if not fields.get("reply_to_whatsapp_id") and context.get("id"):
            fields["reply_to_whatsapp_id"] = _str(context.get("id"), 512)
        for flag in ("forwarded", "frequently_forwarded"):
            if context.get(flag):
                data[flag] = True
    if isinstance(msg.get("referral"), dict):
        data["referral"] = msg["referral"]
    if isinstance(msg.get("errors"), list):
        data["errors"] = msg["errors"]
    if msg.get("from_user_id"):
        data["from_user_id"] = _str(msg.get("from_user_id"), 200)


def _location_body(place):
    words = ", ".join(_str(place.get(key)) for key in ("name", "address") if _str(place.get(key)))
    if place.get("latitude") is not None and place.get("longitude") is not None:
        where = f"({_str(place.get('latitude'), 40)}, {_str(place.get('longitude'), 40)})"
        words = f"{words} {where}" if words else where
    return words


def _contact_line(card):
    name = _obj(card.get("name"))
    full = _str(name.get("formatted_name")) or " ".join(
        _str(name.get(part)) for part in ("first_name", "last_name") if _str(name.get(part))
    )
    phones = [_str(_obj(phone).get("phone")) for phone in _list(card.get("phones"))]
    phones = [phone for phone in phones if phone]
    return f"{full or 'Contact'}: {', '.join(phones)}" if phones else (full or "Contact")


def message_content(msg, kind):
    """The Message fields for one inbound message object of type `kind`."""
    part = _obj(msg.get(kind))
    data = {}
    fields = {"message_type": Message.Type.UNSUPPORTED, "message_body": "", "data": data}
    if kind == "text":
        fields.update(message_type=Message.Type.TEXT, message_body=_str(part.get("body")))
    elif kind in MEDIA_LIMITS:
        media_id = _str(part.get("id"), 128)
        fields.update(
            message_type=kind,
            caption=_str(part.get("caption")),
            media_id=media_id,
            mime_type=_str(part.get("mime_type"), 128),
            sha256=_str(part.get("sha256"), 128),
            file_name=_str(part.get("filename"), 255),
            media_state=Message.MediaState.PENDING if media_id else Message.MediaState.FAILED,
            media_error="" if media_id else "WhatsApp sent this media without an id, so it cannot be downloaded.",
        )
        for flag in ("voice", "animated"):
            if flag in part:
                data[flag] = bool(part[flag])
    elif kind == "location":
        place = {key: part[key] for key in ("latitude", "longitude", "name", "address", "url") if key in part}
        data.update(place)
        fields.update(message_type=Message.Type.LOCATION, message_body=_location_body(part))
    elif kind == "contacts":
        cards = [card for card in _list(msg.get("contacts")) if isinstance(card, dict)]
        data["contacts"] = cards
        fields.update(message_type=Message.Type.CONTACTS, message_body="\n".join(map(_contact_line, cards)))
    elif kind == "interactive":
        fields.update(message_type=Message.Type.INTERACTIVE, message_body=_interactive(part, data))
    elif kind == "button":
        data.update(payload=_str(part.get("payload")), text=_str(part.get("text")))
        fields.update(message_type=Message.Type.BUTTON, message_body=data["text"] or data["payload"])
    elif kind == "edit" and isinstance(part.get("message"), dict):
        # An edit of a message we never stored: keep the edited content as a message of its own.
        inner = part["message"]
        fields = message_content(inner, _str(inner.get("type"), 40).strip().lower() or "unknown")
        fields["data"]["edit_of"] = _str(part.get("original_message_id"), 512)
    elif kind == "reaction":
        fields.update(
            message_type=Message.Type.REACTION,
            message_body=_str(part.get("emoji"), 64),
            reply_to_whatsapp_id=_str(part.get("message_id"), 512),
        )
    else:
        # system, order, request_welcome, unsupported, and types WhatsApp adds later.
        data.update(raw_type=kind, raw=msg)
        if kind == "system":
            body = _str(part.get("body"))
        elif kind == "order":
            items = _list(part.get("product_items"))
            body = f"Order of {len(items)} item{'s' if len(items) != 1 else ''}"
            if _str(part.get("text")):
                body += f": {_str(part.get('text'))}"
        else:
            body = _str(part.get("body") or part.get("text"))
        fields["message_body"] = body
    return fields


def _interactive(part, data):
    kind = _str(part.get("type"), 40)
    reply = _obj(part.get(kind)) if kind else {}
    data["interactive_type"] = kind
    if kind in ("button_reply", "list_reply"):
        data.update({key: _str(reply.get(key)) for key in ("id", "title", "description") if key in reply})
        return _str(reply.get("title")) or _str(reply.get("id"))
    if kind == "nfm_reply":
        response = reply.get("response_json")
        if isinstance(response, str):
            try:
                response = _loads(response)
            except (ValueError, RecursionError):
                pass
        data.update(name=_str(reply.get("name")), response=response)
        return _str(reply.get("body")) or "Form response"
    data["raw"] = part
    return _str(reply.get("title"))


def _settle_reaction(message, conversation):
    """One reaction per customer and message: the newest wins and an empty emoji removes it.

    Every reaction is its own row (its wamid keeps replays out). The one shown is the
    row with a non-empty body; older ones are blanked, keeping the emoji in data.
    Returns whether this reaction is the one shown.
    """
    target = message.reply_to_whatsapp_id
    emoji = message.message_body
    message.data["emoji"] = emoji
    if not emoji:
        message.data["removed"] = True
    if not target:
        return bool(emoji)
    now = timezone.now()
    earlier = list(
        Message.objects.select_for_update().filter(
            conversation=conversation,
            direction=Message.Direction.INBOUND,
            message_type=Message.Type.REACTION,
            reply_to_whatsapp_id=target,
        )
    )
    at = message.whatsapp_timestamp
    if at is not None and any(o.whatsapp_timestamp and o.whatsapp_timestamp > at for o in earlier):
        # Arrived late: a newer reaction (or removal) already stands.
        message.message_body = ""
        message.data["superseded"] = True
        return False
    for other in earlier:
        if other.message_body:
            other.message_body = ""
            other.data = {**other.data, "superseded_by": message.whatsapp_message_id}
            other.updated_at = now
            other.save(update_fields=["message_body", "data", "updated_at"])
    # The reacted-to message re-renders in the chat poll.
    Message.objects.filter(conversation=conversation, whatsapp_message_id=target).update(updated_at=now)
    return bool(emoji)


def _apply_change(kind, msg, customer, wamid, at):
    """An edit or revoke of a message we hold changes that message; None when we do not hold it."""
    part = _obj(msg.get(kind))
    original_id = _str(part.get("original_message_id"), 512)
    if not original_id:
        return None
    with transaction.atomic():
        original = (
            Message.objects.select_for_update()
            .filter(whatsapp_message_id=original_id, direction=Message.Direction.INBOUND)
            .first()
        )
        if original is None or original.from_phone != customer.sender:
            return None
        old_preview = message_preview(original)
        data = dict(original.data)
        if wamid in data.get("change_ids", []):
            return "duplicate"
        data["change_ids"] = [*data.get("change_ids", []), wamid]
        stamp = at.isoformat() if at else timezone.now().isoformat()
        if kind == "revoke":
            if not data.get("revoked"):
                data.update(revoked=True, revoked_at=stamp)
                data["revoked_content"] = {"body": original.message_body, "caption": original.caption}
                original.message_body = ""
                original.caption = ""
        else:
            inner = _obj(part.get("message"))
            inner_kind = _str(inner.get("type"), 40) or original.message_type
            content = message_content(inner, inner_kind)
            newest = data.get("edited_at") is None or stamp >= data["edited_at"]
            if newest and not data.get("revoked"):
                history = {"at": stamp, "body": original.message_body, "caption": original.caption}
                data["edits"] = [*data.get("edits", []), history]
                data["edited_at"] = stamp
                if original.is_media:
                    original.caption = content.get("caption", "") or content["message_body"]
                else:
                    original.message_body = content["message_body"]
        original.data = _clean(data)
        original.updated_at = timezone.now()
        original.save(update_fields=["message_body", "caption", "data", "updated_at"])
        rows = Conversation.objects.filter(pk=original.conversation_id)
        rows.update(updated_at=original.updated_at)
        # When the changed message is the one the inbox shows, show its new state.
        new_preview = "This message was deleted" if data.get("revoked") else message_preview(original)
        rows.filter(last_message_preview=old_preview).update(last_message_preview=new_preview)
    return "edited" if kind == "edit" else "revoked"


# --- statuses --------------------------------------------------------------------------


def apply_status(status):
    """Apply one entry of statuses[] to our outbound message; only ever forward.

    Returns "applied", "unchanged" (a duplicate or a late one), "unknown" (no message
    has that wamid yet), "not_outbound" (the wamid is a customer's message), "unrecognised"
    (a status name we do not know) or "invalid".
    """
    wamid = _str(status.get("id"), 512)
    name = _str(status.get("status"), 20).lower()
    if not wamid or not name:
        return "invalid"
    if name not in STATUS_TIME_FIELDS:
        return "unrecognised"  # a status WhatsApp added later: kept in the event's notes
    at = parse_timestamp(status.get("timestamp")) or timezone.now()
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(whatsapp_message_id=wamid).first()
        changed = set()
        if message is None:
            message = _unsaved_send(status, wamid)
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
                _set_error(message, status)
                changed.update(("error_code", "error_title", "error_details"))
        implied = {"sent": ["sent_at"], "delivered": ["sent_at", "delivered_at"], "failed": ["failed_at"]}
        for field in implied.get(name, ["sent_at", "delivered_at", "seen_at"]):
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
    logger.info("Message %s: status %s applied", message.pk, name)
    return "applied"


UNSETTLED_TITLES = (INTERRUPTED_TITLE, UNCERTAIN_TITLE)
CALLBACK_RE = re.compile(r"^madio:(\d{1,18})$")


def _unsaved_send(status, wamid):
    """The outbound message this status is about, when Meta accepted it but its wamid was never saved.

    The send task tags every send with biz_opaque_callback_data "madio:<message id>" and Meta
    echoes it in statuses. A worker that died between Meta's answer and saving the wamid left
    the row "sending" (or the sweeper marked it failed as interrupted, or the answer never
    came): the status proves the send was accepted, so the wamid is recorded here.
    Call inside the transaction that applies the status.
    """
    match = CALLBACK_RE.match(_str(status.get("biz_opaque_callback_data"), 40))
    if match is None:
        return None
    message = (
        Message.objects.select_for_update()
        .filter(pk=int(match.group(1)), direction=Message.Direction.OUTBOUND, whatsapp_message_id=None)
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


def _set_error(message, status):
    error = _obj((_list(status.get("errors")) or [None])[0])
    message.error_code = _int(error.get("code"))
    message.error_title = _str(error.get("title") or error.get("message"), 255)
    details = _str(_obj(error.get("error_data")).get("details"))
    message.error_details = details or _str(error.get("message"))


def _apply_status_quietly(status):
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
        for status in _list(_obj(notes).get("unknown_statuses")):
            if isinstance(status, dict) and status.get("id") == wamid:
                applied += _apply_status_quietly(status) == "applied"
    return applied


# --- media ---------------------------------------------------------------------------------


class MediaProblem(WhatsAppError):
    """A media download that failed for a reason of our own checks, with a sentence for the chat."""

    def __init__(self, sentence, *, retryable):
        super().__init__(sentence, title=sentence, retryable=retryable)
        self.sentence = sentence


RESERVED_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "audio/mp4": ".m4a",
    "video/mp4": ".mp4",
    "video/3gpp": ".3gp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}


def safe_file_name(name, *, fallback="file"):
    """A file name safe to store: no directories, control characters, NUL or reserved device names."""
    name = _str(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip().strip(". ").strip()
    if name.split(".", 1)[0].strip().lower() in RESERVED_NAMES:
        name = "_" + name
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: 119 - len(ext)]}.{ext}" if dot and 0 < len(ext) <= 16 else name[:120]
    return name or fallback


def _extension(mime_type):
    mime = (mime_type or "").split(";", 1)[0].strip().lower()
    return EXTENSIONS.get(mime) or mimetypes.guess_extension(mime) or ""


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
    limit = MEDIA_LIMITS.get(message.message_type)
    if limit is None or not message.media_id:
        return _media_failed(message, "This message has no media WhatsApp can hand over.")
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
        url = _str(info.get("url"))
        if not url:
            raise MediaProblem("WhatsApp gave no download address for this media.", retryable=True)
        declared = _size(info.get("file_size"))
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
        verified = sha256_matches(_str(info.get("sha256")) or message.sha256, digest.digest())
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
    now = timezone.now()
    Message.objects.filter(pk=message.pk, media_state=Message.MediaState.PENDING).update(
        media_state=Message.MediaState.FAILED, media_error=sentence, updated_at=now
    )
    logger.warning("Media of message %s failed: %s", message.pk, sentence)
    message.refresh_from_db()
    return message


def _media_store(message, spooled, info, size, verified):
    mime_type = _str(info.get("mime_type"), 128) or message.mime_type
    original = message.file_name
    fallback = f"{message.message_type}-{message.pk}{_extension(mime_type)}"
    name = safe_file_name(original, fallback=fallback) if original else fallback
    message.file.save(name, File(spooled, name=name), save=False)
    stored = message.file.name
    with transaction.atomic():
        current = Message.objects.select_for_update().get(pk=message.pk)
        if current.media_state != Message.MediaState.PENDING:
            # Another worker finished (or failed) first: keep its result, drop our copy.
            message.file.storage.delete(stored)
            return current
        data = dict(current.data)
        if verified is None:
            data["sha256_unverified"] = True
        Message.objects.filter(pk=message.pk).update(
            file=stored,
            file_name=original or name,
            mime_type=mime_type,
            file_size=size,
            media_state=Message.MediaState.READY,
            media_error="",
            data=data,
            updated_at=timezone.now(),
        )
    message.refresh_from_db()
    logger.info("Media of message %s stored (%d bytes)", message.pk, size)
    queue_sharepoint_backup(message)
    return message


def media_sweep(*, older_than=timedelta(minutes=30), window=timedelta(days=1), limit=100, enqueue=None):
    """Enqueue downloads still pending long after their task's retries would have ended."""
    if enqueue is None:
        from integrations.tasks import media_download_task

        enqueue = media_download_task.delay
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
