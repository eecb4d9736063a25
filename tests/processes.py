"""Start and stop the processes tests and benchmarks need, and find them a free port.

    port = free_port()
    with running([sys.executable, "manage.py", "whatsapp_simulator", "--port", str(port)], log=path) as process:
        wait_for_port(port, process=process)
        ...

Each process runs in a session of its own, so stopping it stops its children too
(honcho's web and worker, a Celery worker's pool). Output goes to a log file that
`log_of(process)` reads back for an assertion's message.
"""

import os
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(host="127.0.0.1"):
    """A port nothing listens on right now (free once this returns; connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for(condition, *, timeout=60, interval=0.2, message="condition"):
    """Poll until condition() is truthy and return it; a deadline for a hung process, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out waiting for {message}")


def port_answers(port, host="127.0.0.1"):
    """True when something accepts a TCP connection on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for_port(port, *, host="127.0.0.1", process=None, timeout=60):
    """Wait until host:port accepts connections; fail early, with its log, if `process` exits first."""

    def ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"The process exited before {host}:{port} answered:\n{log_of(process)[-3000:]}")
        return port_answers(port, host)

    wait_for(ready, timeout=timeout, message=f"{host}:{port} to answer")


def start(command, *, env=None, cwd=ROOT, log=None, append=False):
    """Start `command` in its own session with stdout and stderr in `log` (a path; a temporary file if None).

    append=True adds to an existing log instead of starting it afresh (a process restarted under one name).
    """
    if log is None:
        handle = tempfile.NamedTemporaryFile("w+", prefix="process-", suffix=".log", delete=False)  # noqa: SIM115
    else:
        handle = open(log, "a+" if append else "w+")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_file = handle
    process.log_is_temporary = log is None
    return process


def log_of(process):
    """What the process has written so far."""
    return Path(process.log_file.name).read_text(errors="replace")


def stop(process, *, sig=signal.SIGTERM, timeout=30, keep_log=True):
    """Send `sig` to the process's whole session, then SIGKILL if it is still there after `timeout` seconds."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            process.wait()
    log_file = getattr(process, "log_file", None)
    if log_file is not None and not log_file.closed:
        log_file.close()
        if process.log_is_temporary and not keep_log:
            os.unlink(log_file.name)


@contextmanager
def running(command, *, env=None, cwd=ROOT, log=None, sig=signal.SIGTERM, timeout=30):
    """start() on entry, stop() on exit (with the same signal and timeout)."""
    process = start(command, env=env, cwd=cwd, log=log)
    try:
        yield process
    finally:
        stop(process, sig=sig, timeout=timeout, keep_log=log is not None)
