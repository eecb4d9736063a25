"""The soak harness itself: a short dry run (no server restarts) starts everything, loses nothing and reports."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_it_runs_a_short_dry_soak_and_loses_nothing(tmp_path):
    report = tmp_path / "SOAK.md"
    command = [sys.executable, "benchmarks/soak.py", "--dry-run", "--duration", "12", "--rate", "20"]
    command += ["--send-rate", "2", "--settle", "240", "--report", str(report)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = report.read_text()
    assert "| inbound deliveries | 240 |" in text
    assert "| inbound stored | 240 |" in text
    assert "| inbound lost | 0 |" in text
    assert "SIGKILL worker 1" in text
    assert "SIGKILL worker 2" in text
    assert "restart Redis at 7 s (skipped: dry run)" in text
    assert "FAIL" not in text
