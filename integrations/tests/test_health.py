"""GET /api/health: database, cache, broker and worker, 503 when one is down."""

import time

import pytest
from django.test import override_settings

from integrations.observability import HEARTBEAT_KEY, worker_heartbeat_record
from integrations.tasks import worker_heartbeat_task
from tests.processes import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_heartbeat():
    from django.core.cache import cache

    cache.delete(HEARTBEAT_KEY)
    yield
    cache.delete(HEARTBEAT_KEY)


def test_it_is_healthy_when_everything_answers_and_a_worker_beat_recently(client):
    worker_heartbeat_task()
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "cache": True,
        "broker": True,
        "worker": True,
    }
    assert 0 <= body["checks"]["worker"]["heartbeat_age_seconds"] <= 5
    assert "no-cache" in response["Cache-Control"]


def test_it_needs_no_token(client):
    worker_heartbeat_record()
    assert client.get("/api/health").status_code == 200


def test_it_is_unavailable_without_a_worker_heartbeat(client):
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {"ok": False, "heartbeat_age_seconds": None}


def test_it_is_unavailable_when_the_last_heartbeat_is_too_old(client, settings):
    worker_heartbeat_record(now=time.time() - settings.WORKER_HEARTBEAT_MAX_AGE - 10)
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["ok"] is False
    assert response.json()["checks"]["worker"]["heartbeat_age_seconds"] >= settings.WORKER_HEARTBEAT_MAX_AGE


def test_it_is_unavailable_when_the_broker_does_not_answer(client, settings):
    worker_heartbeat_record()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False}
    assert response.json()["checks"]["database"]["ok"] is True


def test_it_is_unavailable_when_the_cache_does_not_answer(client):
    down = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    # Restored inside the test, before any fixture's teardown touches the cache.
    with override_settings(CACHES=down):
        response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == {"ok": False}
    assert response.json()["checks"]["worker"]["ok"] is False


def test_it_says_nothing_but_up_or_down(client):
    text = client.get("/api/health").content.decode()
    for secret in ("postgres", "redis://", "127.0.0.1", "Traceback"):
        assert secret not in text
