"""Reads of entity links: the entity view's pages and poll, and the API's entity messages."""

from django.db.models import Count, Max

from chat.models import Message
from chat.selectors.messages import bubble_rows, messages_decorate, with_details
from links.models import EntityLink

ENTITY_PAGE = 50  # the entity view's first page and each older page
ENTITY_MAX = 1000  # a poll re-renders at most this many loaded messages


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
    rows = messages_decorate(bubble_rows().select_related("conversation").filter(pk__in=ids).order_by("id"))
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


def entity_message_page(*, entity_type, entity_id, before=None, limit=50):
    """Messages linked to one ERP record, newest first."""
    rows = Message.objects.filter(entity_links__entity_type=entity_type, entity_links__entity_id=entity_id)
    if before is not None:
        rows = rows.filter(id__lt=before)
    # Uses entity_link_lookup_idx.
    rows = list(with_details(rows.select_related("conversation")).order_by("-id").distinct()[: limit + 1])
    return rows[:limit], (rows[limit - 1].pk if len(rows) > limit else None)


CONTACT_RECORDS = 20


def conversation_records(*, conversation, limit=CONTACT_RECORDS):
    """The ERP records a conversation's messages are linked to, most recently linked first (the contact panel).

    [{"entity_type", "entity_id", "messages"}]; one query over the links of this conversation's messages.
    """
    rows = (
        EntityLink.objects.filter(message__conversation=conversation)
        .values("entity_type", "entity_id")
        .annotate(messages=Count("id"), newest=Max("message_id"))
        .order_by("-newest")
    )
    return list(rows[:limit])
