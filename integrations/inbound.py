"""What Meta's webhook delivers, turned into calls of the chat services.

integrations.webhook stores each delivery as a WebhookEvent; the worker then calls
process_webhook_event(event_id). This module only reads Meta's envelope: what a message
or a status becomes is chat.services' (message_receive, message_apply_change,
message_status_apply through integrations.statuses). Everything is idempotent: replaying
an event changes nothing, because a message is known by its WhatsApp id (wamid) and
statuses only move forward. Nothing a delivery carries is dropped: what is not understood
is kept as an "unsupported" message with its raw object, or in the event's notes.

Shapes follow shared/research/whatsapp-cloud-api.md.
"""

import hashlib
import json
import logging
import re
import time
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.core.cache import cache
from django.db import DataError, InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from chat.media_rules import RULES_BY_TYPE
from chat.models import Message
from chat.payload import as_dict, as_int, as_list, as_text, clean, loads, parse_timestamp
from chat.phones import InvalidPhone, normalize_phone
from chat.services import MessageDuplicate, message_apply_change, message_receive
from integrations import metrics, tasks
from integrations.models import WebhookEvent
from integrations.statuses import apply_status, apply_status_quietly

logger = logging.getLogger(__name__)


def _metric(name, *args):
    """Record a metric; a metrics failure never stops processing."""
    try:
        getattr(metrics, name)(*args)
    except Exception:
        logger.warning("Metric %s could not be recorded", name, exc_info=True)


# --- events ----------------------------------------------------------------------------


TRANSIENT_ATTEMPTS = 3


@dataclass
class Walk:
    """What processing one delivery learned. isolated: each item runs in its own transaction
    (a failure is recorded and the others go on); otherwise the delivery's one item shares
    the transaction that also writes the event, and a failure undoes it all."""

    isolated: bool
    notes: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    stored: list = field(default_factory=list)  # message types, counted once committed
    transient: bool = False  # a database error left work undone


def process_webhook_event(event_id, *, force=False):
    """Act on a stored delivery: store its messages, apply its statuses, note the rest.

    Never raises for anything in the delivery: an unexpected failure is recorded in
    processing_error. Only a database that cannot be reached raises (OperationalError),
    so the task retries. An event already processed is skipped unless force is set
    (replays); processing it again changes nothing.

    One path for every delivery (_walk). A delivery of at most one message or status
    (nearly all of them) runs it in one transaction with the event's own update: no
    savepoint, one commit. When that transaction fails (a duplicate wamid, a lost race, a
    deadlock, notes the database refuses), the same walk runs again with each item in its
    own transaction, which records each failure apart; so does any larger delivery.
    """
    started = time.monotonic()
    # Only what processing reads: notes and processing_error are written, never read.
    event = WebhookEvent.objects.only("body", "processed_at").filter(pk=event_id).first()
    if event is None:
        logger.warning("Webhook event %s does not exist", event_id)
        return None
    if event.processed_at is not None and not force:
        return event
    raw = bytes(event.body)
    walk = _process(event, raw)
    for message_type in walk.stored:
        _metric("record_message", Message.Direction.INBOUND.value, message_type)
    # A status can beat our send task, which stores the wamid after Meta answers. The send
    # task calls apply_pending_statuses after saving; checking again here, after the notes
    # are committed, means one of the two sides always sees the other.
    for status in event.notes.get("unknown_statuses", []):
        apply_status_quietly(status)
    if walk.errors:
        logger.warning("Webhook event %s processed with %d problem(s)", event.pk, len(walk.errors))
    _metric("record_webhook_processing", time.monotonic() - started)
    return event


