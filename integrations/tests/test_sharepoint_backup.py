"""The backup of a message's media file: the task, its states on the message, the sweeper and the backfill."""

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from celery.exceptions import Retry
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.utils import timezone

import chat.services.media
from chat.models import Conversation, Message
from chat.templatetags.chat_tags import backup_title
from integrations.sharepoint import SharePointError
from integrations.sharepoint_backup import (
    SWEEP_FAILED_AFTER,
    backup_location,
    queue_sharepoint_backup,
    retry_delay,
    sharepoint_backup_retry,
    sharepoint_sweep,
)
from integrations.tasks import sharepoint_backup_task
from integrations.tests.fake_graph import FakeGraph, use_fake_graph

pytestmark = pytest.mark.django_db
State = Message.BackupState


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SHAREPOINT_FOLDER = "Madio ERP/WhatsApp Media"
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def graph(tmp_path, settings, monkeypatch):
    fake = FakeGraph()
    with fake.running(tmp_path):
        use_fake_graph(fake, settings, monkeypatch)
        yield fake


@pytest.fixture
def sharepoint_off(settings):
    settings.SHAREPOINT_TENANT_ID = settings.SHAREPOINT_CLIENT_ID = ""
    settings.SHAREPOINT_CLIENT_SECRET = settings.SHAREPOINT_SITE_ID = ""
    settings.SHAREPOINT_ENABLED = False


@pytest.fixture
def conversation():
    return Conversation.objects.create(other_party="+919876543210", contact_name="Asha")


@pytest.fixture
def queued(monkeypatch):
    """The ids handed to sharepoint_backup_task.delay (the worker is not part of these tests)."""
    ids = []
    monkeypatch.setattr(sharepoint_backup_task, "delay", ids.append)
    return ids


def media_message(conversation, content=b"\xff\xd8 a photo", name="photo.jpg", **fields):
    message = Message(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        message_type=fields.pop("message_type", Message.Type.IMAGE),
        whatsapp_message_id=fields.pop("wamid", None),
        other_party=conversation.other_party,
        **fields,
    )
    if content is not None:
        message.file.save(name, ContentFile(content), save=False)
        message.file_size = len(content)
        message.media_state = Message.MediaState.READY
    message.save()
    return message


def reload(message):
    return Message.objects.get(pk=message.pk)


def test_it_backs_up_a_photo_and_keeps_the_sharepoint_link(graph, conversation):
    message = media_message(conversation, content=b"jpeg bytes", name="holiday.jpg")

    assert sharepoint_backup_task(message.pk) == "uploaded"

    message = reload(message)
    folder, name = backup_location(message)
    item = graph.items[(*folder, name)]
    assert item["content"] == b"jpeg bytes"
    assert message.sharepoint_state == State.UPLOADED
    assert message.sharepoint_item_id == item["id"]
    assert message.media_url == item["webUrl"]
    assert message.sharepoint_error == ""


