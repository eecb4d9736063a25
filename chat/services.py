"""Writes to conversations and messages. Every view, API endpoint, webhook and
admin action goes through these functions, so there is one path for each change.
"""

from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from chat.models import Conversation, Message
from chat.stats import stats_count_message

PREVIEW_LENGTH = 120
PREVIEW_LABELS = {
    Message.Type.IMAGE: "📷 Photo",
    Message.Type.VIDEO: "🎥 Video",
    Message.Type.AUDIO: "🎵 Audio",
    Message.Type.DOCUMENT: "📄 Document",
    Message.Type.STICKER: "Sticker",
    Message.Type.LOCATION: "📍 Location",
    Message.Type.CONTACTS: "👤 Contact",
    Message.Type.TEMPLATE: "Template",
    Message.Type.UNSUPPORTED: "Unsupported message",
}


class SendRefused(Exception):
    """A send that must not be queued, with a sentence a person understands."""

    def __init__(self, reason, code="refused"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


def message_preview(message):
    """The sidebar's one-line summary of a message."""
    text = (message.message_body or message.caption or "").strip()
    label = PREVIEW_LABELS.get(message.message_type)
    if message.message_type == Message.Type.REACTION:
        text = f"Reacted {message.message_body}".strip()
    elif label and text and message.message_type != Message.Type.TEMPLATE:
        text = f"{label}: {text}"
    elif label and not text:
        text = label
    text = " ".join(text.split())
    if len(text) > PREVIEW_LENGTH:
        text = text[: PREVIEW_LENGTH - 1] + "…"
    return text


def conversation_get_or_create(*, phone=None, user_id=None, name=""):
    """The conversation with a customer known by E.164 number and/or WhatsApp user id.

    Safe under concurrent webhooks: a lost creation race reads the winner's row.
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
            return conversation
        except IntegrityError:
            continue
    else:  # pragma: no cover - three lost races in a row
        raise RuntimeError("Could not create the conversation")
    changes = {}
    if name and conversation.contact_name != name:
        changes["contact_name"] = name
    if user_id and not conversation.wa_user_id:
        changes["wa_user_id"] = user_id
    if phone and not conversation.other_party:
        changes["other_party"] = phone
    if changes:
        changes["updated_at"] = timezone.now()
        Conversation.objects.filter(pk=conversation.pk).update(**changes)
        for field, value in changes.items():
            setattr(conversation, field, value)
    return conversation


def conversation_apply_message(*, message, shown=True):
    """Move the conversation's counters and the statistics for a newly stored message.

    Every new message passes through here, in the transaction that stored it (the
    writers: message_queue for outbound, integrations.inbound for inbound). Only F()
    expressions and conditional updates, so concurrent messages never lose a count and
    last_message_at only moves forward. A message that shows nothing new (a removed
    reaction, shown=False) still counts as activity and in the statistics, but leaves
    the preview and the unread count alone.

    Queries: two or three conditional UPDATEs of the conversation (last_created_at rides
    on the first), plus chat.stats.stats_count_message (one UPDATE; an INSERT too for
    the first message of its day, direction and type).
    """
    now = timezone.now()
    at = message.whatsapp_timestamp or message.created_at
    rows = Conversation.objects.filter(pk=message.conversation_id)
    later = Q(last_created_at__isnull=True) | Q(last_created_at__lt=message.created_at)
    counters = {
        "updated_at": now,
        # Used by the statistics: the newest created_at, never moved back.
        "last_created_at": Case(When(later, then=Value(message.created_at)), default=F("last_created_at")),
    }
    inbound = message.direction == Message.Direction.INBOUND
    if shown and inbound and message.message_type != Message.Type.REACTION:
        counters["unread_count"] = F("unread_count") + 1
    rows.update(**counters)
    if shown:
        latest = {"last_message_at": at, "last_message_preview": message_preview(message)}
        rows.filter(Q(last_message_at__isnull=True) | Q(last_message_at__lte=at)).update(**latest)
    if inbound:
        rows.filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at)).update(last_inbound_at=at)
    stats_count_message(message=message)


def _enqueue_send(message):
    from integrations.tasks import message_send_task

    transaction.on_commit(partial(message_send_task.delay, message.pk))


def check_service_window(conversation, message_type):
    """Refuse free-form messages outside WhatsApp's 24-hour customer-service window."""
    from django.conf import settings

    if message_type == Message.Type.TEMPLATE or not settings.WHATSAPP_ENFORCE_SERVICE_WINDOW:
        return
    if not conversation.service_window_open():
        raise SendRefused(
            "More than 24 hours have passed since this customer last wrote (or they never have), "
            "so WhatsApp only allows an approved template: use /api/whatsapp/send-template.",
            code="outside_service_window",
        )


@transaction.atomic
def message_queue(
    *,
    conversation,
    author,
    message_type,
    body="",
    caption="",
    file=None,
    stored_file="",
    file_size=None,
    file_name="",
    mime_type="",
    media_link="",
    data=None,
    reply_to_whatsapp_id="",
    entity=None,
    idempotency_key=None,
    retry_of=None,
):
    """Store an outbound message as queued and send it from the worker after commit.

    file is an uploaded file to keep (and upload to WhatsApp); media_link a public
    URL that Meta fetches itself. entity is an optional (entity_type, entity_id)
    pair to link the message to.
    With an idempotency_key already used by this author, the first message is
    returned and nothing new is queued.
    """
    if idempotency_key and author is not None:
        earlier = Message.objects.filter(from_user=author, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    check_service_window(conversation, message_type)
    data = dict(data or {})
    if media_link:
        data["link"] = media_link
    message = Message(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.QUEUED,
        message_type=message_type,
        message_body=body,
        caption=caption,
        from_user=author,
        to_phone=conversation.recipient,
        other_party=conversation.recipient,
        data=data,
        reply_to_whatsapp_id=reply_to_whatsapp_id,
        idempotency_key=idempotency_key or None,
        retry_of=retry_of,
        # Shown as given, less what the database cannot hold (NUL) or the column cannot fit.
        file_name=file_name.replace("\x00", "")[:255],
        mime_type=mime_type,
    )
    if file is not None:
        from integrations.inbound import safe_file_name  # one rule for every stored name (issue 9)

        message.file_size = file.size
        stored_name = safe_file_name(file_name or getattr(file, "name", ""), fallback=message_type)
        message.file.save(stored_name, file, save=False)
        message.media_state = Message.MediaState.READY
    elif stored_file:  # a file this system already keeps (a retry): no copy, no second backup
        message.file.name = stored_file
        message.file_size = file_size
        message.media_state = Message.MediaState.READY
        if retry_of is not None:
            message.media_url = retry_of.media_url
            # The original's backup covers this file; one still in flight is the sweeper's to finish.
            backup = retry_of.sharepoint_state
            uploading = backup == Message.BackupState.UPLOADING
            message.sharepoint_state = Message.BackupState.PENDING if uploading else backup
            message.sharepoint_item_id = retry_of.sharepoint_item_id
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        if idempotency_key and author is not None:
            return Message.objects.get(from_user=author, idempotency_key=idempotency_key)
        raise
    conversation_apply_message(message=message)
    if file is not None:
        from integrations.sharepoint_backup import queue_sharepoint_backup

        queue_sharepoint_backup(message)
    if entity is not None:
        from links.services import entity_link_create

        entity_link_create(message=message, entity_type=entity[0], entity_id=entity[1], user=author)
    _enqueue_send(message)
    return message


def message_send_text(*, conversation, author, body, **options):
    return message_queue(conversation=conversation, author=author, message_type=Message.Type.TEXT, body=body, **options)


@transaction.atomic
def message_retry(*, message, author):
    """Send a failed message again, as a new message linked to the failed one."""
    if message.direction != Message.Direction.OUTBOUND or message.status != Message.Status.FAILED:
        raise SendRefused("Only a failed message can be sent again.", code="not_failed")
    data = dict(message.data)
    return message_queue(
        conversation=message.conversation,
        author=author,
        message_type=message.message_type,
        body=message.message_body,
        caption=message.caption,
        stored_file=message.file.name if message.file else "",
        file_size=message.file_size,
        file_name=message.file_name,
        mime_type=message.mime_type,
        media_link=data.pop("link", ""),
        data=data,
        reply_to_whatsapp_id=message.reply_to_whatsapp_id,
        retry_of=message,
    )


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
    conversation.unread_count = 0
    if changed and newest is not None:
        from integrations.tasks import message_mark_read_task

        transaction.on_commit(partial(message_mark_read_task.delay, newest))
    return changed


# --- Media sent by link (issue 6: the REST API) --------------------------------------


@transaction.atomic
def message_queue_media_link(*, conversation, author, message_type, link, **options):
    """Queue a media message that WhatsApp fetches from `link` itself, and keep a copy.

    The copy (for the SharePoint backup) is downloaded after commit by
    integrations.tasks.message_fetch_media_task through the safe fetcher.
    """
    message = message_queue(
        conversation=conversation, author=author, message_type=message_type, media_link=link, **options
    )
    if message.media_state == Message.MediaState.NONE and not message.file:
        Message.objects.filter(pk=message.pk).update(media_state=Message.MediaState.PENDING)
        message.media_state = Message.MediaState.PENDING
        from integrations.tasks import message_fetch_media_task

        transaction.on_commit(partial(message_fetch_media_task.delay, message.pk))
    return message
