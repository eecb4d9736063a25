"""Writes to the Conversation row: finding or creating a customer's conversation, its
counters for each new message, its read state and the customer's identity."""

import logging

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, F, Q, Value, When
from django.utils import timezone

from chat import changes
from chat.models import Conversation, Message
from chat.services.previews import message_preview
from chat.stats import stats_count_message
from integrations import tasks

IDENTITY_FIELDS = ("other_party", "wa_user_id")

# WhatsApp shows "typing…" for up to 25 s; one indicator per conversation in this many seconds.
TYPING_INDICATOR_SECONDS = 20

logger = logging.getLogger(__name__)


def conversation_get_or_create(*, phone=None, user_id=None, name=""):
    """The conversation with a customer known by E.164 number and/or WhatsApp user id.

    Safe under concurrent webhooks: a lost creation race reads the winner's row. When the
    number's conversation would take a user id that another conversation already holds, it
    stays the number's conversation without it.
    """
    if not phone and not user_id:
        raise ValueError("A conversation needs a phone number or a WhatsApp user id.")
    lookup = Q(other_party=phone) if phone else Q(wa_user_id=user_id)
    for _ in range(3):
        conversation = Conversation.objects.filter(lookup).first()
        if conversation is None and phone and user_id:
            conversation = Conversation.objects.filter(wa_user_id=user_id).first()
        if conversation is not None:
            break
        try:
            with transaction.atomic():
                conversation = Conversation.objects.create(
                    other_party=phone or None, wa_user_id=user_id or None, contact_name=name or ""
                )
            changes.conversations_touched([conversation.pk])
            return conversation
        except IntegrityError:
            continue
    else:  # pragma: no cover - three lost races in a row
        raise RuntimeError("Could not create the conversation")
    update = {}
    if name and conversation.contact_name != name:
        update["contact_name"] = name
    if user_id and not conversation.wa_user_id:
        update["wa_user_id"] = user_id
    if phone and not conversation.other_party:
        update["other_party"] = phone
    if update:
        _conversation_update(conversation, update)
    return conversation


def _conversation_update(conversation, update):
    update["updated_at"] = timezone.now()
    rows = Conversation.objects.filter(pk=conversation.pk)
    if any(field in update for field in IDENTITY_FIELDS):
        # Rare (a customer's first message with a new identity): the only write here that a
        # unique identity held elsewhere can refuse, so only it pays for a savepoint.
        try:
            with transaction.atomic():
                rows.update(**update)
        except IntegrityError:
            update = {key: value for key, value in update.items() if key not in IDENTITY_FIELDS}
            rows.update(**update)
    else:
        rows.update(**update)
    changes.conversations_touched([conversation.pk])
    for field, value in update.items():
        setattr(conversation, field, value)


def conversation_for_customer(*, phone, user_id, name, at, username=""):
    """The customer's conversation, with the profile name and username kept current (never reverted by an
    old message). The name staff gave the contact (staff_name) is never touched here."""
    conversation = conversation_get_or_create(phone=phone, user_id=user_id)
    update = {}
    if name and name != conversation.contact_name:
        update["contact_name"] = name
    if username and username != conversation.wa_username:
        update["wa_username"] = username
    newest = conversation.last_inbound_at is None or at is None or at >= conversation.last_inbound_at
    if update and newest:
        _conversation_update(conversation, update)
    return conversation


def conversation_apply_message(*, message, shown=True):
    """Move the conversation's counters and the statistics for a newly stored message.

    Every new message passes through here, in the transaction that stored it (the
    writers: message_queue for outbound, message_receive for inbound). One UPDATE of F()
    and conditional expressions, so concurrent messages never lose a count and
    last_message_at, last_inbound_at and last_created_at only move forward. A message
    that shows nothing new (a removed reaction, shown=False) still counts as activity and
    in the statistics, but leaves the preview and the unread count alone.

    Queries: that UPDATE, plus chat.stats.stats_count_message (one UPDATE; an INSERT too
    for the first message of its day, direction and type).
    """
    at = message.whatsapp_timestamp or message.created_at
    later_created = Q(last_created_at__isnull=True) | Q(last_created_at__lt=message.created_at)
    counters = {
        "updated_at": timezone.now(),
        # Used by the statistics: the newest created_at, never moved back.
        "last_created_at": Case(When(later_created, then=Value(message.created_at)), default=F("last_created_at")),
    }
    inbound = message.direction == Message.Direction.INBOUND
    if shown and inbound and message.message_type != Message.Type.REACTION:
        counters["unread_count"] = F("unread_count") + 1
    if shown:
        newer = Q(last_message_at__isnull=True) | Q(last_message_at__lte=at)
        counters["last_message_at"] = Case(When(newer, then=Value(at)), default=F("last_message_at"))
        preview = Value(message_preview(message))
        counters["last_message_preview"] = Case(When(newer, then=preview), default=F("last_message_preview"))
        counters["last_message_id"] = Case(
            When(newer, then=Value(message.pk)), default=F("last_message_id"), output_field=BigIntegerField()
        )
    if inbound:
        later = Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at)
        counters["last_inbound_at"] = Case(When(later, then=Value(at)), default=F("last_inbound_at"))
    Conversation.objects.filter(pk=message.conversation_id).update(**counters)
    changes.conversations_touched([message.conversation_id])
    stats_count_message(message=message)