def test_it_files_media_by_month_and_customer_with_a_unique_name(conversation, settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    when = datetime(2026, 11, 30, 20, 15, 5, tzinfo=UTC)  # 1 December in India
    message = media_message(conversation, name="scan: 1/2?.pdf", created_at=when, message_type="document")

    with timezone.override("Asia/Kolkata"):
        folder, name = backup_location(message)

    assert folder == ["Madio ERP", "WhatsApp Media", "2026", "12", "+919876543210"]
    assert name.startswith(f"20261201-014505_{message.pk}_")
    assert ":" not in name
    assert "?" not in name
    assert name.endswith(".pdf")


def test_it_names_a_file_without_a_name_after_its_type(conversation):
    message = media_message(conversation, mime_type="audio/ogg", message_type="audio")
    message.file_name = ""
    message.file.name = ""

    _, name = backup_location(message)

    assert name.endswith(f"_{message.pk}_audio.oga") or name.endswith(f"_{message.pk}_audio.ogg")


def test_it_keeps_the_whole_path_under_400_characters(conversation, settings):
    settings.SHAREPOINT_FOLDER = "/".join(["Archive of every customer conversation"] * 5)
    message = media_message(conversation, name="x" * 250 + ".pdf")

    folder, name = backup_location(message)

    assert len("/".join([*folder, name])) < 400 - 100
    assert name.endswith(".pdf")


def test_it_uploads_a_large_video_through_a_session(graph, conversation):
    content = os.urandom(12 * 1024 * 1024)
    message = media_message(conversation, content=content, name="tour.mp4", message_type="video")

    sharepoint_backup_task(message.pk)

    message = reload(message)
    folder, name = backup_location(message)
    assert graph.content([*folder, name]) == content
    assert len(graph.calls("create_session")) == 1
    assert message.media_url.startswith("https://contoso.sharepoint.com/")


def test_it_uploads_a_file_once(graph, conversation):
    message = media_message(conversation)
    sharepoint_backup_task(message.pk)

    assert sharepoint_backup_task(message.pk) == "already_uploaded"

    assert len(graph.calls("put")) == 1


def test_it_leaves_a_file_another_worker_is_uploading(graph, conversation):
    from django.core.cache import cache

    message = media_message(conversation)
    cache.add(f"sharepoint:lock:{message.pk}", 1, 60)
    try:
        assert sharepoint_backup_task(message.pk) == "busy"
    finally:
        cache.delete(f"sharepoint:lock:{message.pk}")

    assert not graph.calls("put")


def test_it_skips_a_message_without_a_file(graph, conversation):
    message = media_message(conversation, content=None, message_type="text", message_body="hi")

    assert sharepoint_backup_task(message.pk) == "no_file"

    assert reload(message).sharepoint_state == ""
    assert not graph.log


def test_it_says_backup_is_off_once_and_marks_the_message(sharepoint_off, conversation, caplog, monkeypatch):
    monkeypatch.setattr(chat.services.media, "_disabled_logged", False)
    first, second = media_message(conversation), media_message(conversation)

    with caplog.at_level(logging.INFO, logger="chat.services.media"):
        assert sharepoint_backup_task(first.pk) == "disabled"
        assert sharepoint_backup_task(second.pk) == "disabled"

    assert reload(first).sharepoint_state == State.DISABLED
    assert reload(first).sharepoint_error == ""
    assert sum("SharePoint backup is off" in record.getMessage() for record in caplog.records) == 1
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_it_retries_a_throttled_upload_and_keeps_it_pending(graph, conversation):
    graph.fail("put", 429, retry_after=90)
    message = media_message(conversation)

    with pytest.raises(Retry):
        sharepoint_backup_task(message.pk)

    message = reload(message)
    assert message.sharepoint_state == State.PENDING
    assert "429" in message.sharepoint_error

    assert sharepoint_backup_task(message.pk) == "uploaded"
    assert reload(message).sharepoint_error == ""


def test_it_resumes_a_large_upload_on_the_next_try(graph, conversation):
    content = os.urandom(12 * 1024 * 1024)
    message = media_message(conversation, content=content, name="tour.mp4", message_type="video")
    graph.fail("chunk", 503, on_call=2)

    with pytest.raises(Retry):
        sharepoint_backup_task(message.pk)
    sharepoint_backup_task(message.pk)

    folder, name = backup_location(message)
    assert graph.content([*folder, name]) == content
    assert len(graph.calls("create_session")) == 1
    assert reload(message).sharepoint_state == State.UPLOADED


def test_it_gives_up_after_the_last_retry(graph, conversation):
    graph.fail("put", 503)
    message = media_message(conversation)

    sharepoint_backup_task.push_request(retries=sharepoint_backup_task.max_retries)
    try:
        assert sharepoint_backup_task.run(message.pk) == "failed"
    finally:
        sharepoint_backup_task.pop_request()

    message = reload(message)
    assert message.sharepoint_state == State.FAILED
    assert "serviceNotAvailable" in message.sharepoint_error
    assert message.sharepoint_retry_at == pytest.approx(timezone.now() + SWEEP_FAILED_AFTER, abs=timedelta(minutes=1))
    assert "tried again after" in backup_title(message)


def test_it_fails_at_once_when_sharepoint_is_full(graph, conversation):
    graph.fail("put", 507)
    message = media_message(conversation)

    assert sharepoint_backup_task(message.pk) == "failed"

    message = reload(message)
    assert message.sharepoint_state == State.FAILED
    assert "507" in message.sharepoint_error
    assert "quotaLimitReached" in message.sharepoint_error
    assert message.sharepoint_retry_at is None  # permanent: only an admin's retry tries it again


def test_it_fails_at_once_when_the_app_has_no_permission(graph, conversation):
    graph.fail("folder", 403, code="accessDenied")
    message = media_message(conversation)

    assert sharepoint_backup_task(message.pk) == "failed"

    assert "accessDenied" in reload(message).sharepoint_error


def test_it_fails_when_the_stored_file_is_gone(graph, conversation):
    message = media_message(conversation)
    os.remove(message.file.path)

    assert sharepoint_backup_task(message.pk) == "failed"

    assert "missing" in reload(message).sharepoint_error


def test_it_tries_a_failed_backup_again_when_asked(graph, conversation, queued, django_capture_on_commit_callbacks):
    message = media_message(conversation)
    graph.fail("put", 400, code="invalidRequest")
    sharepoint_backup_task(message.pk)

    with django_capture_on_commit_callbacks(execute=True):
        assert sharepoint_backup_retry(messages=Message.objects.filter(pk=message.pk)) == 1

    assert queued == [message.pk]
    assert reload(message).sharepoint_state == State.PENDING
    assert sharepoint_backup_task(message.pk) == "uploaded"


def test_it_queues_a_backup_only_after_the_commit(settings, conversation, queued, django_capture_on_commit_callbacks):
    settings.SHAREPOINT_ENABLED = True
    message = media_message(conversation)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queue_sharepoint_backup(message)
        assert queued == []
    for callback in callbacks:
        callback()

    assert queued == [message.pk]
    assert reload(message).sharepoint_state == State.PENDING


def test_it_queues_nothing_while_backup_is_off(
    sharepoint_off, conversation, queued, django_capture_on_commit_callbacks
):
    message = media_message(conversation)

    with django_capture_on_commit_callbacks(execute=True):
        queue_sharepoint_backup(message)

    assert queued == []
    assert reload(message).sharepoint_state == State.DISABLED


def test_it_queues_nothing_for_a_message_without_a_file(settings, conversation, queued):
    settings.SHAREPOINT_ENABLED = True
    message = media_message(conversation, content=None, message_type="text")

    queue_sharepoint_backup(message)

    assert queued == []
    assert reload(message).sharepoint_state == ""


@pytest.mark.parametrize(("retry_after", "retries"), [(90, 0), (5, 7), (3600, 2)])
def test_it_waits_at_least_as_long_as_graph_asks(retry_after, retries):
    error = SharePointError("throttled", retryable=True, retry_after=retry_after)

    for _ in range(20):
        assert retry_after <= retry_delay(error, retries) <= retry_after + 30


def test_it_backs_off_exponentially_with_jitter_up_to_an_hour():
    error = SharePointError("down", retryable=True)

    first = [retry_delay(error, 0) for _ in range(50)]
    later = [retry_delay(error, 20) for _ in range(50)]

    assert all(15 <= delay <= 30 for delay in first)
    assert all(1800 <= delay <= 3600 for delay in later)
    assert len(set(first)) > 1


def age(message, **changes):
    Message.objects.filter(pk=message.pk).update(**changes)


def test_the_sweeper_queues_again_only_backups_that_seem_lost(graph, conversation, queued):
    now = timezone.now()
    lost = media_message(conversation, sharepoint_state=State.PENDING)
    age(lost, updated_at=now - timedelta(hours=3), created_at=now - timedelta(hours=3))
    waiting = media_message(conversation, sharepoint_state=State.PENDING)  # a retry may still be due
    gave_up = media_message(conversation, sharepoint_state=State.FAILED, sharepoint_retry_at=now - timedelta(minutes=1))
    not_yet = media_message(conversation, sharepoint_state=State.FAILED, sharepoint_retry_at=now + timedelta(hours=1))
    died_uploading = media_message(conversation, sharepoint_state=State.UPLOADING)
    age(died_uploading, updated_at=now - timedelta(hours=2))
    uploading = media_message(conversation, sharepoint_state=State.UPLOADING)
    refused = media_message(conversation, sharepoint_state=State.FAILED, sharepoint_error="403 accessDenied")
    age(refused, updated_at=now - timedelta(hours=7))
    skipped_while_off = media_message(conversation, sharepoint_state=State.DISABLED)
    done = media_message(conversation, sharepoint_state=State.UPLOADED, sharepoint_item_id="X")
    too_old = media_message(conversation, sharepoint_state=State.PENDING)
    age(too_old, updated_at=now - timedelta(days=30), created_at=now - timedelta(days=30))

    assert sharepoint_sweep(now=now) == 4

    assert sorted(queued) == sorted([lost.pk, gave_up.pk, died_uploading.pk, skipped_while_off.pk])
    assert not {waiting.pk, not_yet.pk, uploading.pk, refused.pk, done.pk, too_old.pk} & set(queued)


def test_the_sweeper_costs_one_query_however_many_messages(graph, conversation, queued, django_assert_num_queries):
    for _ in range(30):
        media_message(conversation, sharepoint_state=State.DISABLED)

    with django_assert_num_queries(1):
        assert sharepoint_sweep(limit=10) == 10


def test_the_sweeper_does_nothing_while_backup_is_off(sharepoint_off, conversation, queued):
    media_message(conversation, sharepoint_state=State.DISABLED)

    assert sharepoint_sweep() == 0
    assert queued == []


def test_the_backfill_command_uploads_everything_not_yet_backed_up(graph, conversation):
    messages = [media_message(conversation, content=f"file {n}".encode(), name=f"f{n}.txt") for n in range(3)]
    media_message(conversation, content=None, message_type="text")
    out = StringIO()

    call_command("sharepoint_backfill", stdout=out)

    assert all(reload(m).sharepoint_state == State.UPLOADED for m in messages)
    assert len(graph.calls("put")) == 3
    assert "3 uploaded" in out.getvalue()


def test_the_backfill_dry_run_only_counts(graph, conversation):
    media_message(conversation)
    out = StringIO()

    call_command("sharepoint_backfill", "--dry-run", stdout=out)

    assert "1 message" in out.getvalue()
    assert not graph.calls("put")
    assert Message.objects.get().sharepoint_state == ""


def test_the_backfill_takes_only_messages_since_a_date(graph, conversation):
    old = media_message(conversation, created_at=timezone.now() - timedelta(days=40))
    new = media_message(conversation)

    call_command(
        "sharepoint_backfill", "--since", (timezone.now() - timedelta(days=1)).date().isoformat(), stdout=StringIO()
    )

    assert reload(new).sharepoint_state == State.UPLOADED
    assert reload(old).sharepoint_state == ""


def test_the_backfill_leaves_temporary_failures_to_the_queue(graph, conversation, queued):
    message = media_message(conversation)
    graph.fail("put", 503)
    out = StringIO()

    call_command("sharepoint_backfill", stdout=out)

    assert queued == [message.pk]
    assert "1 queued to retry" in out.getvalue()


def test_the_backfill_says_when_backup_is_off(sharepoint_off, conversation):
    media_message(conversation)

    with pytest.raises(CommandError, match="SharePoint backup is off"):
        call_command("sharepoint_backfill", stdout=StringIO())


@pytest.fixture
def admin_retry(admin_client, settings, django_capture_on_commit_callbacks):
    """Run the admin's "back up again" action on some messages; returns the page it answers with."""
    from django.urls import reverse

    settings.SHAREPOINT_ENABLED = True

    def retry(*messages):
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                reverse("admin:chat_message_changelist"),
                {"action": "retry_sharepoint_backup", "_selected_action": [m.pk for m in messages]},
                follow=True,
            )
        return response.content.decode()

    return retry


