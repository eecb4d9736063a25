"""`make soak`: about ten minutes of load with crashes and outages, on loopback only; nothing may be lost.

It runs PostgreSQL and Redis (as .ci/run starts them), gunicorn, two Celery workers, Celery
beat and the Cloud API simulator, all on fresh state of its own (database madio_soak, Redis
db 11). While it posts signed webhook deliveries at --rate per second (re-posting any that
did not get a 200, as Meta retries) and queues outbound sends, it kills a Celery worker with
SIGKILL twice, restarts Redis once and restarts PostgreSQL once. Then it waits for the
sweepers and asserts: every inbound message stored exactly once, every outbound message
accepted by the simulator exactly once, none left queued, no delivery answered 500. The
figures go to benchmarks/SOAK.md; the exit status says whether the assertions held.

    python benchmarks/soak.py [--duration 180] [--rate 200] [--send-rate 20] [--settle 600] [--dry-run]

--dry-run kills the workers (its own processes) but only logs the Redis and PostgreSQL
restarts, which would interrupt everyone else using this machine's servers.
"""

import argparse
import collections
import datetime
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import deliveries  # noqa: E402
from benchmarks.services import pg_ready, redis_ready, start_pg, start_redis  # noqa: E402
from tests.processes import free_port, start, stop  # noqa: E402

BIN = ROOT / ".venv" / "bin"
VAR = ROOT / "var" / "soak"
DATABASE = "madio_soak"
REDIS_DB = 11
APP_SECRET = "soak-app-secret-0123456789abcdef"
RUN = int(time.time()) % 1_000_000
CUSTOMERS = 50


def log(text):
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", flush=True)


def sh(*cmd, check=True):
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, timeout=120)
    if check and result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {result.stderr[-1000:]}")
    return result


# --- Servers ------------------------------------------------------------------------


