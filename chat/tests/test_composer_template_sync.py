"""Templates on a fresh install: synced when a worker starts, asked for when a composer finds none,
and a "Sync templates" button in the composer's empty state. WhatsApp is played by the simulator."""

import logging

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

import integrations.tasks
from chat.message_templates import SYNC_REQUEST_KEY
from chat.models import MessageTemplate
from chat.tests.conftest import make_conversation

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _no_recent_request():
    cache.delete(SYNC_REQUEST_KEY)
    yield
    cache.delete(SYNC_REQUEST_KEY)


@pytest.fixture
def sync_enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(integrations.tasks.templates_sync_task, "delay", lambda: calls.append("sync"))
    return calls


@pytest.fixture
def closed(db):
    """Asha, who last wrote three days ago: only a template may be sent."""
    return make_conversation(inbound_ago=timezone.timedelta(days=3))


def open_pane(client, chat):
    return client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()


def test_it_enqueues_a_sync_when_a_worker_is_ready(sync_enqueued):
    integrations.tasks._templates_sync_on_start(sender=None)
    assert sync_enqueued == ["sync"]


def test_a_worker_starts_even_when_the_broker_refuses_the_sync(monkeypatch, caplog):
    def refuse():
        raise ConnectionError("broker down")

    monkeypatch.setattr(integrations.tasks.templates_sync_task, "delay", refuse)
    with caplog.at_level(logging.WARNING):
        integrations.tasks._templates_sync_on_start(sender=None)
    assert "Template sync not enqueued at start" in caplog.text


def test_the_task_copies_the_simulators_approved_templates(whatsapp, db):
    assert integrations.tasks.templates_sync_task() == 6
    assert MessageTemplate.objects.filter(status="APPROVED").count() == 5
    assert integrations.tasks.templates_sync_task() == 6  # again: the same rows, updated in place
    assert MessageTemplate.objects.count() == 6


def test_the_task_logs_and_returns_when_whatsapp_is_unreachable(whatsapp, settings, db, caplog):
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    with caplog.at_level(logging.WARNING):
        assert integrations.tasks.templates_sync_task() is None
    assert "Template sync failed" in caplog.text
    assert not MessageTemplate.objects.exists()


def test_a_composer_with_no_templates_shows_the_empty_state_and_asks_for_a_sync_once(
    agent_client, closed, sync_enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = open_pane(agent_client, closed)
    assert "No approved templates yet." in body
    assert reverse("chat:templates_sync") in body
    assert ">Sync templates</button>" in body
    assert sync_enqueued == ["sync"]
    with django_capture_on_commit_callbacks(execute=True):
        open_pane(agent_client, closed)
    assert sync_enqueued == ["sync"]  # within a few minutes, one request is enough


def test_a_composer_with_templates_asks_for_no_sync(agent_client, closed, sync_enqueued, whatsapp):
    integrations.tasks.templates_sync_task()
    body = open_pane(agent_client, closed)
    assert "hello_world (en_US)" in body
    assert "No approved templates yet." not in body
    assert sync_enqueued == []


def test_the_sync_button_fetches_the_templates_and_shows_them(agent_client, closed, whatsapp):
    response = agent_client.post(reverse("chat:templates_sync"), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="template-picker"' in body
    assert "order_update (hi)" in body
    assert "festival_offer" not in body  # pending, not sendable
    assert "Synced 6 template(s) from WhatsApp; 5 approved." in body


def test_the_sync_button_says_why_when_whatsapp_is_unreachable(agent_client, closed, whatsapp, settings):
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:9"
    body = agent_client.post(reverse("chat:templates_sync"), **HTMX).content.decode()
    assert "WhatsApp could not be asked for the templates" in body
    assert 'role="alert"' in body
    assert "No approved templates yet." in body


def test_the_sync_button_says_when_whatsapp_is_not_set_up(agent_client, closed, settings):
    settings.WHATSAPP_ACCESS_TOKEN = ""
    body = agent_client.post(reverse("chat:templates_sync"), **HTMX).content.decode()
    assert "WhatsApp is not set up yet" in body


def test_the_sync_button_without_javascript_goes_back_to_the_conversation(agent_client, closed, whatsapp):
    url = reverse("chat:conversation", args=[closed.pk])
    response = agent_client.post(reverse("chat:templates_sync"), HTTP_REFERER=f"http://testserver{url}")
    assert response.status_code == 302
    assert response["Location"].endswith(url)
    assert MessageTemplate.objects.filter(status="APPROVED").count() == 5


def test_the_sync_button_is_for_chat_users_only(client, outsider, db):
    client.force_login(outsider)
    assert client.post(reverse("chat:templates_sync"), **HTMX).status_code in (302, 403)
    assert not MessageTemplate.objects.exists()
