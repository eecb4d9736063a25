"""Fixtures every app's tests share: staff users with and without the chat permission."""

import pytest
from django.contrib.auth.models import Group

# The Cloud API simulator fixtures (simulator, whatsapp, client_api, conversation).
pytest_plugins = ["integrations.tests.simulator_fixtures"]


@pytest.fixture
def agent(django_user_model):
    """Alice: staff in the "WhatsApp agents" group."""
    user = django_user_model.objects.create_user(username="alice", password="alice-password-1")
    user.groups.add(Group.objects.get(name="WhatsApp agents"))
    return user


@pytest.fixture
def outsider(django_user_model):
    """Charlie: logged in, but without the chat permission."""
    return django_user_model.objects.create_user(username="charlie", password="charlie-password-1")


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real `celery -A madio_whatsapp worker` on the test database and broker (see tests/worker.py)."""
    from tests.worker import run_celery_worker

    with run_celery_worker() as worker:
        yield worker
