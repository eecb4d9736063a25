"""End to end: a stored file is queued after commit, a real Celery worker on the sharepoint queue
uploads it to the loopback Graph, and the message ends up with the SharePoint link."""

import os
import sys
import time

import pytest
from django.core.files.base import ContentFile
from django.db import connection, transaction

from chat.models import Conversation, Message
from integrations.sharepoint_backup import backup_location, queue_sharepoint_backup
from integrations.tests.fake_graph import FakeGraph, use_fake_graph
from tests.processes import running


def database_url():
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the worker needs a database it can share with the test (PostgreSQL)")
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def graph(tmp_path, settings, monkeypatch):
    fake = FakeGraph()
    with fake.running(tmp_path):
        use_fake_graph(fake, settings, monkeypatch)
        yield fake


@pytest.fixture
def worker(graph, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        SHAREPOINT_TENANT_ID=graph.tenant,
        SHAREPOINT_CLIENT_ID=graph.client_id,
        SHAREPOINT_CLIENT_SECRET=graph.secret,
        SHAREPOINT_SITE_ID=graph.site,
        SHAREPOINT_AUTHORITY=graph.url,
        GRAPH_API_BASE_URL=graph.url,
        PYTHONUNBUFFERED="1",
    )
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115 - read back after the test
    command = [sys.executable, "-m", "celery", "-A", "madio_whatsapp", "worker", "-Q", "sharepoint", "--pool", "solo"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]
    with running(command, env=env, log=tmp_path / "worker.log"):
        yield log


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_backs_up_a_stored_file_and_keeps_the_link(graph, worker):
    content = os.urandom(6 * 1024 * 1024)  # through an upload session
    conversation = Conversation.objects.create(other_party="+919876543210")
    with transaction.atomic():
        message = Message(conversation=conversation, direction="inbound", status="received", message_type="video")
        message.file.save("clip.mp4", ContentFile(content), save=False)
        message.save()
        queue_sharepoint_backup(message)

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.sharepoint_state not in (Message.BackupState.PENDING, Message.BackupState.UPLOADING):
            break
        time.sleep(0.3)

    worker.seek(0)
    assert message.sharepoint_state == Message.BackupState.UPLOADED, worker.read()[-3000:]
    folder, name = backup_location(message)
    item = graph.items[(*folder, name)]
    assert item["content"] == content
    assert message.media_url == item["webUrl"]
    assert graph.token_requests == 1
