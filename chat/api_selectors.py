"""Reads for the REST API (chat/api.py). Each list is a keyset page: a constant
number of indexed queries however long the history grows."""

from datetime import timedelta

from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chat.models import Conversation, Message, MessageDayCount, MessageTemplate
from chat.phones import InvalidPhone, looks_like_phone, normalize_phone
from chat.stats import day_start, stats_day


def conversation_page(*, query="", after=None, limit=50):
    """Conversations, most recent activity first; `after` is the previous page's
    last (last_message_at ISO or None, id). Returns (conversations, next_after or None)."""
    rows = Conversation.objects.all()
    query = (query or "").strip()
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        if looks_like_phone(query) and digits:
            rows = rows.filter(Q(other_party__contains=digits) | Q(wa_user_id__contains=digits))
        else:
            rows = rows.filter(
                Q(contact_name__icontains=query) | Q(other_party__contains=query) | Q(wa_user_id__icontains=query)
            )
    if after is not None:
        at, pk = after
        if at is None:
            rows = rows.filter(last_message_at__isnull=True, id__lt=pk)
        else:
            rows = rows.filter(
                Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=pk) | Q(last_message_at__isnull=True)
            )
    # Uses conversation_activity_idx.
    rows = list(rows.order_by(F("last_message_at").desc(nulls_last=True), "-id")[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, (last.last_message_at.isoformat() if last.last_message_at else None, last.pk)


def parse_conversation_cursor(values):
    """(datetime or None, int) from a decoded cursor, or None when it is not one."""
    at, pk = values
    if not isinstance(pk, int) or (at is not None and not isinstance(at, str)):
        return None
    if at is None:
        return None, pk
    parsed = parse_datetime(at)
    return (parsed, pk) if parsed is not None else None


def _with_details(rows):
    # One query for the page plus one for all its entity links.
    return rows.select_related("from_user").prefetch_related("entity_links")


def message_page(*, conversation, before=None, limit=50):
    """A conversation's messages, newest first; `before` is the previous page's last id."""
    rows = Message.objects.filter(conversation=conversation)
    if before is not None:
        rows = rows.filter(id__lt=before)
    # Uses message_history_idx (conversation, id).
    rows = list(_with_details(rows).order_by("-id")[: limit + 1])
    return rows[:limit], (rows[limit - 1].pk if len(rows) > limit else None)


def entity_message_page(*, entity_type, entity_id, before=None, limit=50):
    """Messages linked to one ERP record, newest first."""
    rows = Message.objects.filter(entity_links__entity_type=entity_type, entity_links__entity_id=entity_id)
    if before is not None:
        rows = rows.filter(id__lt=before)
    # Uses entity_link_lookup_idx.
    rows = list(_with_details(rows.select_related("conversation")).order_by("-id").distinct()[: limit + 1])
    return rows[:limit], (rows[limit - 1].pk if len(rows) > limit else None)


def conversation_for_phone(text):
    """The conversation with this number (any common form) or WhatsApp user id, or None."""
    try:
        phone = normalize_phone(text)
    except InvalidPhone:
        phone = None
    if phone:
        found = Conversation.objects.filter(other_party=phone).first()
        if found is not None:
            return found
    return Conversation.objects.filter(wa_user_id=(text or "").strip()[:128]).first() if text else None


def message_stats(*, days, now=None):
    """The seed's statistics over the last `days` days (a rolling window from now - days on).

    Two queries whatever the history: the whole days from the daily rollup together with
    the partial first day from the messages (one UNION ALL), and the conversations active
    since the window's start (Conversation.last_created_at).
    """
    since = (now or timezone.now()) - timedelta(days=days)
    first_whole_day = stats_day(since) + timedelta(days=1)
    # At most days x 26 rollup rows, through the unique key's index (day first).
    whole_days = (
        MessageDayCount.objects.filter(day__gte=first_whole_day)
        .values("direction", "message_type")
        .annotate(count=Sum("count"))
        .order_by()
    )
    # At most one day of messages, through message_stats_idx (created_at, direction, message_type).
    first_day = (
        Message.objects.filter(created_at__gte=since, created_at__lt=day_start(first_whole_day))
        .values("direction", "message_type")
        .annotate(count=Count("id"))
        .order_by()
    )
    counts = {}
    for row in whole_days.union(first_day, all=True):
        key = (row["direction"], row["message_type"])
        counts[key] = counts.get(key, 0) + row["count"]
    breakdown = [
        {"direction": direction, "type": kind, "count": count}
        for (direction, kind), count in sorted(counts.items())
        if count
    ]
    # Uses conversation_stats_idx.
    unique = Conversation.objects.filter(last_created_at__gte=since).count()
    return {
        "total_messages": sum(row["count"] for row in breakdown),
        "unique_conversations": unique,
        "breakdown": breakdown,
        "period_days": days,
    }


def template_list(*, status=""):
    rows = MessageTemplate.objects.all()
    if status:
        rows = rows.filter(status=status.upper())
    return list(rows.order_by("name", "language"))