def _process(event, raw):
    errors = []
    payload = _payload(raw, errors)
    if payload is not None and _item_count(payload) <= 1:
        walk = Walk(isolated=False, errors=list(errors))
        try:
            with transaction.atomic():
                _walk(payload, walk)
                _event_save(event, walk)
            return walk
        except Exception as exc:
            logger.info("Webhook event %s: %s in one transaction; again item by item", event.pk, type(exc).__name__)
    # Concurrent workers on the same customers can deadlock in the database; processing is
    # idempotent, so a transient failure is simply tried again at once, a few times.
    for attempt in range(TRANSIENT_ATTEMPTS):
        walk = Walk(isolated=True, errors=list(errors))
        try:
            if payload is not None:
                _walk(payload, walk)
        except Exception as exc:  # the last line of defence: record, never raise out of the task
            logger.error("Webhook event %s: unexpected %s while processing", event.pk, type(exc).__name__)
            walk.errors.append(f"Unexpected {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
            walk.transient = isinstance(exc, OperationalError | InterfaceError)
        if not walk.transient:
            break
        time.sleep(0.05 * (attempt + 1))
    try:
        with transaction.atomic():
            _event_save(event, walk)
    except DataError:  # notes the database refuses; the raw body still holds everything
        walk.notes = {"unstorable_notes": True}
        _event_save(event, walk)
    return walk


def _event_save(event, walk):
    """The event's notes and errors; a database hiccup leaves it unprocessed, so the sweeper tries it again."""
    event.notes = clean(walk.notes)
    event.processing_error = clean("\n".join(walk.errors))[:20000]
    event.processed_at = None if walk.transient else timezone.now()
    WebhookEvent.objects.filter(pk=event.pk).update(
        notes=event.notes, processing_error=event.processing_error, processed_at=event.processed_at
    )


def _payload(raw, errors):
    """The delivery as an object with an entry list, or None with the reason in errors."""
    try:
        payload = loads(raw)
    except (ValueError, RecursionError) as exc:
        errors.append(f"The body is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})")
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        errors.append("Not a WhatsApp webhook delivery: expected an object with an entry list")
        return None
    return payload


def _item_count(payload):
    """How many messages and statuses the delivery carries (counting generously)."""
    count = 0
    for entry in payload["entry"]:
        for change in as_list(as_dict(entry).get("changes")):
            value = as_dict(as_dict(change).get("value"))
            count += len(as_list(value.get("messages"))) + len(as_list(value.get("statuses")))
    return count


def _walk(payload, walk):
    """Walk the envelope, item by item."""
    if payload.get("object") != "whatsapp_business_account":
        walk.notes["object"] = as_text(payload.get("object"), 100)
    for i, entry in enumerate(payload["entry"]):
        changes = as_dict(entry).get("changes")
        if not isinstance(changes, list):
            walk.errors.append(f"entry[{i}] has no changes list")
            continue
        for j, change in enumerate(changes):
            where = f"entry[{i}].changes[{j}]"
            if not isinstance(change, dict):
                walk.errors.append(f"{where} is not an object")
                continue
            name = as_text(change.get("field"), 100)
            if name != "messages":
                # Template status updates, account updates, echoes...: kept in the raw body, noted here.
                walk.notes.setdefault("fields", []).append({"field": name, "where": where})
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                walk.errors.append(f"{where}.value is not an object")
                continue
            _walk_value(value, where, walk)


def _count(notes, outcome):
    counts = notes.setdefault("outcomes", {})
    counts[outcome] = counts.get(outcome, 0) + 1


def _item(where, walk, work):
    """Run one item's work in its own transaction (isolated) or in the delivery's; returns its outcome.

    Isolated, a failure undoes only this item and is recorded, and the others go on; a
    duplicate wamid is an outcome. Otherwise any failure raises, undoing the delivery's
    one transaction, and _process walks the delivery again isolated.
    """
    try:
        with transaction.atomic(savepoint=walk.isolated):
            return work()
    except MessageDuplicate:
        if not walk.isolated:
            raise
        return "duplicate"
    except Exception as exc:
        if not walk.isolated:
            raise
        logger.error("Webhook item %s failed: %s", where, type(exc).__name__)
        walk.errors.append(f"{where}: {type(exc).__name__}: {str(exc)[:300]}")
        walk.transient |= isinstance(exc, OperationalError | InterfaceError)
        return "error"


def _walk_value(value, where, walk):
    notes, errors = walk.notes, walk.errors
    metadata = as_dict(value.get("metadata"))
    contacts = [contact for contact in as_list(value.get("contacts")) if isinstance(contact, dict)]
    for key in ("messages", "statuses", "errors"):
        if key in value and not isinstance(value[key], list):
            errors.append(f"{where}.value.{key} is not a list")
    for k, msg in enumerate(as_list(value.get("messages"))):
        item = f"{where}.messages[{k}]"
        if not isinstance(msg, dict):
            errors.append(f"{item} is not an object")
            continue
        outcome = _item(item, walk, partial(_receive_message, msg, contacts, metadata, walk))
        _count(notes, outcome)
        if outcome == "unattributed":
            errors.append(f"{item} names no sender (no from, from_user_id or contact)")
    for k, status in enumerate(as_list(value.get("statuses"))):
        item = f"{where}.statuses[{k}]"
        if not isinstance(status, dict):
            errors.append(f"{item} is not an object")
            continue
        outcome = _item(item, walk, partial(apply_status, status))
        _count(notes, f"status_{outcome}")
        if outcome == "unknown":
            notes.setdefault("unknown_statuses", []).append(clean(status))
        elif outcome == "unrecognised":
            notes.setdefault("unrecognised_statuses", []).append(clean(status))
        elif outcome == "invalid":
            errors.append(f"{item} has no usable id or status")
    for error in as_list(value.get("errors")):
        error = as_dict(error)
        notes.setdefault("webhook_errors", []).append(clean(error))
        # Codes and titles only: details can quote message content.
        logger.warning("WhatsApp webhook error %s: %s", as_int(error.get("code")), as_text(error.get("title"), 100))


SWEEP_LOCK = "integrations:webhook-sweep"


DRAIN_BATCH = 50
CLAIM_EXPIRES = timedelta(minutes=2)  # longer than any batch takes; then the worker is taken for dead


def _claim(batch):
    """The ids of up to `batch` unprocessed deliveries, oldest first, now this worker's: one short
    transaction, SKIP LOCKED, so concurrent drains never take the same event."""
    now = timezone.now()
    with transaction.atomic():
        free = WebhookEvent.objects.filter(processed_at__isnull=True).filter(
            Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_EXPIRES)
        )
        ids = list(free.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)[:batch])
        if ids:
            WebhookEvent.objects.filter(pk__in=ids).update(claimed_at=now)
    return ids


