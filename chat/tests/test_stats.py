"""The statistics' daily rollup (chat.stats): kept by every writer, read by /api/whatsapp/stats,
rebuilt from the messages, and always equal to counting the messages themselves."""

import importlib
import random
import threading
from datetime import datetime, time, timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connections, transaction
from django.db.models import Count, Max
from django.utils import timezone

from benchmarks.seed_demo import seed_demo
from chat.models import Conversation, Message, MessageDayCount
from chat.selectors.stats import message_stats
from chat.services import conversation_apply_message, message_queue_media_link, message_retry, message_send_text
from chat.stats import stats_day
from chat.tests.conftest import make_conversation, make_message

pytestmark = pytest.mark.django_db

KINDS = [
    ("inbound", "text"),
    ("inbound", "image"),
    ("inbound", "reaction"),
    ("outbound", "text"),
    ("outbound", "template"),
    ("outbound", "document"),
]


def stored(conversation, direction, kind, at):
    """A message stored at `at`, passed through chat.services as every writer does."""
    message = Message.objects.create(conversation=conversation, direction=direction, message_type=kind, created_at=at)
    conversation_apply_message(message=message)
    return message


def counted_directly(*, days, now):
    """What the statistics said before the rollup: one pass over the messages of the period."""
    in_period = Message.objects.filter(created_at__gte=now - timedelta(days=days))
    rows = in_period.values("direction", "message_type").annotate(n=Count("id")).order_by("direction", "message_type")
    breakdown = [{"direction": row["direction"], "type": row["message_type"], "count": row["n"]} for row in rows]
    return {
        "total_messages": in_period.count(),
        "unique_conversations": in_period.aggregate(n=Count("conversation", distinct=True))["n"],
        "breakdown": breakdown,
        "period_days": days,
    }


def rollup():
    return {(row.day, row.direction, row.message_type): row.count for row in MessageDayCount.objects.all() if row.count}


def rollup_from_messages():
    expected = {}
    for message in Message.objects.all():
        key = (stats_day(message.created_at), message.direction, message.message_type)
        expected[key] = expected.get(key, 0) + 1
    return expected


def assert_rollup_matches_messages():
    assert rollup() == rollup_from_messages()
    newest = Message.objects.values("conversation").annotate(at=Max("created_at")).values_list("conversation", "at")
    newest = dict(newest)
    for pk, at in Conversation.objects.values_list("pk", "last_created_at"):
        assert at == newest.get(pk)


def history(now, *, days=50, count=300, seed=8):
    """Messages of several kinds over `days` days before and a day after `now`, some on local midnights."""
    rng = random.Random(seed)
    chats = [make_conversation(phone=f"+9198765432{n:02d}", name="") for n in range(6)]
    for _ in range(count):
        at = now - timedelta(seconds=rng.uniform(-86_400, days * 86_400))
        stored(rng.choice(chats), *rng.choice(KINDS), at)
    zone = timezone.get_default_timezone()
    for back in (1, 3, 7):
        midnight = datetime.combine(timezone.localtime(now, zone).date() - timedelta(days=back), time.min, tzinfo=zone)
        stored(chats[back % 6], "inbound", "text", midnight)
        stored(chats[(back + 1) % 6], "outbound", "text", midnight - timedelta(microseconds=1))
    return chats


# --- the statistics equal a count over the messages -----------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/Los_Angeles", "Pacific/Chatham"])
def test_it_answers_what_counting_the_messages_answers_in_any_time_zone(settings, zone):
    settings.TIME_ZONE = zone
    now = timezone.now()
    history(now)

    for ago in (timedelta(0), timedelta(hours=5, minutes=17), timedelta(days=3, hours=13)):
        for days in (1, 2, 7, 30, 49, 365):
            assert message_stats(days=days, now=now - ago) == counted_directly(days=days, now=now - ago), (ago, days)
    assert_rollup_matches_messages()


