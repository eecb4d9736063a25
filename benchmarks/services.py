"""PostgreSQL and Redis on loopback, checked and started the way .ci/run does; shared by run.py and soak.py."""

import os
import subprocess


def _ok(*cmd):
    return subprocess.run(cmd, capture_output=True, check=False, timeout=60).returncode == 0


def _run(*cmd):
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({result.returncode}): {result.stderr[-1000:]}")


def pg_ready():
    return _ok("pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432")


def redis_ready():
    return _ok("redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping")


def start_pg():
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    _run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start")


def start_redis():
    _run(
        "redis-server",
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "--port",
        "6379",
        "--save",
        "",
        "--appendonly",
        "no",
    )