def wait_for(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise SystemExit(f"{what} did not come up within {timeout} s")


def restart_redis(dry_run):
    if dry_run:
        log("fault: restart Redis (dry run: skipped, the server is shared)")
        return False
    log("fault: restarting Redis")
    sh("redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave", check=False)
    wait_for(lambda: not redis_ready(), "Redis shutdown", 30)
    start_redis()
    wait_for(redis_ready, "Redis")
    return True


def restart_pg(dry_run):
    if dry_run:
        log("fault: restart PostgreSQL (dry run: skipped, the server is shared)")
        return False
    log("fault: restarting PostgreSQL")
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    sh("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "--", "-m", "fast")
    wait_for(pg_ready, "PostgreSQL")
    return True


# --- Our processes ------------------------------------------------------------------------


class Processes:
    """Everything this run starts, each in its own process group, stopped by its own id."""

    def __init__(self, env):
        self.env = env
        self.started = {}

    def start(self, name, *cmd):
        (VAR / "logs").mkdir(parents=True, exist_ok=True)
        self.started[name] = start(cmd, env=self.env, log=VAR / "logs" / f"{name}.log", append=True)
        return self.started[name]

    def kill(self, name, sig=signal.SIGKILL):
        proc = self.started.pop(name, None)
        if proc is not None:
            stop(proc, sig=sig)

    def stop_all(self):
        for name in list(self.started):
            self.kill(name, signal.SIGTERM)


def worker(procs, n):
    return procs.start(
        f"worker{n}",
        BIN / "celery",
        "-A",
        "madio_whatsapp",
        "worker",
        "-Q",
        "default,whatsapp,sharepoint",
        "-n",
        f"soak{n}@%h",
        "--concurrency",
        "2",
        "--loglevel",
        "WARNING",
    )


# --- Load ---------------------------------------------------------------------------


def delivery(wamid, n):
    """A signed one-text delivery from one of CUSTOMERS customers (benchmarks.deliveries builds it)."""
    raw = deliveries.delivery(wamid=wamid, wa_id=f"9198765{n % CUSTOMERS:05d}", text=f"soak {RUN} in {n}")
    return raw, deliveries.signature(raw, APP_SECRET)


class Inbound:
    """Posts deliveries at a fixed rate from many threads; a delivery without a 200 is posted again, backing off."""

    def __init__(self, url, rate, duration, threads=32):
        self.url, self.rate, self.duration, self.threads = url, rate, duration, threads
        self.total = int(rate * duration)
        self.lock = threading.Lock()
        self.answers = collections.Counter()
        self.delivered, self.given_up, self.latencies = [], [], []

    def wamid(self, n):
        return f"wamid.SOAK{RUN}x{n:08d}="

    def run(self, start):
        pool = [threading.Thread(target=self._thread, args=(k, start), daemon=True) for k in range(self.threads)]
        for thread in pool:
            thread.start()
        return pool

    def _thread(self, k, start):
        session = requests.Session()
        for n in range(k, self.total, self.threads):
            due = start + n / self.rate
            time.sleep(max(0.0, due - time.monotonic()))
            raw, signature = delivery(self.wamid(n), n)
            first, wait = time.monotonic(), 1.0
            while True:
                try:
                    status = session.post(
                        self.url,
                        data=raw,
                        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
                        timeout=20,
                    ).status_code
                except requests.RequestException:
                    status = "no answer"
                with self.lock:
                    self.answers[status] += 1
                if status == 200:
                    with self.lock:
                        self.delivered.append(n)
                        self.latencies.append(time.monotonic() - first)
                    break
                if time.monotonic() - first > 600:  # Meta retries for days; the soak for ten minutes
                    with self.lock:
                        self.given_up.append(n)
                    break
                time.sleep(wait)
                wait = min(wait * 2, 30.0)


class Outbound:
    """Queues sends through chat.services (the ERP's path), retrying through outages with the same idempotency key."""

    def __init__(self, rate, duration):
        self.rate, self.duration = rate, duration
        self.total = int(rate * duration)
        self.queued, self.errors = [], collections.Counter()

    def body(self, n):
        return f"soak {RUN} out {n}"

    def run(self, start, conversations, author):
        thread = threading.Thread(target=self._thread, args=(start, conversations, author), daemon=True)
        thread.start()
        return [thread]

    def _thread(self, start, conversations, author):
        from django.db import close_old_connections

        from chat.services import message_send_text

        for n in range(self.total):
            time.sleep(max(0.0, start + n / self.rate - time.monotonic()))
            while True:
                try:
                    message = message_send_text(
                        conversation=conversations[n % len(conversations)],
                        author=author,
                        body=self.body(n),
                        idempotency_key=f"soak-{RUN}-{n}",
                    )
                    self.queued.append(message.pk)
                    break
                except Exception as error:  # an outage: the ERP would try again, with the same key
                    self.errors[type(error).__name__] += 1
                    close_old_connections()
                    from django.db import connection

                    connection.close()
                    time.sleep(1)


# --- The run ------------------------------------------------------------------------------


def environment(web_port, sim_port):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_", "SHAREPOINT_"))},
        "DEBUG": "false",
        "SECRET_KEY": "soak-" + "k" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATA_DIR": str(VAR / "data"),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "SESSION_COOKIE_SECURE": "false",
        "SECURE_SSL_REDIRECT": "false",
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_WEBHOOK_VERIFY_TOKEN": "soak-verify",
        "WHATSAPP_ACCESS_TOKEN": "soak-token",
        "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
        "WHATSAPP_BUSINESS_ACCOUNT_ID": "200000000000001",
        "WHATSAPP_API_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "WHATSAPP_ENFORCE_SERVICE_WINDOW": "false",
        "WHATSAPP_SEND_RATE": "500",
        # Sweepers on a soak's clock: a lost send is re-queued after a minute.
        "WHATSAPP_SWEEP_QUEUED_AFTER_MINUTES": "1",
        "WHATSAPP_SWEEP_SENDING_AFTER_MINUTES": "2",
        "API_RATE_LIMIT": "100000/min",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def simulator_sends(sim_url):
    try:
        return requests.get(f"{sim_url}/_sim/state", timeout=10).json()["sends"]
    except (requests.RequestException, ValueError, KeyError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180, help="Seconds of load (the faults fit in it).")
    parser.add_argument("--rate", type=float, default=200, help="Webhook deliveries per second.")
    parser.add_argument("--send-rate", type=float, default=20, help="Outbound sends queued per second.")
    parser.add_argument(
        "--settle", type=float, default=600, help="Most seconds to wait afterwards for the backlog and the sweepers."
    )
    parser.add_argument("--dry-run", action="store_true", help="Skip the Redis and PostgreSQL restarts.")
    parser.add_argument("--report", default=str(ROOT / "benchmarks" / "SOAK.md"))
    args = parser.parse_args()
    # Stopped from outside (timeout, Ctrl-C): still stop every process this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if not pg_ready():
        start_pg()
    if not redis_ready():
        start_redis()
    wait_for(lambda: pg_ready() and redis_ready(), "PostgreSQL and Redis")
    web_port, sim_port = free_port(), free_port()
    env = environment(web_port, sim_port)
    os.environ.update(env)
    (VAR / "data").mkdir(parents=True, exist_ok=True)
    sh("dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", DATABASE)
    sh("createdb", "-h", "127.0.0.1", "-U", "postgres", DATABASE)
    sh("redis-cli", "-h", "127.0.0.1", "-p", "6379", "-n", REDIS_DB, "FLUSHDB")
    subprocess.run(
        [BIN / "python", "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madio_whatsapp.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User

    from chat.models import Conversation, Message
    from chat.services import conversation_get_or_create
    from integrations.models import WebhookEvent

    has_simulator = (ROOT / "simulator" / "server.py").exists()
    procs = Processes(env)
    web_url = f"http://127.0.0.1:{web_port}"
    sim_url = f"http://127.0.0.1:{sim_port}"
    faults, began = [], datetime.datetime.now(datetime.UTC)
    try:
        if has_simulator:
            procs.start(
                "simulator",
                BIN / "python",
                "manage.py",
                "whatsapp_simulator",
                "--port",
                sim_port,
                "--webhook-url",
                f"{web_url}/api/whatsapp/webhook",
                "--statuses",
                "ordered",
                "--status-delay",
                "2",
                "--no-read-receipts",
            )
        procs.start(
            "gunicorn", BIN / "gunicorn", "madio_whatsapp.wsgi", "--workers", "5", "--bind", f"127.0.0.1:{web_port}"
        )
        worker(procs, 1)
        worker(procs, 2)
        procs.start("beat", BIN / "celery", "-A", "madio_whatsapp", "beat", "-s", VAR / "data" / "beat-schedule")
        wait_for(lambda: _answers(f"{web_url}/accounts/login/"), "gunicorn")
        if has_simulator:
            wait_for(lambda: simulator_sends(sim_url) is not None, "the simulator")

        author = User.objects.create_user(username=f"soak{RUN}", password=None)
        conversations = [conversation_get_or_create(phone=f"+9198000{n:05d}") for n in range(10)]
        inbound = Inbound(f"{web_url}/api/whatsapp/webhook", args.rate, args.duration)
        outbound = Outbound(args.send_rate if has_simulator else 0, args.duration)
        start = time.monotonic()
        threads = inbound.run(start) + outbound.run(start, conversations, author)
        log(f"load: {inbound.total} deliveries at {args.rate}/s, {outbound.total} sends, {args.duration:.0f} s")

        # The faults, spread over the load: (fraction of the duration, what).
        schedule = [
            (0.15, "SIGKILL worker 1", lambda: _kill_and_restart(procs, 1)),
            (0.35, "SIGKILL worker 2", lambda: _kill_and_restart(procs, 2)),
            (0.55, "restart Redis", lambda: restart_redis(args.dry_run)),
            (0.75, "restart PostgreSQL", lambda: restart_pg(args.dry_run)),
        ]
        for fraction, name, action in schedule:
            time.sleep(max(0.0, start + fraction * args.duration - time.monotonic()))
            done = action()
            faults.append(f"{name} at {fraction * args.duration:.0f} s" + ("" if done else " (skipped: dry run)"))
        for thread in threads:
            thread.join(timeout=args.duration + 900)
        load_seconds = time.monotonic() - start
        log(f"load done after {load_seconds:.0f} s; waiting up to {args.settle:.0f} s for the backlog and sweepers")

        prefix = f"wamid.SOAK{RUN}x"
        deadline = time.monotonic() + args.settle
        while True:
            from django.db import connection

            connection.close()
            stored = Message.objects.filter(whatsapp_message_id__startswith=prefix).count()
            pending = Message.objects.filter(pk__in=outbound.queued, status__in=["queued", "sending"]).count()
            backlog = WebhookEvent.objects.filter(processed_at__isnull=True).count()
            settled = stored >= len(inbound.delivered) and pending == 0 and backlog == 0
            # No early stop when nothing moves: events whose task died with a killed worker wait for the sweeper.
            if settled or time.monotonic() > deadline:
                break
            log(f"settling: {stored} of {len(inbound.delivered)} stored, {backlog} events to process, {pending} sends")
            time.sleep(10)

        # The workers may still be processing: read the unprocessed events before the stored
        # messages, so an event processed between the two reads is counted stored, not lost.
        waiting = set()  # wamids in raw events kept but not processed yet
        for raw in WebhookEvent.objects.filter(processed_at__isnull=True).values_list("body", flat=True):
            for entry in json.loads(bytes(raw)).get("entry", []):
                for change in entry.get("changes", []):
                    waiting.update(m.get("id") for m in change.get("value", {}).get("messages", []))
        stored_ids = list(
            Message.objects.filter(whatsapp_message_id__startswith=prefix).values_list("whatsapp_message_id", flat=True)
        )
        per_wamid = collections.Counter(stored_ids)
        waiting -= set(stored_ids)
        expected = {inbound.wamid(n) for n in inbound.delivered}
        sends = simulator_sends(sim_url) or []
        bodies = collections.Counter(((s.get("body") or {}).get("text") or {}).get("body") for s in sends)
        accepted = [bodies.get(outbound.body(n), 0) for n in range(outbound.total)]
        out_statuses = collections.Counter(
            Message.objects.filter(pk__in=outbound.queued).values_list("status", flat=True)
        )
        # Tries per send: more than one means a retry, or a re-queue after a worker died before its request.
        out_attempts = collections.Counter(
            Message.objects.filter(pk__in=outbound.queued).values_list("send_attempts", flat=True)
        )
        figures = {
            "inbound_deliveries": inbound.total,
            "inbound_acknowledged": len(inbound.delivered),
            # The posters wait for each answer, so a server slower than --rate stretches the load.
            "load_seconds": round(load_seconds),
            "inbound_achieved_rate": round(inbound.total / load_seconds, 1),
            "inbound_given_up": len(inbound.given_up),
            "inbound_posts": sum(inbound.answers.values()),
            "inbound_retries": sum(inbound.answers.values()) - len(inbound.delivered),
            "inbound_answers": dict(inbound.answers),
            "inbound_stored": len(set(stored_ids) & expected),
            # Acknowledged and kept as a raw event, but not yet processed when the wait ended: late, not lost.
            "inbound_unprocessed": len(waiting),
            "inbound_lost": len(expected - set(stored_ids) - waiting),
            "inbound_duplicates": sum(c - 1 for c in per_wamid.values() if c > 1),
            "worst_delivery_seconds": round(max(inbound.latencies, default=0), 2),
            "p99_delivery_seconds": round(_percentile(inbound.latencies, 0.99), 3),
            "outbound_queued": len(outbound.queued),
            "outbound_queue_errors": dict(outbound.errors),
            "outbound_accepted_once": sum(1 for count in accepted if count == 1),
            "outbound_duplicates": sum(count - 1 for count in accepted if count > 1),
            "outbound_not_accepted": sum(1 for count in accepted if count == 0),
            "outbound_statuses": dict(out_statuses),
            "outbound_tries": dict(sorted(out_attempts.items())),
            "conversations": Conversation.objects.count(),
        }
    finally:
        procs.stop_all()

    checks = {
        "every inbound message stored exactly once": figures["inbound_lost"] == 0
        and figures["inbound_unprocessed"] == 0
        and figures["inbound_duplicates"] == 0
        and figures["inbound_given_up"] == 0,
        "no delivery answered 500": figures["inbound_answers"].get(500, 0) == 0,
        "every outbound message accepted by the simulator exactly once": not has_simulator
        or (figures["outbound_not_accepted"] == 0 and figures["outbound_duplicates"] == 0),
        "none left queued after the sweepers": figures["outbound_statuses"].get("queued", 0) == 0
        and figures["outbound_statuses"].get("sending", 0) == 0,
    }
    write_report(Path(args.report), args, began, faults, figures, checks, has_simulator)
    for name, ok in checks.items():
        log(f"{'PASS' if ok else 'FAIL'}: {name}")
    return 0 if all(checks.values()) else 1


def _answers(url):
    try:
        return requests.get(url, timeout=5).status_code < 500
    except requests.RequestException:
        return False


def _kill_and_restart(procs, n):
    log(f"fault: SIGKILL Celery worker {n}")
    procs.kill(f"worker{n}")
    time.sleep(5)
    worker(procs, n)
    return True


def _percentile(values, q):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def write_report(path, args, began, faults, figures, checks, has_simulator):
    lines = [
        "# Soak run",
        "",
        f"- Started {began:%Y-%m-%d %H:%M} UTC; {args.duration:.0f} s of load planned at {args.rate:.0f} "
        f"deliveries/s and {args.send_rate:.0f} sends/s, then up to "
        f"{args.settle:.0f} s for the backlog and the sweepers.",
        f"- Mode: {'dry run (Redis and PostgreSQL restarts skipped)' if args.dry_run else 'full'}"
        + ("" if has_simulator else "; no Cloud API simulator in this tree, so no sends"),
        f"- Faults: {'; '.join(faults) or 'none'}",
        "",
        "| figure | value |",
        "| --- | --- |",
        *(f"| {name.replace('_', ' ')} | {value} |" for name, value in figures.items()),
        "",
        "| check | result |",
        "| --- | --- |",
        *(f"| {name} | {'pass' if ok else 'FAIL'} |" for name, ok in checks.items()),
        "",
    ]
    path.write_text("\n".join(lines))
    log(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
