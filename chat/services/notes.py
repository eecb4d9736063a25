"""Internal notes: staff talking among themselves in a conversation's thread, and @mentions.

A note is a Message row (direction internal, type note). It is never queued for WhatsApp
(nothing here enqueues a send, and the send worker only claims outbound rows), never moves
the conversation's unread count, preview or statistics, and links to ERP records like any message.
"""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.access import can_use_chat
from chat.formatting import MENTION
from chat.models import Mention, Message
from chat.services.conversations import conversation_touch
from chat.services.inbox import InboxRefused
from links.services import entity_link_create

NOTE_MAX = 4096


def mentioned_users(body, *, author=None):
    """The chat users a note's @username mentions, without its author."""
    names = {match.group(1) for match in MENTION.finditer(body)}
    if not names:
        return []
    field = get_user_model().USERNAME_FIELD
    users = get_user_model().objects.filter(**{f"{field}__in": names}, is_active=True)
    return [user for user in users if user != author and can_use_chat(user)]


def _same_note(earlier, conversation):
    """The note an idempotency key already made; the same key on a send or another conversation is refused."""
    if earlier.message_type != Message.Type.NOTE or earlier.conversation_id != conversation.pk:
        raise InboxRefused("idempotency_key", "This idempotency key was used for another request; use a new one.")
    return earlier


@transaction.atomic
def note_add(*, conversation, author, body, entity=None, idempotency_key=None):
    """Add a note to the thread, notify whom it mentions, link it to a record if given."""
    body = (body or "").replace("\x00", "").strip()
    if not body:
        raise InboxRefused("body", "Write the note.")
    if len(body) > NOTE_MAX:
        raise InboxRefused("body", f"A note has at most {NOTE_MAX} characters.")
    if idempotency_key:
        earlier = Message.objects.filter(from_user=author, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return _same_note(earlier, conversation)
    note = Message(
        conversation=conversation,
        direction=Message.Direction.INTERNAL,
        message_type=Message.Type.NOTE,
        status=Message.Status.INTERNAL,
        from_user=author,
        message_body=body,
        idempotency_key=idempotency_key or None,
    )
    try:
        with transaction.atomic():
            note.save()
    except IntegrityError:
        if idempotency_key:
            return _same_note(Message.objects.get(from_user=author, idempotency_key=idempotency_key), conversation)
        raise
    mentioned = mentioned_users(body, author=author)
    Mention.objects.bulk_create([Mention(message=note, user=user) for user in mentioned])
    if entity is not None:
        entity_link_create(message=note, entity_type=entity[0], entity_id=entity[1], user=author)
    conversation_touch(conversation_id=conversation.pk)  # the sidebar's poll shows the mention
    return note


def mentions_seen(*, conversation, user):
    """The user opened the conversation: its mentions of them are no longer news."""
    return Mention.objects.filter(user=user, seen_at=None, message__conversation=conversation).update(
        seen_at=timezone.now()
    )