def webhook_events_drain(*, batch=DRAIN_BATCH, budget=timedelta(seconds=30)):
    """Process stored deliveries until none is left (the wake task, tasks.webhook_drain_task).

    Claims them in batches and processes each as process_webhook_event does alone. When a
    claim finds nothing it clears the wake key (tasks.WAKE_KEY) and claims once more: a
    delivery stored after the empty claim but before the key was cleared woke nobody, and
    this claim takes it. Past the budget it hands on to a fresh wake rather than hold the worker.
    """
    deadline = time.monotonic() + budget.total_seconds()
    try:
        return _drain(batch, deadline)
    except Exception:
        tasks.webhook_unwake()  # the next delivery wakes a worker again; the sweep takes what this one left
        raise


def _drain(batch, deadline):
    done = 0
    while True:
        ids = _claim(batch)
        if not ids:
            tasks.webhook_unwake()
            ids = _claim(batch)
            if not ids:
                return done
        for pk in ids:
            process_webhook_event(pk)
        done += len(ids)
        if time.monotonic() > deadline:
            tasks.webhook_unwake()
            tasks.webhook_wake()
            return done


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
    username: str = ""


def _phone(digits):
    """WhatsApp's digits (919876543210) as E.164; a number phonenumbers doubts is kept as given."""
    if not 6 <= len(digits) <= 15:
        return None
    try:
        return normalize_phone("+" + digits)
    except InvalidPhone:
        return "+" + digits


