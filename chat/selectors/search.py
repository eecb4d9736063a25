"""Words in messages: the sidebar search's second half, newest matches first.

On PostgreSQL a full-text match ('simple' configuration: no stemming, so it works for
every language customers write in, each word a prefix so results follow the typing)
served by message_text_search_idx, a GIN index over the same expression (migration
0008). Elsewhere (the embedded SQLite default) every word must appear in the text,
case-insensitively: a scan, fine for a small inbox.
"""

import re

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import F, Q

from chat.models import Conversation, Message

MESSAGE_HITS = 20
WORDS_MAX = 8
SNIPPET_BEFORE = 40
SNIPPET_LENGTH = 140
WORD = re.compile(r"\w+")
# Customers' and staff's own words: notes, not activity lines, not reactions.
SEARCHED_TYPES = Q(direction__in=[Message.Direction.INBOUND, Message.Direction.OUTBOUND]) | Q(
    message_type=Message.Type.NOTE
)


def search_words(query):
    """The words of a search ("deliv* tomorrow"), at most WORDS_MAX, each at least two characters."""
    return [word for word in WORD.findall((query or "").lower()) if len(word) >= 2][:WORDS_MAX]


def text_vector():
    """The indexed expression; migration 0008 builds message_text_search_idx over exactly this."""
    return SearchVector("message_body", "caption", config="simple")


def matching(words, vendor=None):
    """Messages whose text has every word: full text on PostgreSQL, a plain scan elsewhere."""
    if (vendor or connection.vendor) == "postgresql":
        # Each word as a prefix, all of them required; words are \w+ only, so no tsquery syntax gets through.
        prefixes = " & ".join(f"{word}:*" for word in words)
        query = SearchQuery(prefixes, config="simple", search_type="raw")
        return Message.objects.alias(text=text_vector()).filter(text=query)
    match = Q()
    for word in words:
        match &= Q(message_body__icontains=word) | Q(caption__icontains=word)
    return Message.objects.filter(match)


def message_search(*, query, visible=None, limit=MESSAGE_HITS):
    """The newest messages whose text has every word of the query, with their conversations.

    At most three queries whatever the history: see _newest_first.
    """
    words = search_words(query)
    if not words:
        return []
    rows = matching(words).filter(SEARCHED_TYPES).exclude(message_type=Message.Type.REACTION)
    if visible is not None:
        rows = rows.filter(conversation__in=Conversation.objects.filter(visible).values("pk"))
    rows = rows.select_related("conversation").defer("data", "conversation__last_message_preview")
    hits = _newest_first(rows, limit)
    for hit in hits:
        hit.snippet = snippet(hit.message_body or hit.caption, words)
    return hits


RECENT_WINDOW = 2000  # the newest messages read in id order first: a common word's newest hits are among them


def _newest_first(rows, limit):
    """Newest first, in a time that does not grow with the history, on PostgreSQL.

    Read in id order, the newest hits of a common word come at once, but a word in no message
    means reading every row; through the GIN index a rare word costs nothing, but a common one
    means sorting all its hits. So: the newest RECENT_WINDOW messages in id order (bounded), and
    only when they hold fewer than `limit` hits, the older ones through the index, sorted
    (ordering by id + 0 keeps the planner off the primary key's order there).
    """
    if connection.vendor != "postgresql":
        return list(rows.order_by("-id")[:limit])
    # The id RECENT_WINDOW messages back (ids need not be dense): an index-only walk down the primary key.
    bound = Message.objects.order_by("-id").values_list("id", flat=True)[RECENT_WINDOW : RECENT_WINDOW + 1].first()
    if bound is None:  # a small history: all of it is recent
        return list(rows.order_by("-id")[:limit])
    hits = list(rows.filter(id__gt=bound).order_by("-id")[:limit])
    if len(hits) < limit:
        older = rows.filter(id__lte=bound).alias(by_id=F("id") + 0).order_by("-by_id")
        hits += list(older[: limit - len(hits)])
    return hits


def snippet(text, words):
    """(before, match, after): the text around the first word found, for a highlighted one-line preview."""
    text = " ".join((text or "").split())
    lowered = text.lower()
    found = min((i for i in (lowered.find(word) for word in words) if i >= 0), default=-1)
    if found < 0:
        return text[:SNIPPET_LENGTH], "", ""
    end = found + next(len(word) for word in words if lowered.find(word) == found)
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):  # the whole word the prefix began
        end += 1
    start = max(0, found - SNIPPET_BEFORE)
    before = ("…" if start else "") + text[start:found]
    rest = text[end : end + max(0, SNIPPET_LENGTH - (end - start))]
    after = rest + ("…" if end + len(rest) < len(text) else "")
    return before, text[found:end], after
