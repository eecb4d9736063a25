"""Reads of messages for the page and the API.

The page's hot paths (opening a conversation, the 3-second polls) issue a fixed
number of queries whatever the size of the history: rows are read in one query
and everything a bubble shows (links, reactions, the quoted message, whether it
was retried) is fetched for the whole batch at once.
"""

from django.db.models import Exists, Max, OuterRef, Q

from chat import changes
from chat.models import Message
from chat.selectors.conversations import CURSOR_SLACK
from links.models import EntityLink

HISTORY_PAGE = 50


def bubble_rows():
    retried = Message.objects.filter(retry_of=OuterRef("pk"))
    return (
        Message.objects.exclude(message_type=Message.Type.REACTION)
        .select_related("from_user")
        .annotate(was_retried=Exists(retried))
    )


def messages_decorate(messages):
    """Attach what each bubble shows beyond its own row, in three queries for any batch.

    Sets message.links (EntityLink rows), message.reactions ([(emoji, direction)])
    and message.quoted (the replied-to Message, or None; quoted_missing when the
    reply points at a message this system does not have).
    """
    messages = list(messages)
    if not messages:
        return messages
    ids = [m.pk for m in messages]
    links = {}
    for link in EntityLink.objects.filter(message_id__in=ids).order_by("entity_type", "entity_id"):
        links.setdefault(link.message_id, []).append(link)
    wamids = [m.whatsapp_message_id for m in messages if m.whatsapp_message_id]
    reactions = {}
    if wamids:
        # The newest reaction of each side wins and an empty emoji removes it. Inbound
        # processing blanks superseded rows (data["superseded"]): those change nothing.
        # Our own reactions that WhatsApp refused are not shown.
        rows = (
            Message.objects.filter(message_type=Message.Type.REACTION, reply_to_whatsapp_id__in=wamids)
            .exclude(direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED)
            .order_by("id")
            .values_list("reply_to_whatsapp_id", "direction", "message_body", "data")
        )
        for target, direction, emoji, data in rows:
            if emoji or not (isinstance(data, dict) and data.get("superseded")):
                reactions.setdefault(target, {})[direction] = emoji
    quoted_ids = {m.reply_to_whatsapp_id for m in messages if m.reply_to_whatsapp_id}
    quoted = {}
    if quoted_ids:
        for row in Message.objects.filter(whatsapp_message_id__in=quoted_ids):
            quoted[row.whatsapp_message_id] = row
    for message in messages:
        message.links = links.get(message.pk, [])
        by_side = reactions.get(message.whatsapp_message_id, {}) if message.whatsapp_message_id else {}
        message.reactions = [(emoji, side) for side, emoji in sorted(by_side.items()) if emoji]
        message.quoted = quoted.get(message.reply_to_whatsapp_id) if message.reply_to_whatsapp_id else None
        message.quoted_missing = bool(message.reply_to_whatsapp_id) and message.quoted is None
    return messages