def test_the_admin_action_queues_failed_backups_again(admin_client, admin_retry, conversation, queued):
    from django.urls import reverse

    failed = media_message(conversation, sharepoint_state=State.FAILED, sharepoint_error="403 accessDenied")
    done = media_message(conversation, sharepoint_state=State.UPLOADED, sharepoint_item_id="X")

    assert "1 backup queued." in admin_retry(failed, done)
    assert queued == [failed.pk]
    assert reload(failed).sharepoint_state == State.PENDING
    assert admin_client.get(reverse("admin:chat_message_changelist"), {"sharepoint_state": "failed"}).status_code == 200


def test_the_admin_action_leaves_a_file_that_is_being_uploaded(admin_retry, conversation, queued):
    uploading = media_message(conversation, sharepoint_state=State.UPLOADING)
    stuck = media_message(conversation, sharepoint_state=State.UPLOADING)
    age(stuck, updated_at=timezone.now() - timedelta(hours=2))

    assert "1 backup queued." in admin_retry(uploading, stuck)
    assert queued == [stuck.pk]
    assert reload(uploading).sharepoint_state == State.UPLOADING


@pytest.mark.django_db(transaction=True)
def test_the_message_says_uploading_while_graph_holds_a_chunk(graph, conversation, agent_client, admin_client):
    from django.db import connection
    from django.urls import reverse

    content = os.urandom(6 * 1024 * 1024)  # over 4 MiB: an upload session, in chunks
    message = media_message(conversation, content=content, name="site visit.mp4", message_type="video")
    hold = graph.hold_chunk(1)
    outcome = []

    def upload():
        try:
            outcome.append(sharepoint_backup_task(message.pk))
        finally:
            connection.close()

    worker = threading.Thread(target=upload)
    worker.start()
    try:
        assert hold.wait(), "the first chunk never reached the fake Graph"

        assert reload(message).sharepoint_state == State.UPLOADING
        pane = agent_client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
        assert 'class="backup backup-uploading" title="Uploading to SharePoint…"' in pane
        admin_page = admin_client.get(reverse("admin:chat_message_changelist")).content.decode()
        assert "Uploading" in admin_page
    finally:
        hold.release()
        worker.join(30)

    assert outcome == ["uploaded"]
    message = reload(message)
    assert message.sharepoint_state == State.UPLOADED
    folder, name = backup_location(message)
    assert graph.content([*folder, name]) == content


def test_backups_given_up_before_the_retry_time_existed_get_one():
    """Migration 0003: the old text prefix on sharepoint_error becomes sharepoint_retry_at."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("chat.migrations.0003_sharepoint_uploading")
    conversation = Conversation.objects.create(other_party="+919876543210")
    gave_up = media_message(
        conversation, sharepoint_state=State.FAILED, sharepoint_error=migration.OLD_PREFIX + "503 serviceNotAvailable"
    )
    refused = media_message(conversation, sharepoint_state=State.FAILED, sharepoint_error="403 accessDenied")

    migration.retry_at_from_prefix(apps, None)

    gave_up, refused = reload(gave_up), reload(refused)
    assert gave_up.sharepoint_error == "503 serviceNotAvailable"
    assert gave_up.sharepoint_retry_at == gave_up.updated_at + SWEEP_FAILED_AFTER
    assert (refused.sharepoint_error, refused.sharepoint_retry_at) == ("403 accessDenied", None)
