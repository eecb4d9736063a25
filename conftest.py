"""Fixtures every app's tests share: staff users with and without the chat permission."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

import integrations.tasks
from chat.api_throttle import throttle_cache_key
from tests.worker import run_celery_worker

# The Cloud API simulator fixtures (simulator, whatsapp, client_api, conversation).
pytest_plugins = ["simulator.tests.fixtures"]


def agents_group():
    """The group a migration creates; transactional tests flush it away, so make it again if needed."""
    group, _ = Group.objects.get_or_create(name="WhatsApp agents")
    group.permissions.add(Permission.objects.get(content_type__app_label="chat", codename="use_chat"))
    return group


@pytest.fixture
def agent(django_user_model):
    """Alice: staff in the "WhatsApp agents" group."""
    user = django_user_model.objects.create_user(username="alice", password="alice-password-1")
    user.groups.add(agents_group())
    return user


@pytest.fixture
def outsider(django_user_model):
    """Charlie: logged in, but without the chat permission."""
    return django_user_model.objects.create_user(username="charlie", password="charlie-password-1")


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


# --- REST API ---------------------------------------------------------------------------


def _forget_rate_limits(*idents):
    cache.delete_many([throttle_cache_key(ident) for ident in (*idents, "127.0.0.1")])


def jwt_client_for(user):
    """An APIClient sending a fresh JWT access token for `user`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def api_client(agent):
    """Alice's API client with a JWT; her rate-limit count starts at zero."""
    _forget_rate_limits(agent.pk)
    yield jwt_client_for(agent)
    _forget_rate_limits(agent.pk)


@pytest.fixture
def enqueued(monkeypatch):
    """What services hand to the worker after commit: {"send": [ids], "mark_read": [ids], "typing": [ids],
    "fetch": [ids]}.

    The Celery tasks run in worker processes; API tests check what is enqueued.
    """
    calls = {"send": [], "mark_read": [], "typing": [], "fetch": []}

    class Recorder:
        def __init__(self, name):
            self.name = name

        def delay(self, message_id):
            calls[self.name].append(message_id)

    monkeypatch.setattr(integrations.tasks, "message_send_task", Recorder("send"), raising=False)
    monkeypatch.setattr(integrations.tasks, "message_mark_read_task", Recorder("mark_read"), raising=False)
    monkeypatch.setattr(integrations.tasks, "message_typing_task", Recorder("typing"), raising=False)
    monkeypatch.setattr(integrations.tasks, "message_fetch_media_task", Recorder("fetch"))
    return calls


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real `celery -A madio_whatsapp worker` on the test database and broker (see tests/worker.py)."""
    with run_celery_worker() as worker:
        yield worker
