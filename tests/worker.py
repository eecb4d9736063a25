"""A real Celery worker process for integration tests.

It runs `celery -A madio_whatsapp worker` on the test database (pytest-django's, so
use it from a transactional test: the worker sees only committed rows) and the
test's broker: Redis when REDIS_URL is set, else the filesystem queue under the
test's DATA_DIR. Use the `celery_worker_process` fixture (conftest.py), or
`run_celery_worker(env={...})` to give the worker extra settings, for example the
address of a loopback server:

    def test_it_works_end_to_end(celery_worker_process):
        ...post something...
        wait_for(lambda: Message.objects.filter(...).exists())
"""

import os
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from tests.processes import log_of, start, stop, wait_for


def database_url():
    """The URL of the database this test process uses (the test database, once created)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            raise RuntimeError("A worker process cannot share an in-memory SQLite database")
        return "sqlite:///" + str(Path(name).resolve())
    scheme = {"django.db.backends.postgresql": "postgres", "django.db.backends.mysql": "mysql"}[db["ENGINE"]]
    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"{scheme}://{credentials}{'@' if credentials else ''}{host}{port}/{quote(db['NAME'], safe='')}"


class Worker:
    def __init__(self, process):
        self.process = process

    @property
    def log(self):
        return log_of(self.process)


@contextmanager
def run_celery_worker(*, env=None, queues="default,whatsapp,sharepoint", startup_timeout=90):
    """Start a worker on the test database and broker; stop it (and its children) on exit."""
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    worker_env.update(
        DATABASE_URL=database_url(),
        DATA_DIR=str(settings.DATA_DIR),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        SECRET_KEY=settings.SECRET_KEY,
        DJANGO_SETTINGS_MODULE="madio_whatsapp.settings",
        PYTHONUNBUFFERED="1",
    )
    worker_env.update(env or {})
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "madio_whatsapp",
        "worker",
        "-Q",
        queues,
        "--pool",
        "solo",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--purge",  # tasks left over from an earlier run name rows that no longer exist
        "--loglevel",
        "INFO",
        "-n",
        f"test-{uuid.uuid4().hex[:8]}@%h",
    ]
    process = start(command, env=worker_env)
    worker = Worker(process)
    try:
        wait_for(
            lambda: process.poll() is not None or " ready." in worker.log,
            timeout=startup_timeout,
            message="the Celery worker to start",
        )
        if process.poll() is not None:
            raise RuntimeError(f"The Celery worker exited at start:\n{worker.log[-3000:]}")
        yield worker
    finally:
        stop(process, keep_log=False)