def _customer(msg, contacts):
    digits = re.sub(r"\D", "", as_text(msg.get("from"), 64))
    user_id = as_text(msg.get("from_user_id"), 200).strip()
    contact = {}
    for candidate in contacts:
        wa_id = re.sub(r"\D", "", as_text(candidate.get("wa_id"), 64))
        if (digits and wa_id == digits) or (user_id and as_text(candidate.get("user_id")) == user_id):
            contact = candidate
            break
    else:
        if len(contacts) == 1 and not contacts[0].get("wa_id") and not contacts[0].get("user_id"):
            contact = contacts[0]
    if not digits:
        digits = re.sub(r"\D", "", as_text(contact.get("wa_id"), 64))
    if not user_id:
        user_id = as_text(contact.get("user_id"), 200).strip()
    profile = as_dict(contact.get("profile"))
    name = as_text(profile.get("name") or profile.get("username"), 256).strip()
    phone = _phone(digits)
    user_id = user_id if 0 < len(user_id) <= 128 else None
    username = as_text(profile.get("username"), 64).strip().removeprefix("@")
    return Customer(phone=phone, user_id=user_id, name=name, sender=phone or user_id or "", username=username)


def _wamid(msg):
    """The message's WhatsApp id; a stable stand-in when it is missing or too long to store."""
    wamid = as_text(msg.get("id"))
    if wamid and len(wamid) <= 512:
        return wamid
    if wamid:
        return "long-id:" + hashlib.sha256(wamid.encode()).hexdigest()
    canonical = json.dumps(msg, sort_keys=True, default=str)
    return "no-id:" + hashlib.sha256(canonical.encode()).hexdigest()


def _receive_message(msg, contacts, metadata, walk):
    """Store one inbound message (inside the item's transaction); returns what happened."""
    kind = as_text(msg.get("type"), 40).strip().lower() or "unknown"
    customer = _customer(msg, contacts)
    if not customer.sender:
        return "unattributed"
    wamid = _wamid(msg)
    at = parse_timestamp(msg.get("timestamp"))
    if kind in ("edit", "revoke"):
        part = as_dict(msg.get(kind))
        original_id = as_text(part.get("original_message_id"), 512)
        if original_id:
            inner = as_dict(part.get("message"))
            outcome = message_apply_change(
                kind=kind,
                original_id=original_id,
                sender=customer.sender,
                change_id=wamid,
                at=at,
                # The edited content, read as the original's type when the edit names none.
                content_as=partial(_edited_content, inner) if kind == "edit" else None,
            )
            if outcome is not None:
                return outcome
    fields = message_content(msg, kind)
    _common_data(msg, fields["data"], fields)
    if metadata.get("phone_number_id"):
        fields["data"]["phone_number_id"] = as_text(metadata.get("phone_number_id"), 64)
    business = re.sub(r"\D", "", as_text(metadata.get("display_phone_number"), 64))
    system = as_dict(msg.get("system")) if kind == "system" else {}
    message = message_receive(
        wamid=wamid,
        phone=customer.phone,
        user_id=customer.user_id,
        name=customer.name,
        username=customer.username,
        sender=customer.sender,
        at=at,
        fields=fields,
        business_phone="+" + business if business else "",
        previous_user_id=as_text(system.get("previous_user_id"), 200).strip(),
        identity=_identity(system) if kind == "system" else None,
    )
    walk.stored.append(message.message_type)
    return "stored"


def _edited_content(inner, original_type):
    return message_content(inner, as_text(inner.get("type"), 40) or original_type)


def _identity(system):
    """What a "system" message says the customer's identity became (for conversation_follow_identity)."""
    new_digits = re.sub(r"\D", "", as_text(system.get("wa_id") or system.get("new_wa_id"), 64))
    return {
        "new_phone": _phone(new_digits) if system.get("type") == "user_changed_number" else None,
        "new_user_id": as_text(system.get("user_id"), 200).strip(),
        "previous_user_id": as_text(system.get("previous_user_id"), 200).strip(),
    }


def _common_data(msg, data, fields):
    """What any message type can carry: a quoted message, forwarding, an ad referral, errors."""
    context = as_dict(msg.get("context"))
    if context:
        data["context"] = context
        if not fields.get("reply_to_whatsapp_id") and context.get("id"):
            fields["reply_to_whatsapp_id"] = as_text(context.get("id"), 512)
        for flag in ("forwarded", "frequently_forwarded"):
            if context.get(flag):
                data[flag] = True
    if isinstance(msg.get("referral"), dict):
        data["referral"] = msg["referral"]
    if isinstance(msg.get("errors"), list):
        data["errors"] = msg["errors"]
    if msg.get("from_user_id"):
        data["from_user_id"] = as_text(msg.get("from_user_id"), 200)


