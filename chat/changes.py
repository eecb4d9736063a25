"""When a conversation's messages last changed, kept in the cache for the 3-second poll.

An idle conversation poll asks "did anything change after my cursor?". With this
mark it can answer from the cache without reading the messages table.

Writers: every write of a Message marks its conversation, from the model itself
(Message.save, and MessageQuerySet.bulk_create and .update when updated_at is
set; see chat.models), so no code path has to remember to. The mark is set to
the time of the write, and again after the transaction commits: a poll that read
the first mark before the rows were visible sees the second one and looks again.

Readers (chat.selectors.messages_changed): a mark older than the cursor (less
CURSOR_SLACK) means nothing changed. No mark (never set, expired, cache lost)
means "unknown": the poll runs its queries, then leaves a mark with the time it
looked, and only if no writer set one meanwhile (cache.add), so a reader never
hides a writer's newer mark. Marks compare clocks of different processes, as
the cursor already does with updated_at; CURSOR_SLACK covers small skews.
"""

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

MARK_SECONDS = 24 * 60 * 60  # a mark that expires only costs one poll its queries


def _key(conversation_id):
    return f"chat:messages-changed:{conversation_id}"


def _set(conversation_ids, at=None):
    stamp = (at or timezone.now()).timestamp()
    cache.set_many({_key(pk): stamp for pk in conversation_ids}, MARK_SECONDS)


def messages_touched(conversation_ids):
    """Called by chat.models for every message write: mark now, and again when it commits."""
    ids = {pk for pk in conversation_ids if pk is not None}
    if not ids:
        return
    _set(ids)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _set(ids))


def messages_marked_at(conversation_id):
    """The time of the conversation's last message change as a POSIX timestamp, or None when unknown."""
    return cache.get(_key(conversation_id))


def messages_seen(conversation_id, at):
    """A poll looked at everything committed before `at`; keep that as the mark unless a writer left one."""
    cache.add(_key(conversation_id), at.timestamp(), MARK_SECONDS)


def messages_mark_back(conversation_ids, at):
    """Set the marks to a moment in the past (tests and seeding, where rows are written with old times)."""
    _set(set(conversation_ids), at)
