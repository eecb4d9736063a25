"""Reads of conversations for the page and the API: one search, the sidebar's list, the API's keyset pages.

Each list costs a constant number of indexed queries however long the history grows.
"""

from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chat.models import Conversation, Mention
from chat.phones import InvalidPhone, looks_like_phone, normalize_phone, phone_display

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
    return Q(staff_name__icontains=query) | Q(contact_name__icontains=query) | Q(wa_user_id__icontains=query)


def new_chat_offer(query):
    """{"phone": E.164, "display": "+1 202 555 0123"} when the search is a valid number nobody has a conversation
    with (by E.164, or the text as a WhatsApp user id), else None.

    One indexed query, and only when the search is a number: the sidebar stays a constant number of queries.
    """
    query = (query or "").strip()
    if not looks_like_phone(query):
        return None
    try:
        phone = normalize_phone(query)
    except InvalidPhone:
        return None
    if Conversation.objects.filter(Q(other_party=phone) | Q(wa_user_id=query[:128])).exists():
        return None
    return {"phone": phone, "display": phone_display(phone)}


def _id_after(owner, prefix):
    value = owner.removeprefix(prefix) if owner.startswith(prefix) else ""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None


class InboxFilter:
    """The sidebar's (and the API's) view of the inbox: a status, whose conversations, and a label.

    status: open (the default), resolved, snoozed, or "" for every status. owner: "all", "mine",
    "unassigned", "team:<id>" or "agent:<user id>". team_id narrows any owner to one team (the
    API's assignee and team filters together). label: a label's id, or "" for any. Read from
    untrusted parameters: anything else is the default.
    """

    OWNERS = ("all", "mine", "unassigned")

    def __init__(self, status=Conversation.Status.OPEN, owner="all", *, team_id=None, label=""):
        label = label if isinstance(label, str) else str(label or "")
        self.label_id = int(label) if label.isascii() and label.isdigit() and len(label) < 12 else None
        self.status = status if status in (*Conversation.Status.values, "") else Conversation.Status.OPEN
        owner = owner if isinstance(owner, str) else ""
        self.agent_id = _id_after(owner, "agent:")
        owner_team = _id_after(owner, "team:")
        self.team_id = team_id if team_id is not None else owner_team
        known = owner in self.OWNERS or self.agent_id is not None or owner_team is not None
        self.owner = owner if known else "all"

    def q(self, user):
        match = Q(status=self.status) if self.status else Q()
        if self.owner == "mine":
            match &= Q(assignee=user)
        elif self.owner == "unassigned":
            match &= Q(assignee=None)
        elif self.agent_id is not None:
            match &= Q(assignee_id=self.agent_id)
        if self.team_id is not None:
            match &= Q(team_id=self.team_id)
        if self.label_id is not None:
            # One row per conversation and label (the table's unique key), so the join repeats no conversation.
            match &= Q(labels=self.label_id)
        return match

    @property
    def label(self):
        return "" if self.label_id is None else str(self.label_id)

    def params(self):
        return {"status": self.status, "owner": self.owner, "label": self.label}


def conversation_list(*, query="", limit=SIDEBAR_LIMIT, user=None, inbox=None, visible=None):
    """The sidebar: the conversations of one filter (open ones by default), newest activity first.

    Uses conversation_status_idx, or conversation_assignee_idx / conversation_team_idx for a
    filter by owner; no aggregation over messages. Each row carries its preview's side and status
    (last_direction, last_status: one join to the message the preview shows) for "You:" and the ticks,
    and its labels (one more query for every row together).
    """
    inbox = inbox or InboxFilter()
    rows = Conversation.objects.filter(conversation_search_filter(query), inbox.q(user), visible or Q())
    rows = rows.annotate(last_direction=F("last_message__direction"), last_status=F("last_message__status"))
    rows = rows.select_related("assignee").prefetch_related("labels")
    return list(rows.order_by("-last_message_at", "-id")[:limit])


NOTIFY_ROWS = 20
MENTIONS_COUNTED = 100