def _location_body(place):
    words = ", ".join(as_text(place.get(key)) for key in ("name", "address") if as_text(place.get(key)))
    if place.get("latitude") is not None and place.get("longitude") is not None:
        where = f"({as_text(place.get('latitude'), 40)}, {as_text(place.get('longitude'), 40)})"
        words = f"{words} {where}" if words else where
    return words


def _contact_line(card):
    name = as_dict(card.get("name"))
    full = as_text(name.get("formatted_name")) or " ".join(
        as_text(name.get(part)) for part in ("first_name", "last_name") if as_text(name.get(part))
    )
    phones = [as_text(as_dict(phone).get("phone")) for phone in as_list(card.get("phones"))]
    phones = [phone for phone in phones if phone]
    return f"{full or 'Contact'}: {', '.join(phones)}" if phones else (full or "Contact")


def message_content(msg, kind):
    """The Message fields for one inbound message object of type `kind`."""
    part = as_dict(msg.get(kind))
    data = {}
    fields = {"message_type": Message.Type.UNSUPPORTED, "message_body": "", "data": data}
    if kind == "text":
        fields.update(message_type=Message.Type.TEXT, message_body=as_text(part.get("body")))
    elif kind in RULES_BY_TYPE:
        media_id = as_text(part.get("id"), 128)
        fields.update(
            message_type=kind,
            caption=as_text(part.get("caption")),
            media_id=media_id,
            mime_type=as_text(part.get("mime_type"), 128),
            sha256=as_text(part.get("sha256"), 128),
            file_name=as_text(part.get("filename"), 255),
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
        cards = [card for card in as_list(msg.get("contacts")) if isinstance(card, dict)]
        data["contacts"] = cards
        fields.update(message_type=Message.Type.CONTACTS, message_body="\n".join(map(_contact_line, cards)))
    elif kind == "interactive":
        fields.update(message_type=Message.Type.INTERACTIVE, message_body=_interactive(part, data))
    elif kind == "button":
        data.update(payload=as_text(part.get("payload")), text=as_text(part.get("text")))
        fields.update(message_type=Message.Type.BUTTON, message_body=data["text"] or data["payload"])
    elif kind == "edit" and isinstance(part.get("message"), dict):
        # An edit of a message we never stored: keep the edited content as a message of its own.
        inner = part["message"]
        fields = message_content(inner, as_text(inner.get("type"), 40).strip().lower() or "unknown")
        fields["data"]["edit_of"] = as_text(part.get("original_message_id"), 512)
    elif kind == "reaction":
        fields.update(
            message_type=Message.Type.REACTION,
            message_body=as_text(part.get("emoji"), 64),
            reply_to_whatsapp_id=as_text(part.get("message_id"), 512),
        )
    else:
        # system, order, request_welcome, unsupported, and types WhatsApp adds later.
        data.update(raw_type=kind, raw=msg)
        if kind == "system":
            body = as_text(part.get("body"))
        elif kind == "order":
            items = as_list(part.get("product_items"))
            body = f"Order of {len(items)} item{'s' if len(items) != 1 else ''}"
            if as_text(part.get("text")):
                body += f": {as_text(part.get('text'))}"
        else:
            body = as_text(part.get("body") or part.get("text"))
        fields["message_body"] = body
    return fields


def _interactive(part, data):
    kind = as_text(part.get("type"), 40)
    reply = as_dict(part.get(kind)) if kind else {}
    data["interactive_type"] = kind
    if kind in ("button_reply", "list_reply"):
        data.update({key: as_text(reply.get(key)) for key in ("id", "title", "description") if key in reply})
        return as_text(reply.get("title")) or as_text(reply.get("id"))
    if kind == "nfm_reply":
        response = reply.get("response_json")
        if isinstance(response, str):
            try:
                response = loads(response)
            except (ValueError, RecursionError):
                pass
        data.update(name=as_text(reply.get("name")), response=response)
        return as_text(reply.get("body")) or "Form response"
    data["raw"] = part
    return as_text(reply.get("title"))
