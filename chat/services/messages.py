"""Writes to messages: queueing an outbound message, storing an inbound one, and what a
customer's later messages change on an earlier one (reactions, edits, revokes)."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import changes
from chat.models import Conversation, Message
from chat.payload import clean, safe_file_name
from chat.rich_messages import build_buttons, build_contact, build_list, build_location
from chat.services.conversations import (
    conversation_apply_message,
    conversation_follow_identity,
    conversation_for_customer,
)
from chat.services.inbox import conversation_reopen, conversation_welcome
from chat.services.media import message_backup_queue
from chat.services.previews import message_preview
from integrations import tasks
from links.services import entity_link_create


class SendRefused(Exception):
    """A send that must not be queued, with a sentence a person understands."""

    def __init__(self, reason, code="refused"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class MessageDuplicate(Exception):  # noqa: N818 - an outcome, not an error
    """Another worker stored a message with this WhatsApp id first. Raised inside the
    caller's transaction, which must be undone (nothing of this message is kept)."""


# The quick reactions WhatsApp offers under a long press; the bubble menu's palette.
REACTION_EMOJIS = ("👍", "❤️", "😂", "😮", "😢", "🙏")


def check_quotable(conversation, message):
    """The wamid a reply in `conversation` quotes as its context; refuses what WhatsApp cannot quote."""
    if message.conversation_id != conversation.pk:
        raise SendRefused("That message is in another conversation.", code="not_quotable")
    if message.direction == Message.Direction.INTERNAL or message.message_type == Message.Type.REACTION:
        raise SendRefused("Only a message the customer can see can be replied to.", code="not_quotable")
    if not message.whatsapp_message_id:
        raise SendRefused(
            "This message has no WhatsApp id yet (it was not sent), so it cannot be quoted.", code="not_quotable"
        )
    return message.whatsapp_message_id


def check_service_window(conversation, message_type):
    """Refuse free-form messages outside WhatsApp's 24-hour customer-service window."""
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
    reply_to=None,
    entity=None,
    idempotency_key=None,
    retry_of=None,
    shown=True,
):
    """Store an outbound message as queued and send it from the worker after commit.

    file is an uploaded file to keep (and upload to WhatsApp); media_link a public
    URL that Meta fetches itself. reply_to is the Message this one quotes (sent as
    Cloud API context.message_id; refused when it has no wamid). entity is an optional
    (entity_type, entity_id) pair to link the message to. shown=False leaves the
    sidebar's preview alone (a removed reaction).
    With an idempotency_key already used by this author, the first message is
    returned and nothing new is queued.
    """
    if idempotency_key and author is not None:
        earlier = Message.objects.filter(from_user=author, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    check_service_window(conversation, message_type)
    if reply_to is not None:
        reply_to_whatsapp_id = check_quotable(conversation, reply_to)
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
    conversation_apply_message(message=message, shown=shown)  # marks the conversation changed
    if file is not None:
        message_backup_queue(message=message)
    if entity is not None:
        entity_link_create(message=message, entity_type=entity[0], entity_id=entity[1], user=author)
    tasks.enqueue_on_commit(tasks.message_send_task, message.pk)
    return message


def message_send_text(*, conversation, author, body, **options):
    return message_queue(conversation=conversation, author=author, message_type=Message.Type.TEXT, body=body, **options)


def _message_queue_built(built, **options):
    message_type, content, summary = built
    return message_queue(message_type=message_type, body=summary, data={message_type: content}, **options)


# A location, a contact card, reply buttons or a list: checked by chat.rich_messages (which raises
# RichRefused naming the field) before anything is stored or queued; sent as built by the send task.


def message_send_location(*, conversation, author, latitude, longitude, name="", address="", **options):
    built = build_location(latitude=latitude, longitude=longitude, name=name, address=address)
    return _message_queue_built(built, conversation=conversation, author=author, **options)


def message_send_contact(*, conversation, author, name, phone, email="", org="", **options):
    built = build_contact(name=name, phone=phone, email=email, org=org)
    return _message_queue_built(built, conversation=conversation, author=author, **options)


def message_send_buttons(*, conversation, author, body, titles, footer="", **options):
    built = build_buttons(body=body, titles=titles, footer=footer)
    return _message_queue_built(built, conversation=conversation, author=author, **options)


def message_send_list(*, conversation, author, body, button, rows, footer="", **options):
    built = build_list(body=body, button=button, rows=rows, footer=footer)
    return _message_queue_built(built, conversation=conversation, author=author, **options)


@transaction.atomic
def message_react(*, message, author, emoji):
    """React to `message` on WhatsApp with one of REACTION_EMOJIS, or remove our reaction (emoji "").

    The reaction is its own outbound row (type reaction, its target in reply_to_whatsapp_id),
    sent by the worker like any message; the newest of ours is the one the bubble shows.
    Choosing the reaction already standing queues nothing and returns the standing row.
    """
    if emoji and emoji not in REACTION_EMOJIS:
        raise SendRefused("Choose one of the reactions offered.", code="invalid_reaction")
    target = check_quotable(message.conversation, message)
    # Two clicks at once: the second waits here, then finds the first one's reaction standing.
    Message.objects.select_for_update().filter(pk=message.pk).first()
    ours = Message.objects.filter(
        conversation_id=message.conversation_id,
        direction=Message.Direction.OUTBOUND,
        message_type=Message.Type.REACTION,
        reply_to_whatsapp_id=target,
    ).exclude(status=Message.Status.FAILED)
    standing = ours.order_by("-id").first()
    if (standing.message_body if standing else "") == emoji:
        if standing is None:
            raise SendRefused("There is no reaction of yours to remove.", code="no_reaction")
        return standing
    reaction = message_queue(
        conversation=message.conversation,
        author=author,
        message_type=Message.Type.REACTION,
        body=emoji,
        reply_to_whatsapp_id=target,
        shown=bool(emoji),
    )
    # The reacted-to bubble re-renders in everyone's chat poll.
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now())
    return reaction


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
def message_queue_media_link(*, conversation, author, message_type, link, **options):
    """Queue a media message that WhatsApp fetches from `link` itself, and keep a copy.

    The copy (for the SharePoint backup) is downloaded after commit by
    integrations.tasks.message_fetch_media_task through the safe fetcher.
    """
    message = message_queue(
        conversation=conversation, author=author, message_type=message_type, media_link=link, **options
    )
    if message.media_state == Message.MediaState.NONE and not message.file:
        # Not a change the page shows until the copy lands (chat.services.media marks it then).
        Message.objects.filter(pk=message.pk).update(media_state=Message.MediaState.PENDING)
        message.media_state = Message.MediaState.PENDING
        tasks.enqueue_on_commit(tasks.message_fetch_media_task, message.pk)
    return message


