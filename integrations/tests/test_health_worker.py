"""/api/health sees a real Celery worker through its heartbeat."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from integrations.observability import HEARTBEAT_KEY
from integrations.tasks import worker_heartbeat_task

ROOT = Path(__file__).resolve().parents[2]


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
    log = open(tmp_path / "worker.log", "w+")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "madio_whatsapp", "worker", "-Q", "default", "--concurrency", "1"]
        + ["--without-gossip", "--without-mingle", "--loglevel", "INFO", "--hostname", f"health-test-{os.getpid()}@%h"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "madio_whatsapp.settings"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # The worker beats once when it is ready ...
        started = wait_for(lambda: cache.get(HEARTBEAT_KEY) is not None)
        log.seek(0)
        assert started, log.read()[-3000:]
        health = client.get("/api/health")
        assert health.json()["checks"]["worker"]["ok"] is True
        # ... and again whenever beat's heartbeat task reaches it through the broker.
        cache.delete(HEARTBEAT_KEY)
        worker_heartbeat_task.delay()
        beat_again = wait_for(lambda: cache.get(HEARTBEAT_KEY) is not None)
        log.seek(0)
        assert beat_again, log.read()[-3000:]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        cache.delete(HEARTBEAT_KEY)
