"""The API's statistics: whole days from the daily rollup, the partial first day from the messages."""

from datetime import timedelta

from django.db.models import Count, Sum
from django.utils import timezone

from chat.models import Conversation, Message, MessageDayCount
from chat.stats import day_start, stats_day


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
        .exclude(direction=Message.Direction.INTERNAL)
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
