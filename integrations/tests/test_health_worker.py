"""/api/health sees a real Celery worker through its heartbeat."""

import os
import sys
import time

import pytest
from django.core.cache import cache

from integrations.observability import HEARTBEAT_KEY
from integrations.tasks import worker_heartbeat_task
from tests.processes import log_of, start, stop


def wait_for(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.django_db
def test_it_reports_a_running_worker_and_a_stopped_one(client, tmp_path):
    cache.delete(HEARTBEAT_KEY)
    assert client.get("/api/health").json()["checks"]["worker"]["ok"] is False
    worker = start(
        [sys.executable, "-m", "celery", "-A", "madio_whatsapp", "worker", "-Q", "default", "--concurrency", "1"]
        + ["--without-gossip", "--without-mingle", "--loglevel", "INFO", "--hostname", f"health-test-{os.getpid()}@%h"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "madio_whatsapp.settings"},
        log=tmp_path / "worker.log",
    )
    try:
        # The worker beats once when it is ready ...
        started = wait_for(lambda: cache.get(HEARTBEAT_KEY) is not None)
        assert started, log_of(worker)[-3000:]
        health = client.get("/api/health")
        assert health.json()["checks"]["worker"]["ok"] is True
        # ... and again whenever beat's heartbeat task reaches it through the broker.
        cache.delete(HEARTBEAT_KEY)
        worker_heartbeat_task.delay()
        beat_again = wait_for(lambda: cache.get(HEARTBEAT_KEY) is not None)
        assert beat_again, log_of(worker)[-3000:]
    finally:
        stop(worker)
        cache.delete(HEARTBEAT_KEY)
