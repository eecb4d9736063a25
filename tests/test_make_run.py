"""`make run` comes up on a fresh DATA_DIR: migrates, creates the first admin, serves the login page,
and writes nothing outside DATA_DIR."""

import os
import signal
import subprocess
import sys

import pytest
import requests

from tests.processes import ROOT, free_port, log_of, running, wait_for


def untracked_files():
    """Files in the checkout outside var/ that git does not track, ignored ones included (bytecode caches aside)."""
    listing = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    paths = {line[3:] for line in listing.splitlines() if line.startswith(("??", "!!"))}
    return {p for p in paths if not p.startswith("var/") and "__pycache__/" not in p and not p.endswith(".pyc")}


def product_env(data_dir, **extra):
    """The environment of a fresh checkout: nothing but DATA_DIR pointing at the test's own folder."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_", "SECRET_KEY", "DJANGO_", "DEBUG"))
    }
    env.update(DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **extra)
    env.pop("WHATSAPP_ACCESS_TOKEN", None)
    return env


def login_page_status(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code
    except requests.ConnectionError:
        return None


@pytest.mark.slow
def test_make_run_comes_up_on_a_fresh_data_dir_and_writes_nothing_outside_it(tmp_path):
    before = untracked_files()
    port = free_port()
    data_dir = tmp_path / "var"
    env = product_env(data_dir, PORT=str(port))
    with running(["make", "run"], env=env, log=tmp_path / "run.log", sig=signal.SIGINT) as process:
        wait_for(
            lambda: process.poll() is not None or login_page_status(port) == 200,
            timeout=120,
            message="the login page",
        )
        output = log_of(process)
        assert login_page_status(port) == 200, output[-3000:]
        assert "Log in as 'admin' with password:" in output
        assert (data_dir / "db.sqlite3").exists()
        # The worker has declared its queues on the filesystem broker: Kombu's exchange tables are under DATA_DIR.
        wait_for(
            lambda: (data_dir / "broker" / "control" / "default.exchange").exists(),
            timeout=60,
            message=f"the worker's exchange table under DATA_DIR:\n{log_of(process)[-3000:]}",
        )
    assert process.returncode is not None
    assert untracked_files() - before == set()


def test_the_filesystem_broker_keeps_its_exchange_tables_under_data_dir(tmp_path):
    """A producer on the embedded broker, run from an empty folder, writes only under DATA_DIR."""
    data_dir = tmp_path / "var"
    work = tmp_path / "cwd"
    work.mkdir()
    env = product_env(
        data_dir, SECRET_KEY="test-only-secret", PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="madio_whatsapp.settings"
    )
    publish = (
        "import django; django.setup()\n"
        "from madio_whatsapp.celery import app\n"
        "app.send_task('integrations.tasks.worker_heartbeat_task')\n"
    )
    subprocess.run([sys.executable, "-c", publish], cwd=work, env=env, check=True, timeout=60)
    assert list(work.iterdir()) == []
    assert (data_dir / "broker" / "control" / "default.exchange").exists()
    assert list((data_dir / "broker" / "queue").iterdir())
