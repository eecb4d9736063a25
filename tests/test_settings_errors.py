"""A setting that is wrong for production stops startup with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"}}
    clean.update(DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off(tmp_path):
    result = manage(tmp_path, DEBUG="false")
    assert result.returncode == 1
    assert result.stderr.strip() == "Configuration error: SECRET_KEY must be set when DEBUG is off"


def test_it_names_a_malformed_database_url(tmp_path):
    result = manage(tmp_path, SECRET_KEY="x" * 50, DATABASE_URL="nonsense://what")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Configuration error: DATABASE_URL")


def test_it_names_a_malformed_boolean(tmp_path):
    result = manage(tmp_path, SECRET_KEY="x" * 50, DEBUG="maybe")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Configuration error: DEBUG")


def test_it_runs_embedded_with_nothing_set_but_debug(tmp_path):
    result = manage(tmp_path, DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists()
