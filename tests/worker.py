"""A real Celery worker process for integration tests, on pytest-django's test database.

    from tests.worker import celery_worker  # noqa: F401 - a fixture

    @pytest.mark.slow
    @pytest.mark.django_db(transaction=True)
    def test_it_sends(celery_worker):
        worker = celery_worker(env={"WHATSAPP_API_BASE_URL": simulator.url})
        ...

The worker connects to the test database (django.db.connection.settings_dict["NAME"]),
so the test must be transactional to let it see committed rows. Its broker is the test
process's own (REDIS_URL when set, else the filesystem queue under DATA_DIR), purged
before and after, so tasks left from other tests never reach it. Stopped (warm, then
killed) before the test database is flushed.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
QUEUES = ("default", "whatsapp", "sharepoint")


def worker_database_url():
    """A DATABASE_URL for the database pytest-django created (postgres or a SQLite file)."""
    config = connection.settings_dict
    name = config["NAME"]
    if config["ENGINE"].endswith("sqlite3"):
        if not name or name == ":memory:" or "mode=memory" in str(name):
            pytest.skip("A worker process cannot share an in-memory SQLite test database")
        return f"sqlite:///{name}"
    if "postgresql" not in config["ENGINE"]:
        pytest.skip(f"No worker database URL for {config['ENGINE']}")
    user = quote(config.get("USER") or "", safe="")
    password = quote(config.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{config.get('HOST') or '127.0.0.1'}:{config.get('PORT') or 5432}/{name}"


def purge_queues():
    from madio_whatsapp.celery import app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in QUEUES:
            with contextlib.suppress(Exception):  # a queue never declared has nothing to purge
                channel.queue_purge(queue)


class CeleryWorker:
    def __init__(self, *, env, log_path, concurrency=1, queues=QUEUES, pool="prefork"):
        self.log_path = Path(log_path)
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "madio_whatsapp",
            "worker",
            "-Q",
            ",".join(queues),
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            self.name,
            "--loglevel",
            "INFO",
        ]
        self._log = open(self.log_path, "w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"The Celery worker did not start:\n{self.log()[-4000:]}")

    def succeeded(self, task_name):
        """How many runs of the task this worker finished (from its log)."""
        return sum(f"{task_name}[" in line and " succeeded in " in line for line in self.log().splitlines())

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def worker_environment(**overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DATABASE_URL=worker_database_url(),
        DATA_DIR=str(settings.DATA_DIR),
        SECRET_KEY=settings.SECRET_KEY,
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="madio_whatsapp.settings",
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env.update({k: str(v) for k, v in overrides.items()})
    return env


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Start real worker processes: celery_worker(env={...}, concurrency=1) -> CeleryWorker (ready)."""
    workers = []
    purge_queues()

    def start(*, env=None, concurrency=1, queues=QUEUES):
        worker = CeleryWorker(
            env=worker_environment(**(env or {})),
            log_path=tmp_path / f"worker-{len(workers)}.log",
            concurrency=concurrency,
            queues=queues,
        )
        workers.append(worker)
        return worker.wait_ready()

    yield start
    for worker in workers:
        worker.stop()
    purge_queues()
    # The test process's pooled connection must not hold locks when the database is flushed.
    connection.close()