def test_a_window_that_starts_on_a_local_midnight_counts_that_midnight(settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    chat = make_conversation()
    now = datetime(2026, 11, 26, 0, 0, tzinfo=timezone.get_default_timezone())
    stored(chat, "inbound", "text", now - timedelta(days=2))  # the window's first moment
    stored(chat, "inbound", "text", now - timedelta(days=2, microseconds=1))  # just before it

    assert message_stats(days=2, now=now)["total_messages"] == 1
    assert message_stats(days=2, now=now) == counted_directly(days=2, now=now)


def test_it_counts_in_two_queries_whatever_the_history(api_client, django_assert_num_queries):
    api_client.get("/api/whatsapp/stats?days=365")  # warms the cached chat permission
    with django_assert_num_queries(3) as empty:
        api_client.get("/api/whatsapp/stats?days=365")
    history(timezone.now(), days=400, count=400)
    with django_assert_num_queries(len(empty.captured_queries)):
        body = api_client.get("/api/whatsapp/stats?days=365").json()
    assert body == counted_directly(days=365, now=timezone.now())


# --- every writer keeps the rollup ----------------------------------------------------


def test_sending_a_text_counts_it_on_today_and_its_conversation(chat, agent):
    before = rollup()
    message = message_send_text(conversation=chat, author=agent, body="Your site visit is on Friday")

    key = (stats_day(message.created_at), "outbound", "text")
    assert rollup().get(key, 0) == before.get(key, 0) + 1
    chat.refresh_from_db()
    assert chat.last_created_at == message.created_at
    assert_rollup_matches_messages()


def test_a_repeated_send_with_the_same_idempotency_key_counts_once(chat, agent):
    for _ in range(2):
        message_send_text(conversation=chat, author=agent, body="once", idempotency_key="k-1")

    assert Message.objects.count() == 1
    assert_rollup_matches_messages()


def test_queueing_media_by_link_counts_it(chat, agent, enqueued):
    message_queue_media_link(
        conversation=chat, author=agent, message_type="image", link="https://example.com/photo.jpg"
    )

    assert list(rollup().values()) == [1]
    assert_rollup_matches_messages()


def test_a_retry_counts_as_a_new_message(chat, agent):
    failed = make_message(chat, "outbound", status="failed")
    message_retry(message=failed, author=agent)

    assert sum(rollup().values()) == 2
    assert_rollup_matches_messages()


def test_an_older_message_never_moves_last_created_at_back(chat):
    newest = stored(chat, "inbound", "text", timezone.now())
    stored(chat, "inbound", "text", timezone.now() - timedelta(days=3))

    chat.refresh_from_db()
    assert chat.last_created_at == newest.created_at
    assert_rollup_matches_messages()


def test_a_message_costs_the_rollup_one_update_and_its_day_s_first_one_insert(chat, django_assert_num_queries):
    first = Message.objects.create(conversation=chat, direction="inbound", message_type="text")
    # The conversation's one UPDATE, the rollup's UPDATE (no row yet), then its INSERT in a
    # savepoint.
    with django_assert_num_queries(1 + 1 + 3):
        conversation_apply_message(message=first)
    second = Message.objects.create(conversation=chat, direction="inbound", message_type="text")
    with django_assert_num_queries(1 + 1):
        conversation_apply_message(message=second)
    assert_rollup_matches_messages()


@pytest.mark.django_db(transaction=True)
def test_writers_racing_for_a_day_s_first_message_lose_no_count():
    chats = [make_conversation(phone=f"+9198765432{n:02d}") for n in range(4)]
    barrier = threading.Barrier(4)
    errors = []

    def write(chat):
        try:
            barrier.wait()
            for _ in range(5):
                with transaction.atomic():
                    stored(chat, "inbound", "sticker", timezone.now())
        except Exception as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=write, args=(chat,)) for chat in chats]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sum(rollup().values()) == 20
    assert_rollup_matches_messages()


# --- rebuilt from the messages --------------------------------------------------------


def test_the_rebuild_command_recounts_a_wrong_rollup_in_chunks(settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    now = timezone.now()
    chats = history(now, count=120)
    MessageDayCount.objects.filter(direction="inbound").delete()
    MessageDayCount.objects.update(count=7)
    Conversation.objects.filter(pk=chats[0].pk).update(last_created_at=None)
    quiet = make_conversation(phone="+14155550100", last_created_at=now)  # no message at all

    call_command("rebuild_message_stats", chunk=7, stdout=open("/dev/null", "w"))

    assert_rollup_matches_messages()
    quiet.refresh_from_db()
    assert quiet.last_created_at is None
    assert message_stats(days=30, now=now) == counted_directly(days=30, now=now)


def test_the_migration_counts_the_messages_already_stored():
    history(timezone.now(), count=60)
    MessageDayCount.objects.all().delete()
    Conversation.objects.update(last_created_at=None)

    importlib.import_module("chat.migrations.0004_message_stats_rollup").count_existing_messages(apps, None)

    assert_rollup_matches_messages()


def test_seed_demo_fills_the_rollup_and_adds_to_it_when_run_again():
    for _ in range(2):
        seed_demo(messages=1500, conversations=15, jobs=1)
        assert_rollup_matches_messages()

    now = timezone.now()
    for days in (1, 30, 365):
        assert message_stats(days=days, now=now) == counted_directly(days=days, now=now)
