"""Reads for the chat page and the API. Each selector picks its own joins.

The page's hot paths (the sidebar, opening a conversation, the 3-second polls)
issue a fixed number of queries whatever the size of the history: rows are read
in one query and everything a bubble shows (links, reactions, the quoted
message, whether it was retried) is fetched for the whole batch at once.
"""

from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from chat import changes
from chat.models import Conversation, Message, MessageTemplate
from chat.phones import InvalidPhone, looks_like_phone, normalize_phone
from links.models import EntityLink

HISTORY_PAGE = 50
SIDEBAR_LIMIT = 50
SIDEBAR_MAX = 1000  # "Show more" stops here; search finds the rest
ENTITY_PAGE = 50  # the entity view's first page and each older page
ENTITY_MAX = 1000  # a poll re-renders at most this many loaded messages
# A poll re-reads rows changed in the last few seconds before its cursor, so a
# transaction that took its updated_at before a poll but committed after it is
# still seen; such a row is rendered at most twice, never missed.
CURSOR_SLACK = timezone.timedelta(seconds=2)


def conversation_search_filter(query):
    """Q for the sidebar search: a phone number in any format, else a name."""
    query = (query or "").strip()
    if not query:
        return Q()
    digits = "".join(ch for ch in query if ch.isdigit())
    if looks_like_phone(query):
        match = Q(other_party__contains=digits)
        try:
            match |= Q(other_party=normalize_phone(query))
        except InvalidPhone:
            pass
        return match
    if len(digits) >= 3 and not query.strip("+-() 0123456789"):
        return Q(other_party__contains=digits)  # the end of a number someone remembers
    return Q(contact_name__icontains=query) | Q(wa_user_id__icontains=query)


def conversation_list(*, query="", limit=SIDEBAR_LIMIT):
    # Uses conversation_activity_idx; no aggregation over messages.
    rows = Conversation.objects.filter(conversation_search_filter(query))
    return list(rows.order_by("-last_message_at", "-id")[:limit])


def conversations_changed_since(*, since):
    """Whether any conversation changed after the sidebar's cursor (one indexed query)."""
    if since is None:
        return True
    return Conversation.objects.filter(updated_at__gt=since - CURSOR_SLACK).exists()


def cursor_now():
    """The cursor handed to a poll: changes after this moment are news to it."""
    return timezone.now()


def _bubble_rows():
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
        rows = (
            Message.objects.filter(message_type=Message.Type.REACTION, reply_to_whatsapp_id__in=wamids)
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
    rows = _bubble_rows().filter(conversation=conversation)
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    page = list(rows.order_by("-id")[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    page.reverse()
    return messages_decorate(page), has_more


def message_for_bubble(*, message_id):
    rows = messages_decorate(_bubble_rows().filter(pk=message_id))
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
    bubbles = messages_decorate(_bubble_rows().filter(match).order_by("id"))
    new = [m for m in bubbles if m.pk > after_id]
    changed = [m for m in bubbles if m.pk <= after_id]
    return new, changed, newest_id


def approved_templates():
    return list(MessageTemplate.objects.filter(status="APPROVED").order_by("name", "language"))


def entity_messages(*, entity_type, entity_id, before_id=None, down_to_id=None, limit=ENTITY_PAGE):
    """A page of the messages linked to one ERP record, grouped by conversation.

    The newest `limit` linked messages older than before_id (all of them: the first
    page), or, for the poll of a view that loaded older pages, every one from
    down_to_id on (at most ENTITY_MAX). Returns (groups, has_more, oldest_id):
    groups are [(conversation, [messages oldest first])], the most recently active
    conversation first; has_more says whether older linked messages exist.

    Keyset on the links' message ids, read from entity_link_lookup_idx, so a page
    costs the same whatever the size of the messages table.
    """
    links = EntityLink.objects.filter(entity_type=entity_type, entity_id=entity_id)
    if down_to_id is not None:
        ids = list(
            links.filter(message_id__gte=down_to_id)
            .order_by("-message_id")
            .values_list("message_id", flat=True)[:ENTITY_MAX]
        )
        oldest_id = ids[-1] if ids else down_to_id
        has_more = links.filter(message_id__lt=oldest_id).exists()
    else:
        if before_id is not None:
            links = links.filter(message_id__lt=before_id)
        ids = list(links.order_by("-message_id").values_list("message_id", flat=True)[: limit + 1])
        has_more = len(ids) > limit
        ids = ids[:limit]
        oldest_id = ids[-1] if ids else before_id
    rows = messages_decorate(_bubble_rows().select_related("conversation").filter(pk__in=ids).order_by("id"))
    groups = {}
    for message in rows:
        groups.setdefault(message.conversation_id, (message.conversation, []))[1].append(message)
    groups = sorted(groups.values(), key=lambda group: group[1][-1].pk, reverse=True)
    return groups, has_more, oldest_id or 0


def entity_conversations_shown(*, entity_type, entity_id, conversation_ids, from_id):
    """Which of these conversations already have a group on a view that shows the record's messages from from_id on."""
    return set(
        EntityLink.objects.filter(
            entity_type=entity_type,
            entity_id=entity_id,
            message_id__gte=from_id,
            message__conversation_id__in=conversation_ids,
        )
        .values_list("message__conversation_id", flat=True)
        .distinct()
    )


def entity_cursor(*, entity_type, entity_id):
    """A value that changes whenever the entity view would: links added or removed, messages changed."""
    return EntityLink.objects.filter(entity_type=entity_type, entity_id=entity_id).aggregate(
        links=Count("id"), newest_link=Max("id"), changed=Max("message__updated_at")
    )
