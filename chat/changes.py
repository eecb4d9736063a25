"""When a conversation or its messages last changed, kept in the cache for the 3-second poll.

An idle conversation poll asks "did anything change after my cursor?". With this
mark it can answer from the cache without reading the messages table, and with a
poll pass (chat.poll_pass) without reading the database at all.

Writers: every write that changes what staff see is a function of chat.services
(or the few admin, link and read-state writers that call it too), and each one calls
conversations_touched(ids) right where it writes, naming the conversations it knows
it changed: nothing is guessed from a query. A test (chat/tests/test_changes.py)
reads the source and fails when a function that sets updated_at on a Message or a
Conversation does not call it. The mark is the time of the write, set inside the
writer's transaction. A poll that reads it before the rows are visible finds nothing
and answers 204, which keeps the client's cursor, so its next polls look again and
find the rows once committed. Like the cursor itself, this relies on a transaction
committing within CURSOR_SLACK of its writes.

Readers (chat.selectors.messages.messages_changed, chat.poll_pass): a mark older than the
cursor (less CURSOR_SLACK) means nothing changed. No mark (expired, cache lost)
is read back from the tables: the newest updated_at of the conversation and of
its messages plus CURSOR_SLACK, one query on
message_changed_idx, left as the mark with cache.add so a reader never hides a
writer's newer mark. Marks compare clocks of different processes, as the cursor
already does with updated_at; CURSOR_SLACK covers small skews.

A poll answered 204 keeps its cursor, so a change a mark missed (a writer that
could not reach the cache, then a cache restored from disk) still shows once
that mark expires: within MARK_SECONDS.
"""

import logging

from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

MARK_SECONDS = 5 * 60  # an expired mark costs one poll one indexed query


def _key(conversation_id):
    return f"chat:messages-changed:{conversation_id}"


def _set(conversation_ids, at=None):
    stamp = (at or timezone.now()).timestamp()
    keys = [_key(pk) for pk in conversation_ids]
    try:
        cache.set_many(dict.fromkeys(keys, stamp), MARK_SECONDS)
    except Exception:
        # Never fail a message write for the cache (a send could be repeated). Drop the marks
        # instead, so polls look at the table; if even that fails, the cache is down for readers too.
        logger.warning("Could not mark conversations changed", exc_info=True)
        try:
            cache.delete_many(keys)
        except Exception:
            logger.warning("Could not drop the change marks either", exc_info=True)


def conversations_touched(conversation_ids):
    """The conversations changed now (a message or the row itself): call it where the write happens."""
    ids = {pk for pk in conversation_ids if pk is not None}
    if ids:
        _set(ids)


def messages_marked_at(conversation_id):
    """The time of the conversation's last message change as a POSIX timestamp, or None when unknown."""
    try:
        return cache.get(_key(conversation_id))
    except Exception:
        logger.warning("Could not read a conversation's change mark", exc_info=True)
        return None


def messages_seen(conversation_id, stamp):
    """A poll read the mark back from the table (a POSIX timestamp); keep it unless a writer left one."""
    try:
        cache.add(_key(conversation_id), stamp, MARK_SECONDS)
    except Exception:
        logger.warning("Could not leave a conversation's change mark", exc_info=True)


def messages_mark_back(conversation_ids, at):
    """Set the marks to a moment in the past (tests and seeding, where rows are written with old times)."""
    _set(set(conversation_ids), at)
