"""The inbound tasks: bounded retries with backoff, and sweepers for anything an enqueue lost."""

import hashlib

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from chat.models import Message
from chat.services import conversation_get_or_create
from integrations.backoff import backoff
from integrations.inbound import CLAIM_EXPIRES, webhook_events_drain, webhook_events_sweep
from integrations.inbound_media import media_sweep
from integrations.models import WebhookEvent
from integrations.tasks import (
    MEDIA_MAX_RETRIES,
    TASK_BACKOFF,
    WAKE_KEY,
    media_download_task,
    webhook_drain_task,
    webhook_sweep_task,
)
from integrations.tests.graph_media import TOKEN, VERSION, GraphMediaServer

pytestmark = pytest.mark.django_db
JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 500


@pytest.fixture
def graph(settings):
    with GraphMediaServer() as server:
        settings.WHATSAPP_API_BASE_URL = server.url
        settings.WHATSAPP_API_VERSION = VERSION
        settings.WHATSAPP_ACCESS_TOKEN = TOKEN
        yield server


def pending_image(media_id="1003383421387256", **fields):
    conversation = conversation_get_or_create(phone="+919876543210")
    return Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        message_type="image",
        media_id=media_id,
        mime_type="image/jpeg",
        media_state=Message.MediaState.PENDING,
        **fields,
    )


def test_the_media_task_retries_server_errors_until_the_download_works(graph):
    item = graph.add("1003383421387256", JPEG, fail_downloads=2)
    message = pending_image()
    media_download_task.apply(args=(message.pk,))  # retries run in place, without waiting
    message.refresh_from_db()
    assert message.media_state == Message.MediaState.READY
    assert len(item.downloads) == 1


def test_the_media_task_stops_after_its_retries_and_records_why(graph):
    item = graph.add("1003383421387256", JPEG, sha256=hashlib.sha256(b"other").hexdigest())
    message = pending_image()
    media_download_task.apply(args=(message.pk,))
    message.refresh_from_db()
    assert message.media_state == Message.MediaState.FAILED
    assert "checksum" in message.media_error
    assert len(item.downloads) == MEDIA_MAX_RETRIES + 1


def test_backoff_grows_is_capped_and_jittered():
    for retries in range(12):
        delay = min(600, 5 * 2**retries)
        assert delay <= backoff(retries, **TASK_BACKOFF) <= delay * 1.5
    assert backoff(0, **TASK_BACKOFF, at_least=60) >= 60
    assert len({backoff(3, **TASK_BACKOFF) for _ in range(20)}) > 1


def test_the_drain_processes_every_stored_delivery_and_lets_the_next_one_wake_a_worker(post_fixture):
    cache.set(WAKE_KEY, 1, 30)
    for name in ("text_message", "location_message", "image_message"):
        post_fixture(name)
    assert webhook_drain_task() == 3
    assert not WebhookEvent.objects.filter(processed_at=None).exists()
    assert Message.objects.count() == 3
    assert cache.get(WAKE_KEY) is None
    assert webhook_drain_task() == 0  # nothing left: a drain woken twice does nothing twice


def test_a_delivery_stored_while_the_wake_was_still_set_is_not_left_behind(post_fixture):
    cache.set(WAKE_KEY, 1, 30)  # a drain is about to find nothing and clear it
    post_fixture("text_message")  # this delivery published no wake
    assert webhook_events_drain() == 1
    assert WebhookEvent.objects.get().processed_at is not None


def test_a_drain_takes_a_claim_a_dead_worker_left_but_not_one_a_live_worker_holds(post_fixture):
    post_fixture("text_message")
    post_fixture("location_message")
    stale, held = WebhookEvent.objects.order_by("pk")
    WebhookEvent.objects.filter(pk=stale.pk).update(claimed_at=timezone.now() - CLAIM_EXPIRES - timezone.timedelta(1))
    WebhookEvent.objects.filter(pk=held.pk).update(claimed_at=timezone.now())
    assert webhook_events_drain() == 1
    stale.refresh_from_db()
    held.refresh_from_db()
    assert stale.processed_at is not None
    assert held.processed_at is None  # its worker is still on it; the sweeper would take it if that one died


def test_the_sweeper_processes_events_whose_enqueue_was_lost(post_fixture):
    post_fixture("text_message")
    post_fixture("location_message")
    old, fresh = WebhookEvent.objects.order_by("pk")
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timezone.timedelta(minutes=5))
    assert webhook_sweep_task() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.processed_at is not None
    assert fresh.processed_at is None  # its task may still be on the way
    assert webhook_events_sweep() == 0


def test_the_media_sweeper_requeues_downloads_whose_task_was_lost():
    lost = pending_image(media_id="lost", created_at=timezone.now() - timezone.timedelta(hours=2))
    pending_image(media_id="recent")  # its task is still retrying
    pending_image(media_id="ancient", created_at=timezone.now() - timezone.timedelta(days=3))
    queued = []
    assert media_sweep(enqueue=queued.append) == 1
    assert queued == [lost.pk]


def test_the_sweeps_are_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"integrations.tasks.webhook_sweep_task", "integrations.tasks.media_sweep_task"} <= tasks


def test_the_replay_command_can_pick_failed_events_and_a_start_date(post_fixture, capsys):
    post_fixture("text_message")
    event = WebhookEvent.objects.get()
    WebhookEvent.objects.filter(pk=event.pk).update(processed_at=timezone.now(), processing_error="earlier bug")
    call_command("replay_webhook_events", "--failed", "--since", "2020-01-01")
    assert "Processed 1 webhook event(s)." in capsys.readouterr().out
    event.refresh_from_db()
    assert event.processing_error == ""
    assert Message.objects.count() == 1


def test_the_sweeper_works_through_a_backlog_in_batches(post_fixture):
    for _ in range(5):
        post_fixture("text_message")
    WebhookEvent.objects.update(received_at=timezone.now() - timezone.timedelta(minutes=5))
    assert webhook_events_sweep(batch=2) == 5
    assert not WebhookEvent.objects.filter(processed_at=None).exists()
    assert Message.objects.count() == 1


def test_only_one_sweeper_runs_at_a_time(post_fixture):
    from django.core.cache import cache

    from integrations.inbound import SWEEP_LOCK

    post_fixture("text_message")
    WebhookEvent.objects.update(received_at=timezone.now() - timezone.timedelta(minutes=5))
    cache.add(SWEEP_LOCK, True, 60)
    try:
        assert webhook_events_sweep() == 0
    finally:
        cache.delete(SWEEP_LOCK)
    assert webhook_events_sweep() == 1


def test_a_drain_that_fails_lets_the_next_delivery_wake_a_worker(post_fixture, monkeypatch):
    import integrations.inbound

    post_fixture("text_message")
    cache.set(WAKE_KEY, 1, 30)

    def database_gone(_batch):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(integrations.inbound, "_claim", database_gone)
    with pytest.raises(RuntimeError):
        webhook_events_drain()
    assert cache.get(WAKE_KEY) is None