def conversation_touch(*, conversation_id, at=None):
    """The conversation re-renders in the sidebar poll (a send's outcome, a media state)."""
    Conversation.objects.filter(pk=conversation_id).update(updated_at=at or timezone.now())
    changes.conversations_touched([conversation_id])


def conversation_delete(*, conversation):
    """Delete a conversation with its messages; an open page's poll looks, and finds it gone."""
    conversation_id = conversation.pk
    conversation.delete()
    changes.conversations_touched([conversation_id])


def conversations_delete(*, queryset):
    """The admin's bulk delete: every deleted conversation is marked for its polls."""
    ids = list(queryset.values_list("pk", flat=True))
    queryset.delete()
    changes.conversations_touched(ids)


def conversation_follow_identity(*, message, conversation, new_phone, new_user_id, previous_user_id):
    """A customer who changed number or user id stays one conversation, unless the new
    identity already has a conversation of its own (then both are kept, and noted on the message)."""
    update = {}
    if new_phone and new_phone != conversation.other_party:
        update["other_party"] = new_phone
    if new_user_id and len(new_user_id) <= 128 and conversation.wa_user_id in (None, previous_user_id):
        if new_user_id != conversation.wa_user_id:
            update["wa_user_id"] = new_user_id
    if not update:
        return
    taken = Conversation.objects.exclude(pk=conversation.pk).filter(
        Q(other_party=update.get("other_party", "-")) | Q(wa_user_id=update.get("wa_user_id", "-"))
    )
    applied = not taken.exists()
    if applied:
        try:
            with transaction.atomic():
                Conversation.objects.filter(pk=conversation.pk).update(**update, updated_at=timezone.now())
        except IntegrityError:
            applied = False
    message.data = {**message.data, "identity_change": {**update, "applied": applied}}
    Message.objects.filter(pk=message.pk).update(data=message.data, updated_at=timezone.now())
    changes.conversations_touched([conversation.pk])


@transaction.atomic
def conversation_mark_read(*, conversation, user=None):
    """Mark every inbound message of the conversation read by staff.

    Queues one read receipt to WhatsApp for the newest inbound message (it marks
    the earlier ones read too). Does nothing when there is nothing unread.
    """
    now = timezone.now()
    unread = Message.objects.filter(conversation=conversation, direction=Message.Direction.INBOUND, read=False)
    newest = unread.exclude(whatsapp_message_id=None).order_by("-id").values_list("pk", flat=True).first()
    changed = unread.update(read=True, read_at=now)
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=0, updated_at=now)
    changes.conversations_touched([conversation.pk])
    conversation.unread_count = 0
    if changed and newest is not None:
        tasks.enqueue_on_commit(tasks.message_mark_read_task, newest)
    return changed


def _cache_call(call, *args):
    """The cache's answer, or None when it is down (the indicator is a courtesy: never fail for it)."""
    try:
        return call(*args)
    except Exception:
        logger.warning("Cache unavailable for the typing indicator", exc_info=True)
        return None


def typing_indicator_key(conversation_id):
    return f"chat:typing-indicator:{int(conversation_id)}"


def conversation_typing_indicator(*, conversation):
    """Staff started typing a reply: show the customer "typing…" on WhatsApp; True when one was queued.

    Only when the newest message the customer can see is theirs, has a wamid and has been read
    by staff: Meta's indicator also marks it read, and read receipts only ever go out for what
    staff have read (conversation_mark_read). At most one per TYPING_INDICATOR_SECONDS per
    conversation, by a cache key (no table); with the cache down, none is sent.
    """
    if not conversation.service_window_open():
        return False
    key = typing_indicator_key(conversation.pk)
    if _cache_call(cache.get, key):
        return False
    newest = (
        Message.objects.filter(conversation=conversation)
        .exclude(direction=Message.Direction.INTERNAL)
        .exclude(message_type=Message.Type.REACTION)
        .order_by("-id")
        .values_list("pk", "direction", "whatsapp_message_id", "read")
        .first()
    )
    if newest is None:
        return False
    pk, direction, wamid, read = newest
    if direction != Message.Direction.INBOUND or not wamid or not read:
        return False
    if not _cache_call(cache.add, key, pk, TYPING_INDICATOR_SECONDS):
        return False  # another pane took this period's indicator, or the cache is down
    tasks.enqueue_on_commit(tasks.message_typing_task, pk)
    return True
