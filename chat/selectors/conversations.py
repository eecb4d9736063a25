"""Reads of conversations for the page and the API: one search, the sidebar's list, the API's keyset pages.

Each list costs a constant number of indexed queries however long the history grows.
"""

from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chat.models import Conversation
from chat.phones import InvalidPhone, looks_like_phone, normalize_phone

SIDEBAR_LIMIT = 50
SIDEBAR_MAX = 1000  # "Show more" stops here; search finds the rest
# A poll re-reads rows changed in the last few seconds before its cursor, so a
# transaction that took its updated_at before a poll but committed after it is
# still seen; such a row is rendered at most twice, never missed.
CURSOR_SLACK = timezone.timedelta(seconds=2)


def conversation_search_filter(query):
    """Q for the conversation search of the sidebar and the API: a phone number in any format, else a name.

    Digits also find a WhatsApp user id that contains them (a customer known only by it).
    """
    query = (query or "").strip()
    if not query:
        return Q()
    digits = "".join(ch for ch in query if ch.isdigit())
    if looks_like_phone(query):
        match = Q(other_party__contains=digits) | Q(wa_user_id__contains=digits)
        try:
            match |= Q(other_party=normalize_phone(query))
        except InvalidPhone:
            pass
        return match
    if len(digits) >= 3 and not query.strip("+-() 0123456789"):
        # The end of a number someone remembers.
        return Q(other_party__contains=digits) | Q(wa_user_id__contains=digits)
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


def conversation_page(*, query="", after=None, limit=50):
    """Conversations, most recent activity first, found by the sidebar's search; `after` is the previous
    page's last (last_message_at ISO or None, id). Returns (conversations, next_after or None)."""
    rows = Conversation.objects.filter(conversation_search_filter(query))
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