# --- inbound -------------------------------------------------------------------------------


def message_receive(
    *,
    wamid,
    phone,
    user_id,
    name,
    sender,
    at,
    fields,
    business_phone="",
    previous_user_id="",
    identity=None,
    username="",
):
    """Store one inbound message in the customer's conversation; returns it.

    Call inside a transaction (the webhook item's). fields are the Message fields parsed
    from the payload (message_type, message_body, data, ...). previous_user_id: a "system"
    message about a changed user id belongs to the conversation of the previous id.
    identity: the new number or user id such a message announces, as keyword arguments of
    conversation_follow_identity. Raises MessageDuplicate when the wamid is already stored
    (the insert is refused; the caller's transaction must then be undone).
    """
    conversation = None
    if previous_user_id:
        conversation = Conversation.objects.filter(wa_user_id=previous_user_id).first()
    conversation = conversation or conversation_for_customer(
        phone=phone, user_id=user_id, name=name, at=at, username=username
    )
    message = Message(
        conversation=conversation,
        whatsapp_message_id=wamid,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        from_phone=sender[:128],
        to_phone=business_phone[:128],
        other_party=(conversation.recipient or sender)[:128],
        whatsapp_timestamp=at,
        **fields,
    )
    message.data = clean(message.data)
    shown = True
    if message.message_type == Message.Type.REACTION:
        shown = _reaction_settle(message, conversation)
    first = conversation.last_inbound_at is None and conversation.assignee_id is None
    try:
        message.save()  # no savepoint: a duplicate undoes the caller's transaction
    except IntegrityError as exc:
        raise MessageDuplicate(wamid) from exc
    conversation_apply_message(message=message, shown=shown)  # marks the conversation changed
    if shown and message.message_type != Message.Type.REACTION:
        if conversation.status != Conversation.Status.OPEN:
            conversation_reopen(conversation=conversation, sentence="Reopened: the customer wrote")
        if first:
            conversation_welcome(conversation=conversation)
    if identity is not None:
        conversation_follow_identity(message=message, conversation=conversation, **identity)
    if message.media_state == Message.MediaState.PENDING:
        tasks.enqueue_on_commit(tasks.media_download_task, message.pk, sweeper="the media sweeper")
    return message


def _reaction_settle(message, conversation):
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
    changes.conversations_touched([conversation.pk])
    return bool(emoji)


def message_apply_change(*, kind, original_id, sender, change_id, at, content_as=None):
    """An edit or revoke of an inbound message we hold; None when we do not hold it.

    kind is "edit" or "revoke". content_as(message_type) gives an edit's new fields
    (message_body, caption), read as the original's type when the edit names none.
    change_id is the edit's or revoke's own wamid, kept so a replay changes nothing.
    Returns "edited", "revoked" or "duplicate".
    """
    with transaction.atomic(savepoint=False):
        original = (
            Message.objects.select_for_update()
            .filter(whatsapp_message_id=original_id, direction=Message.Direction.INBOUND)
            .first()
        )
        if original is None or original.from_phone != sender:
            return None
        old_preview = message_preview(original)
        data = dict(original.data)
        if change_id in data.get("change_ids", []):
            return "duplicate"
        data["change_ids"] = [*data.get("change_ids", []), change_id]
        stamp = at.isoformat() if at else timezone.now().isoformat()
        if kind == "revoke":
            if not data.get("revoked"):
                data.update(revoked=True, revoked_at=stamp)
                data["revoked_content"] = {"body": original.message_body, "caption": original.caption}
                original.message_body = ""
                original.caption = ""
        else:
            content = content_as(original.message_type) if content_as else {}
            newest = data.get("edited_at") is None or stamp >= data["edited_at"]
            if newest and not data.get("revoked"):
                history = {"at": stamp, "body": original.message_body, "caption": original.caption}
                data["edits"] = [*data.get("edits", []), history]
                data["edited_at"] = stamp
                if original.is_media:
                    original.caption = content.get("caption", "") or content.get("message_body", "")
                else:
                    original.message_body = content.get("message_body", "")
        original.data = clean(data)
        original.updated_at = timezone.now()
        original.save(update_fields=["message_body", "caption", "data", "updated_at"])
        rows = Conversation.objects.filter(pk=original.conversation_id)
        rows.update(updated_at=original.updated_at)
        # When the changed message is the one the inbox shows, show its new state.
        new_preview = "This message was deleted" if data.get("revoked") else message_preview(original)
        rows.filter(last_message_preview=old_preview).update(last_message_preview=new_preview)
        changes.conversations_touched([original.conversation_id])
    return "edited" if kind == "edit" else "revoked"
