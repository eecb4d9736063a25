"""Fixtures for the outbound tests: the Cloud API simulator on a free port, and settings pointing at it.

conftest.py loads them for every test (pytest_plugins); worker_env is a plain function to import.
"""

import pytest
from django.utils import timezone

from chat.services import conversation_get_or_create
from integrations.whatsapp import CloudAPIClient
from simulator.server import Simulator

CUSTOMER = "+919876543210"


@pytest.fixture
def simulator():
    """The Cloud API simulator, statuses off unless a test turns them on."""
    sim = Simulator(port=0, status_mode="none", status_delay=0.05, seed=7).start()
    yield sim
    sim.stop()


@pytest.fixture
def whatsapp(simulator, settings):
    """Settings pointing at the simulator, as `make run` does without real credentials."""
    settings.WHATSAPP_API_BASE_URL = simulator.url
    settings.WHATSAPP_ACCESS_TOKEN = simulator.token
    settings.WHATSAPP_APP_SECRET = simulator.app_secret
    settings.WHATSAPP_PHONE_NUMBER_ID = simulator.phone_number_id
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = simulator.business_account_id
    settings.WHATSAPP_SEND_RATE = 1000
    settings.WHATSAPP_SEND_RETRY_BASE_SECONDS = 2
    return simulator


@pytest.fixture
def client_api(whatsapp):
    return CloudAPIClient.from_settings()


@pytest.fixture
def conversation(db):
    """A customer who wrote a minute ago: the 24-hour window is open."""
    conversation = conversation_get_or_create(phone=CUSTOMER, name="Asha")
    conversation.last_inbound_at = timezone.now() - timezone.timedelta(minutes=1)
    conversation.save(update_fields=["last_inbound_at"])
    return conversation


def worker_env(simulator, **extra):
    """The environment a Celery worker process needs to send through the simulator."""
    env = {
        "WHATSAPP_API_BASE_URL": simulator.url,
        "WHATSAPP_ACCESS_TOKEN": simulator.token,
        "WHATSAPP_APP_SECRET": simulator.app_secret,
        "WHATSAPP_PHONE_NUMBER_ID": simulator.phone_number_id,
        "WHATSAPP_BUSINESS_ACCOUNT_ID": simulator.business_account_id,
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env
