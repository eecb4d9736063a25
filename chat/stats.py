"""The daily rollup behind /api/whatsapp/stats.

MessageDayCount holds how many messages of each direction and type were stored on each
calendar day (in settings.TIME_ZONE); Conversation.last_created_at says since when a
conversation has been quiet. chat.services.conversation_apply_message keeps both current in
the transaction that stores each message; bulk inserts (seed_demo) call stats_add_messages
afterwards; stats_rebuild recounts everything from the messages (the migration that created
the rollup, and `manage.py rebuild_message_stats`).

The rebuild takes its models as arguments, so the migration runs it on its historical models.
"""

from datetime import datetime, time

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from chat.models import Conversation, Message, MessageDayCount

INTERNAL = Message.Direction.INTERNAL
REBUILD_CHUNK = 100_000  # messages aggregated per query by stats_rebuild
CONVERSATION_CHUNK = 2_000
KEY = ("day", "direction", "message_type")  # conversations per query when their last_created_at is recomputed


def stats_day(at):
    """The day a message stored at `at` counts on: its date in settings.TIME_ZONE."""
    return timezone.localtime(at, timezone.get_default_timezone()).date()


def day_start(day):
    """The first moment of `day` in settings.TIME_ZONE; every later moment has a later stats_day."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def stats_count_message(*, message):
    """Add one newly stored message to its day's count. Call in the transaction that stored it.

    One UPDATE; the first message of its day, direction and type also creates the row
    (an INSERT in a savepoint). Concurrent writers never lose a count: the increment is
    F("count") + 1, and a writer that loses the race to create the row (the unique key)
    adds to the winner's row, which is committed by the time the INSERT fails.
    """
    key = {"day": stats_day(message.created_at), "direction": message.direction, "message_type": message.message_type}
    rows = MessageDayCount.objects.filter(**key)
    if rows.update(count=F("count") + 1):
        return
    try:
        with transaction.atomic():
            MessageDayCount.objects.create(**key, count=1)
    except IntegrityError:
        rows.update(count=F("count") + 1)


def _day_counts(messages):
    """{(day, direction, message_type): n} for a Message queryset, counted by the database.

    Notes and activity lines (direction internal) are staff's, not messages: never counted.
    """
    per_day = messages.exclude(direction=INTERNAL).annotate(
        stats_day=TruncDate("created_at", tzinfo=timezone.get_default_timezone())
    )
    rows = per_day.values("stats_day", "direction", "message_type").annotate(n=Count("id")).order_by()
    return {(row["stats_day"], row["direction"], row["message_type"]): row["n"] for row in rows}


def _add_day_counts(counts, day_count_model):
    """Add {(day, direction, message_type): n} to the rollup in a few bulk statements.

    Rows that are missing are created with their counts (one bulk INSERT, the usual case for
    a fresh seed or a rebuild); rows that exist are raised by F("count") + n. Should a writer
    create one of the missing rows meanwhile, the INSERT fails as a whole and every missing
    row is created at zero instead (ignoring the writer's) and raised like the others, so
    writers working at the same time lose nothing.
    """
    if not counts:
        return
    days = [key[0] for key in counts]
    in_range = day_count_model.objects.filter(day__gte=min(days), day__lte=max(days))

    def existing():
        return {(row.day, row.direction, row.message_type): row for row in in_range.only("pk", *KEY)}

    rows = existing()
    missing = [key for key in counts if key not in rows]
    try:
        with transaction.atomic():
            day_count_model.objects.bulk_create(
                [day_count_model(**dict(zip(KEY, key, strict=True)), count=counts[key]) for key in missing],
                batch_size=1000,
            )
    except IntegrityError:
        day_count_model.objects.bulk_create(
            [day_count_model(**dict(zip(KEY, key, strict=True)), count=0) for key in missing],
            batch_size=1000,
            ignore_conflicts=True,
        )
        rows = existing()
    # Without the INSERT's failure, `rows` holds only rows that were there before it.
    rows = [row for key, row in rows.items() if key in counts]
    for row in rows:
        row.count = F("count") + counts[(row.day, row.direction, row.message_type)]
    day_count_model.objects.bulk_update(rows, ["count"], batch_size=1000)


@transaction.atomic
def stats_add_messages(*, messages):
    """Count messages stored in bulk (a Message queryset, e.g. one seed's rows) into the rollup.

    One aggregate query over the messages, then a few bulk statements. The conversations'
    last_created_at is the caller's to set (seed_demo writes it with the conversations).
    """
    _add_day_counts(_day_counts(messages), MessageDayCount)


@transaction.atomic
def stats_rebuild(*, message_model=None, day_count_model=None, conversation_model=None, chunk=REBUILD_CHUNK):
    """Recount the rollup and every conversation's last_created_at from the messages.

    Reads the messages `chunk` at a time by primary key, so memory holds only the day
    counts (a few dozen rows a day), never the messages. Returns the number of messages counted.
    """
    if message_model is None:
        message_model, day_count_model, conversation_model = Message, MessageDayCount, Conversation
    day_count_model.objects.all().delete()
    totals, counted, after = {}, 0, None
    while True:
        rows = message_model.objects.order_by("pk")
        if after is not None:
            rows = rows.filter(pk__gt=after)
        # The chunk's last key: an index-only walk of `chunk` primary keys.
        last = list(rows.values_list("pk", flat=True)[chunk - 1 : chunk])
        part = rows.filter(pk__lte=last[0]) if last else rows
        for key, n in _day_counts(part).items():
            totals[key] = totals.get(key, 0) + n
            counted += n
        if not last:
            break
        after = last[0]
    _add_day_counts(totals, day_count_model)
    _rebuild_last_created_at(message_model, conversation_model)
    return counted


def _rebuild_last_created_at(message_model, conversation_model):
    after = None
    while True:
        ids = conversation_model.objects.order_by("pk")
        if after is not None:
            ids = ids.filter(pk__gt=after)
        ids = list(ids.values_list("pk", flat=True)[:CONVERSATION_CHUNK])
        if not ids:
            return
        newest = dict(
            message_model.objects.filter(conversation_id__gte=ids[0], conversation_id__lte=ids[-1])
            .exclude(direction=INTERNAL)
            .values("conversation_id")
            .annotate(at=Max("created_at"))
            .order_by()
            .values_list("conversation_id", "at")
        )
        conversation_model.objects.bulk_update(
            [conversation_model(pk=pk, last_created_at=newest.get(pk)) for pk in ids],
            ["last_created_at"],
            batch_size=1000,
        )
        after = ids[-1]