def inbox_counts(*, user, visible=None):
    """How many open conversations have something unread, per sidebar filter, and the user's unseen mentions.

    Two queries whatever the history: a GROUP BY over conversation_unread_idx (only open
    conversations with unread messages, a set staff keep small by answering), and an index
    read of the user's unseen mentions (at most MENTIONS_COUNTED). Returns {"all", "mine", "unassigned",
    "teams": {id: n}, "mentions", "latest_mentions", "concerns_me"}.
    """
    groups = (
        Conversation.objects.filter(visible or Q(), status=Conversation.Status.OPEN, unread_count__gt=0)
        .values_list("assignee_id", "team_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {"all": 0, "mine": 0, "unassigned": 0, "teams": {}}
    for assignee_id, team_id, n in groups:
        counts["all"] += n
        if assignee_id is None:
            counts["unassigned"] += n
        elif user is not None and assignee_id == user.pk:
            counts["mine"] += n
        if team_id is not None:
            counts["teams"][team_id] = counts["teams"].get(team_id, 0) + n
    unseen = _unseen_mentions(user)
    counts["mentions"] = len(unseen)
    counts["latest_mentions"] = unseen[:NOTIFY_ROWS]
    # What concerns this user: the tab title's count.
    counts["concerns_me"] = counts["mine"] + counts["unassigned"] + counts["mentions"]
    return counts


def _unseen_mentions(user):
    """The user's unseen mentions, newest first, at most MENTIONS_COUNTED (the title shows 99+ beyond)."""
    if user is None:
        return []
    rows = Mention.objects.filter(user=user, seen_at=None).select_related("message__from_user")
    return list(rows.order_by("-id")[:MENTIONS_COUNTED])


def notify_state(*, user, visible=None, mentions=()):
    """What the page's notifications compare from one sidebar render to the next (one query).

    The conversations with unread customer messages that concern the user (theirs and
    unassigned ones, open), and their newest unseen mentions and assignments. Shown in the
    user's own browser only.
    """
    rows = (
        Conversation.objects.filter(visible or Q(), status=Conversation.Status.OPEN, unread_count__gt=0)
        .filter(Q(assignee=user) | Q(assignee=None))
        .order_by("-last_message_at")
        .values(
            "id", "unread_count", "staff_name", "contact_name", "other_party", "wa_user_id", "last_message_preview"
        )[:NOTIFY_ROWS]
    )
    return {
        "conversations": [
            {
                "id": row["id"],
                "unread": row["unread_count"],
                "title": row["staff_name"]
                or row["contact_name"]
                or row["other_party"]
                or row["wa_user_id"]
                or "WhatsApp",
                "body": row["last_message_preview"][:120],
            }
            for row in rows
        ],
        "mentions": [
            {
                "id": mention.pk,
                "conversation": mention.message.conversation_id,
                "title": _mention_title(mention.message),
                "body": mention.message.message_body[:120],
            }
            for mention in mentions
        ],
    }


def _mention_title(message):
    author = message.from_user
    who = (author.get_full_name() or author.get_username()) if author else "Round robin"
    if message.message_type == message.Type.NOTE:
        return f"{who} mentioned you"
    return f"{who} gave you a conversation"


def conversations_changed_since(*, since):
    """Whether any conversation changed after the sidebar's cursor (one indexed query)."""
    if since is None:
        return True
    return Conversation.objects.filter(updated_at__gt=since - CURSOR_SLACK).exists()


def cursor_now():
    """The cursor handed to a poll: changes after this moment are news to it."""
    return timezone.now()


def conversation_page(*, query="", after=None, limit=50, visible=None, inbox=None, user=None):
    """Conversations, most recent activity first, found by the sidebar's search and narrowed by the
    sidebar's InboxFilter (every status by default); `after` is the previous page's last
    (last_message_at ISO or None, id). Returns (conversations, next_after or None)."""
    inbox = inbox or InboxFilter(status="")
    rows = (
        Conversation.objects.select_related("assignee", "team")
        .prefetch_related("labels")
        .filter(conversation_search_filter(query), inbox.q(user))
    )
    if visible is not None:
        rows = rows.filter(visible)
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


# How a route's <ref> names a conversation (the API's conversations/<ref>/... routes). Up to this many
# digits is the conversation's id, so a phone number that short (a few small countries' numbers) needs its "+";
# nearly every number, with its country code, has ten digits or more.
ID_DIGITS_MAX = 9
# What people put between a number's digits; a WhatsApp user id always has letters (US.1349...).
PHONE_SEPARATORS = frozenset(" -().")


def conversation_ref(text):
    """What a route's reference means: ("id", int), ("phone", E.164 or None when invalid) or ("wa_user_id", str).

    - up to ID_DIGITS_MAX ASCII digits: the conversation's id (42);
    - starting with "+", or longer runs of digits (WhatsApp's own form, 919876543210), or digits
      with the separators people type (91 98765-43210): a phone number, normalised to E.164;
    - anything else: a WhatsApp user id (Conversation.wa_user_id), as stored.
    """
    text = (text or "").strip()
    digits_only = text.isascii() and text.isdigit()
    if digits_only and len(text) <= ID_DIGITS_MAX:
        return "id", int(text)
    written_like_a_number = text.isascii() and all(ch.isdigit() or ch in PHONE_SEPARATORS for ch in text)
    phone_like = text.startswith("+") or (written_like_a_number and any(ch.isdigit() for ch in text))
    if phone_like:
        try:
            return "phone", normalize_phone(text)
        except InvalidPhone:
            return "phone", None
    if not text or len(text) > 128 or "\x00" in text:  # no stored user id is empty, longer, or has a NUL
        return "wa_user_id", None
    return "wa_user_id", text


REF_FIELDS = {"id": "pk", "phone": "other_party", "wa_user_id": "wa_user_id"}


def conversation_by_ref(ref, *, visible=None):
    """(what the reference was read as, the conversation or None) among the visible ones; one query."""
    kind, value = conversation_ref(ref)
    if value is None:
        return kind, None
    rows = Conversation.objects.select_related("assignee", "team").filter(visible or Q(), **{REF_FIELDS[kind]: value})
    return kind, rows.first()


def conversation_for_phone(text):
    """The conversation with this number (any common form a person types) or WhatsApp user id, or None.

    What New chat looks up: a typed number is never read as a conversation id (conversation_ref is the API's).
    """
    try:
        phone = normalize_phone(text)
    except InvalidPhone:
        phone = None
    if phone:
        found = Conversation.objects.filter(other_party=phone).first()
        if found is not None:
            return found
    return Conversation.objects.filter(wa_user_id=(text or "").strip()[:128]).first() if text else None
