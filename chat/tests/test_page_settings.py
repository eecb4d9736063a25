"""CHAT_POLL_SECONDS: how often the page polls, within the 3 to 5 seconds the issue allows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path, value):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DATA_DIR=str(tmp_path), SECRET_KEY="x" * 50, CHAT_POLL_SECONDS=value)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("value", ["2", "6", "soon"])
def test_it_refuses_a_poll_interval_outside_three_to_five_seconds(tmp_path, value):
    result = check(tmp_path, value)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Configuration error: CHAT_POLL_SECONDS")


def test_it_accepts_a_poll_interval_of_five_seconds(tmp_path):
    assert check(tmp_path, "5").returncode == 0
