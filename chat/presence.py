"""Who else has a conversation open, and who is typing in its composer ("Ravi is replying").

Short-lived cache entries, no table: each open pane reports every few seconds, and an entry
not renewed within CHAT_PRESENCE_SECONDS is gone. Presence is a courtesy; when the cache is
down nobody is shown, and nothing else changes.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache

TYPING_SECONDS = 8  # "is replying" for this long after the last keystroke reported

logger = logging.getLogger(__name__)


def _key(conversation_id):
    return f"chat:presence:{int(conversation_id)}"


def presence_mark(*, conversation_id, user, typing=False, now=None):
    """Record that `user` has the conversation open (typing or not); return the others present.

    The others are [(name, is_typing)], sorted by name. Two panes reporting at the same moment
    may overwrite each other's entry; the next report, seconds later, puts it back.
    """
    now = time.time() if now is None else now
    key, ttl = _key(conversation_id), settings.CHAT_PRESENCE_SECONDS
    try:
        entries = cache.get(key) or {}
        entries = {uid: entry for uid, entry in entries.items() if entry["at"] > now - ttl}
        mine = entries.get(str(user.pk), {})
        entries[str(user.pk)] = {
            "name": user.get_full_name() or user.get_username(),
            "at": now,
            "typing_at": now if typing else mine.get("typing_at", 0),
        }
        cache.set(key, entries, ttl)
    except Exception:  # presence is a courtesy: never fail the page for it
        logger.warning("Cache unavailable for presence", exc_info=True)
        return []
    others = [entry for uid, entry in entries.items() if uid != str(user.pk)]
    return sorted((entry["name"], entry["typing_at"] > now - TYPING_SECONDS) for entry in others)


def presence_sentence(others):
    """ "Ravi is replying", "Ravi and Asha are viewing", or ""."""
    if not others:
        return ""
    typing = [name for name, is_typing in others if is_typing]
    names = typing or [name for name, _ in others]
    shown = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    if typing:
        return f"{shown} {'is' if len(names) == 1 else 'are'} replying"
    return f"{shown} {'is' if len(names) == 1 else 'are'} viewing this conversation"