def message_history(*, conversation, before_id=None, limit=HISTORY_PAGE):
    """The newest `limit` bubbles (older than before_id), oldest first, and whether more exist.

    Keyset pagination on message_history_idx (conversation, id).
    """
    rows = bubble_rows().filter(conversation=conversation)
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    page = list(rows.order_by("-id")[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    page.reverse()
    return messages_decorate(page), has_more


FOUND_CONTEXT = 10  # bubbles shown above a message a search jumped to


def message_around(*, conversation, message_id, limit=HISTORY_PAGE):
    """A window on the history at message_id (a search hit): a few bubbles before it, it, and up to
    `limit` after. Returns (bubbles oldest first, more before, more after); two keyset queries."""
    rows = bubble_rows().filter(conversation=conversation)
    before = list(rows.filter(id__lte=message_id).order_by("-id")[: FOUND_CONTEXT + 2])
    after = list(rows.filter(id__gt=message_id).order_by("id")[: limit + 1])
    has_older, has_newer = len(before) > FOUND_CONTEXT + 1, len(after) > limit
    page = before[: FOUND_CONTEXT + 1][::-1] + after[:limit]
    return messages_decorate(page), has_older, has_newer


def message_newer(*, conversation, after_id, upto_id, limit=HISTORY_PAGE):
    """The bubbles after after_id up to upto_id (the newest when the page opened; the poll shows what
    came later), oldest first, and whether more remain in that range."""
    rows = bubble_rows().filter(conversation=conversation, id__gt=after_id, id__lte=upto_id)
    page = list(rows.order_by("id")[: limit + 1])
    return messages_decorate(page[:limit]), len(page) > limit


def message_for_bubble(*, message_id):
    rows = messages_decorate(bubble_rows().filter(pk=message_id))
    return rows[0] if rows else None


def messages_changed(*, conversation, after_id, since):
    """What a conversation poll must show: (new bubbles, changed bubbles, newest id).

    New means id > after_id; changed means an older row whose updated_at is after
    the cursor (the time of the previous poll, less CURSOR_SLACK). A new or changed
    reaction re-renders the bubble it reacts to.

    When the conversation's change mark (chat.changes) is older than the cursor,
    nothing changed and the messages table is not read at all. Otherwise the two
    conditions are two queries, each a range scan of its own index
    (message_history_idx, message_changed_idx): one query with an OR between them
    can fall back to reading the whole conversation.
    """
    in_conversation = Message.objects.filter(conversation=conversation)
    if since is not None:
        marked_at = changes.messages_marked_at(conversation.pk)
        if marked_at is None:  # expired or lost: the newest updated_at, on message_changed_idx
            newest = in_conversation.aggregate(at=Max("updated_at"))["at"]
            newest = max(filter(None, (newest, conversation.updated_at)), default=None)
            # A change commits within CURSOR_SLACK of its updated_at (the cursor relies on it too).
            marked_at = (newest + CURSOR_SLACK).timestamp() if newest else 0.0
            changes.messages_seen(conversation.pk, marked_at)
        if marked_at < (since - CURSOR_SLACK).timestamp():
            return [], [], after_id
    columns = ("id", "message_type", "reply_to_whatsapp_id")
    rows = dict.fromkeys(in_conversation.filter(id__gt=after_id).order_by("id").values_list(*columns))
    if since is not None:
        rows.update(dict.fromkeys(in_conversation.filter(updated_at__gt=since - CURSOR_SLACK).values_list(*columns)))
    if not rows:
        return [], [], after_id
    rows = sorted(rows)
    newest_id = max(after_id, rows[-1][0])
    wanted = {row[0] for row in rows if row[1] != Message.Type.REACTION}
    targets = {row[2] for row in rows if row[1] == Message.Type.REACTION and row[2]}
    match = Q(pk__in=wanted)
    if targets:
        match |= Q(whatsapp_message_id__in=targets, conversation=conversation)
    bubbles = messages_decorate(bubble_rows().filter(match).order_by("id"))
    new = [m for m in bubbles if m.pk > after_id]
    changed = [m for m in bubbles if m.pk <= after_id]
    return new, changed, newest_id


def with_details(rows):
    # One query for the page plus one for all its entity links.
    return rows.select_related("from_user").prefetch_related("entity_links")


def message_page(*, conversation, before=None, limit=50, message_type=None):
    """A conversation's messages (or those of one type, such as its notes), newest first; `before` is the
    previous page's last id."""
    rows = Message.objects.filter(conversation=conversation)
    if message_type is not None:
        rows = rows.filter(message_type=message_type)
    if before is not None:
        rows = rows.filter(id__lt=before)
    # Uses message_history_idx (conversation, id).
    rows = list(with_details(rows).order_by("-id")[: limit + 1])
    return rows[:limit], (rows[limit - 1].pk if len(rows) > limit else None)


EXPORT_BATCH = 500
# What an export leaves out: staff's notes and activity lines are not part of the talk with the customer.
EXPORT_TYPES_LEFT_OUT = (Message.Type.NOTE, Message.Type.ACTIVITY, Message.Type.REACTION)


def messages_for_export(*, conversation, batch=None):
    """Every message between the customer and the business, oldest first, read in keyset batches.

    A generator: a transcript or CSV of any length holds one batch in memory at a time, and each
    batch is one range of message_history_idx.
    """
    batch = batch or EXPORT_BATCH
    after = 0
    while True:
        rows = list(
            Message.objects.filter(conversation=conversation, id__gt=after)
            .exclude(message_type__in=EXPORT_TYPES_LEFT_OUT)
            .select_related("from_user")
            .order_by("id")[:batch]
        )
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].pk


def first_contact_at(*, conversation):
    """When the customer and the business first spoke: the first message's time (one index read), else when
    the conversation was made."""
    first = Message.objects.filter(conversation=conversation).order_by("id").values_list("created_at", flat=True)
    return min(filter(None, (first.first(), conversation.created_at)))
