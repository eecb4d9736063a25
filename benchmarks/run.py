"""Madio WhatsApp benchmarks: webhook ingest, the inbox at a million messages, sending, memory.

`make bench` (or `make bench-quick` for a smoke run under two minutes) runs this with the
project's venv. It prepares everything itself: PostgreSQL and Redis on loopback as .ci/run
does, wrk from Debian's packages, Locust and pywa in their own virtualenvs under var/bench/,
fresh databases seeded by benchmarks/seed_demo.py, gunicorn with the README's worker count, a
real Celery worker and (once it exists) the Cloud API simulator. It prints a table and
writes the same to benchmarks/RESULTS.md. Nothing here is part of `make test`.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import deliveries, services  # noqa: E402
from tests.processes import free_port, start, stop  # noqa: E402

VAR = ROOT / "var" / "bench"
PYTHON = ROOT / ".venv" / "bin" / "python"
TOOLS = VAR / "tools"  # Locust
PEER = VAR / "pywa"  # pywa, FastAPI's Starlette and uvicorn
PG = "postgres://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/10"
APP_SECRET = "bench-app-secret-0123456789abcdef"
VERIFY_TOKEN = "bench-verify-token"
# README, Production: gunicorn --workers 2 x cores + 1; this machine has 2 cores.
WEB_WORKERS = 2 * (os.cpu_count() or 2) + 1
RUN = int(time.time()) % 1_000_000


def log(text):
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- Machine and services ---------------------------------------------------------


def sh(*cmd, env=None, check=True, capture=True, timeout=None):
    result = subprocess.run(
        [str(c) for c in cmd], env=env, check=False, capture_output=capture, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({result.returncode}): {(result.stderr or '')[-2000:]}")
    return result


def ensure_services():
    """PostgreSQL and Redis on loopback, started the way .ci/run starts them."""
    if not services.pg_ready():
        services.start_pg()
    if not services.redis_ready():
        services.start_redis()
    for _ in range(30):
        if services.pg_ready() and services.redis_ready():
            return
        time.sleep(1)
    raise SystemExit("PostgreSQL or Redis did not start")


def empty_queue():
    """Forget tasks a stopped earlier run left in the bench's own Redis db, so no backlog skews a figure."""
    sh("redis-cli", "-h", "127.0.0.1", "-p", "6379", "-n", REDIS.rsplit("/", 1)[1], "FLUSHDB")


def ensure_tools():
    """wrk from Debian; Locust and pywa in virtualenvs of their own, pinned in benchmarks/requirements-*.txt."""
    if shutil.which("wrk") is None:
        log("installing wrk (Debian package)")
        sh("apt-get", "install", "-y", "-q", "wrk", check=False)
        if shutil.which("wrk") is None:
            sh("apt-get", "update", "-q")
            sh("apt-get", "install", "-y", "-q", "wrk")
    for venv, requirements in ((TOOLS, "requirements-tools.txt"), (PEER, "requirements-pywa.txt")):
        stamp = venv / ".installed"
        wanted = (ROOT / "benchmarks" / requirements).read_text()
        if stamp.exists() and stamp.read_text() == wanted:
            continue
        log(f"creating {venv.relative_to(ROOT)} ({requirements})")
        sh(sys.executable, "-m", "venv", "--clear", venv)
        sh(venv / "bin" / "pip", "install", "--quiet", "-r", ROOT / "benchmarks" / requirements)
        stamp.write_text(wanted)


def versions():
    def first_line(*cmd):
        try:
            return sh(*cmd, check=False).stdout.strip().splitlines()[0]
        except (IndexError, OSError):
            return "?"

    def pip_version(venv, name):
        out = sh(venv / "bin" / "python", "-m", "pip", "show", name, check=False).stdout
        return next((line.split()[1] for line in out.splitlines() if line.startswith("Version:")), "?")

    return {
        "python": platform.python_version(),
        "django": pip_version(ROOT / ".venv", "django"),
        "gunicorn": pip_version(ROOT / ".venv", "gunicorn"),
        "celery": pip_version(ROOT / ".venv", "celery"),
        "postgresql": first_line("psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"),
        "redis": first_line("redis-server", "--version").split(" sha=")[0].removeprefix("Redis server "),
        "wrk": first_line("wrk", "--version").split(" [")[0].removeprefix("wrk "),
        "locust": pip_version(TOOLS, "locust"),
        "pywa": pip_version(PEER, "pywa"),
        "uvicorn": pip_version(PEER, "uvicorn"),
        "starlette": pip_version(PEER, "starlette"),
    }


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({cpu}), {memory / 2**20:.0f} GiB RAM, {platform.platform()}"


def wait_http(url, timeout=60, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited ({proc.returncode}); see {VAR / 'logs'}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


# --- Processes we start -----------------------------------------------------------


class Processes:
    """Every process the bench starts, each in its own session, stopped by its own id."""

    def __init__(self):
        self.started = {}
        (VAR / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, name, cmd, env):
        proc = start(cmd, env=env, log=VAR / "logs" / f"{name}.log", append=True)
        self.started[name] = proc
        return proc

    def stop(self, name):
        proc = self.started.pop(name, None)
        if proc is not None:
            stop(proc, timeout=20)

    def stop_all(self):
        for name in list(self.started):
            self.stop(name)


def product_env(database, **extra):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_", "SHAREPOINT_"))},
        "DATABASE_URL": PG + database,
        "REDIS_URL": REDIS,
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "DEBUG": "false",
        "DATA_DIR": str(VAR / "data"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        # The API's per-user limit (100/min) would answer the load generator 429; still counted, never reached.
        "API_RATE_LIMIT": "100000000/min",
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_WEBHOOK_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": deliveries.PHONE_NUMBER_ID,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def manage(database, *args, check=True, **extra):
    return sh(PYTHON, ROOT / "manage.py", *args, env=product_env(database, **extra), check=check)


def django_side(database, *args):
    out = sh(PYTHON, "-m", "benchmarks.django_side", *args, env=product_env(database)).stdout
    return json.loads(out.strip().splitlines()[-1])


def fresh_database(name, messages, conversations):
    """Drop, create, migrate and seed a database (benchmarks.seed_demo); returns the seconds the seeding took."""
    psql = ("psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c")
    sh(*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    sh(*psql, f"CREATE DATABASE {name}")
    manage(name, "migrate", "--noinput", "-v0")
    started = time.monotonic()
    django_side(name, "seed", "--messages", messages, "--conversations", conversations)
    seconds = time.monotonic() - started
    sh(*psql, "VACUUM ANALYZE", "-d", name)
    return seconds


def seeded_messages(name):
    out = sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", name, "-Atc", "SELECT count(*) FROM whatsapp_messages",
             check=False)  # fmt: skip
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip().isdigit() else None


def start_web(procs, database, port, name="gunicorn"):
    procs.stop(name)
    env = product_env(database)
    cmd = [
        ROOT / ".venv" / "bin" / "gunicorn", "madio_whatsapp.wsgi", "--workers", WEB_WORKERS,
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
    ]  # fmt: skip
    proc = procs.start(name, cmd, env)
    wait_http(f"http://127.0.0.1:{port}/accounts/login/", proc=proc)
    return proc


def start_worker(procs, database, concurrency=2, **extra):
    # As the Procfile runs it: one worker process with two pool processes.
    cmd = [
        ROOT / ".venv" / "bin" / "celery", "-A", "madio_whatsapp", "worker", "-Q", "default,whatsapp,sharepoint",
        "--concurrency", concurrency, "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
    ]  # fmt: skip
    proc = procs.start("celery", cmd, product_env(database, **extra))
    time.sleep(3)
    if proc.poll() is not None:
        raise SystemExit(f"the Celery worker exited; see {VAR / 'logs' / 'celery.log'}")
    return proc


def start_pywa(procs, port):
    env = {
        **os.environ,
        "BENCH_PHONE_NUMBER_ID": deliveries.PHONE_NUMBER_ID,
        "BENCH_VERIFY_TOKEN": VERIFY_TOKEN,
        "BENCH_APP_SECRET": APP_SECRET,
    }
    cmd = [
        PEER / "bin" / "pywa", "run", ROOT / "benchmarks" / "pywa_bot.py", "--app", "wa", "--host", "127.0.0.1",
        "--port", port, "--workers", os.cpu_count() or 2, "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    proc = procs.start("pywa", cmd, env)
    wait_http(f"http://127.0.0.1:{port}/", proc=proc)
    return proc


# --- Load generators --------------------------------------------------------------


def wrk(url, *, script, args, seconds, connections, threads=2):
    cmd = ["wrk", "-t", threads, "-c", connections, "-d", f"{seconds}s", "--timeout", "10s", "-s", script, url]
    out = sh(*cmd, "--", *args, timeout=seconds + 60).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


PER_USER = 10  # each Locust user's requests per second (benchmarks/fixed_rate.py says why not 1)


def locust_fixed_rate(base, path, *, pool, rate, seconds, warmup):
    out = VAR / f"locust-{time.monotonic_ns()}.json"
    users = max(1, rate // PER_USER)
    env = {**os.environ, "BENCH_POOL": str(pool), "BENCH_PATH": path, "BENCH_OUT": str(out)}
    env["BENCH_PER_USER"] = str(rate / users)
    cmd = [
        TOOLS / "bin" / "locust", "-f", ROOT / "benchmarks" / "fixed_rate.py", "--headless", "--host", base,
        "-u", users, "-r", users, "-t", f"{seconds}s", "--stop-timeout", "10", "--only-summary", "--loglevel", "ERROR",
    ]  # fmt: skip
    sh(*cmd, env=env, timeout=seconds + 90, check=False)
    record = json.loads(out.read_text())
    out.unlink()
    steady = sorted(ms for at, ms in record["samples"] if at >= warmup)
    span = max(seconds - warmup, 1)
    return {
        "sent": record["sent"],
        "statuses": record["statuses"],
        "exhausted": record["exhausted"],
        "achieved_rps": len(steady) / span,
        "p50_ms": percentile(steady, 50),
        "p99_ms": percentile(steady, 99),
    }


def percentile(values, pct):
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return values[index]


# --- Figures ----------------------------------------------------------------------


class Figure:
    """One measured quantity over several runs: median and spread."""

    def __init__(self, values, unit, better="higher"):
        self.values = [v for v in values if v == v]  # drop NaN
        self.unit = unit
        self.better = better

    @property
    def median(self):
        return statistics.median(self.values) if self.values else float("nan")

    def text(self):
        if not self.values:
            return "n/a"
        digits = 0 if self.median >= 100 else 1 if self.median >= 10 else 2
        spread = f" ({min(self.values):.{digits}f}–{max(self.values):.{digits}f}, n={len(self.values)})"
        value = f"{self.median:.{digits}f}" + (f" {self.unit}" if self.unit else "")
        return value + (spread if len(self.values) > 1 else "")


def seed_text(meta):
    return f"{meta['seed_seconds']:.0f} s" if "seed_seconds" in meta else "not timed (reused)"


def count_not_200(runs):
    saturation = sum(r["not_ok"] + r["socket_errors"] for r in runs["saturation"])
    fixed = sum(n for r in runs["fixed"] for status, n in r["statuses"].items() if status != "200")
    return saturation + fixed


def round_ratio(ingest, a, b):
    """Saturation ratio a/b per round (targets of a round ran minutes apart), median and spread."""
    pairs = zip(ingest[a]["saturation"], ingest[b]["saturation"], strict=False)
    return Figure([x["rps"] / y["rps"] for x, y in pairs if y["rps"]], "").text().replace(" (", " (per round ")


def ratio(a, b):
    if not a.values or not b.values or not b.median:
        return "n/a"
    return f"{a.median / b.median:.2f}"


# --- Measure 1: webhook ingest ----------------------------------------------------


def measure_ingest(procs, database, settings):
    web_port, pywa_port = free_port(), free_port()
    start_web(procs, database, web_port)
    start_worker(procs, database)
    start_pywa(procs, pywa_port)
    base_web, base_pywa = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{pywa_port}"
    targets = {
        "trivial JSON view (same gunicorn)": ("tv", base_web, "/bench/trivial"),
        "/api/whatsapp/webhook": ("wh", base_web, "/api/whatsapp/webhook"),
        f"pywa (uvicorn, {os.cpu_count() or 2} workers)": ("pw", base_pywa, "/"),
    }
    probe = urllib.request.Request(base_web + "/api/whatsapp/webhook", data=b"{}", method="POST")  # noqa: S310
    try:
        urllib.request.urlopen(probe, timeout=5)  # noqa: S310 - loopback only
        webhook_present = True
    except urllib.error.HTTPError as error:
        webhook_present = error.code != 404
    if not webhook_present:
        del targets["/api/whatsapp/webhook"]
        log("the webhook is not on this branch yet: measuring the other targets only")

    refused = {name: bad_signature_status(base + path) for name, (label, base, path) in targets.items()}
    # Warm every worker process (imports on first use, connections) before anything is recorded;
    # the deliveries sent here are left out of every count below.
    for name, (label, base, path) in targets.items():
        pool = VAR / "pools" / "warmup.pool"
        pool.parent.mkdir(parents=True, exist_ok=True)
        deliveries.write_pool(pool, run=RUN, label=f"warm{label}", count=20_000, secret=APP_SECRET)
        log(f"warming up: {name}")
        wrk(base + path, script=ROOT / "benchmarks" / "deliver.lua", args=[pool, 2], seconds=settings.warmup_seconds,
            connections=settings.connections)  # fmt: skip
    if webhook_present:
        wait_drained(database, "2000-01-01T00:00:00+00:00", timeout=settings.drain_timeout)
    since = datetime.datetime.now(datetime.UTC).isoformat()
    phones = "+" + deliveries.customer(RUN, 0)[: 4 + 2]
    before = django_side(database, "ingest-snapshot", "--prefix", deliveries.wamid_prefix(RUN, "wh"), "--since", since,
                         "--phones", phones)  # fmt: skip
    results = {name: {"saturation": [], "fixed": []} for name in targets}
    sent = {"sent": 0, "ok": 0}
    pool_dir = VAR / "pools"
    pool_dir.mkdir(parents=True, exist_ok=True)
    paused = "/api/whatsapp/webhook, worker paused"
    if webhook_present:
        # The same webhook with the Celery worker stopped (SIGSTOP): what the web path alone
        # reaches when it has the machine to itself; the queue is drained afterwards.
        results = {**dict(list(results.items())[:2]), paused: {"saturation": [], "fixed": []}, **results}
    for run in range(settings.runs):
        rounds = list(targets.items())
        if webhook_present:
            rounds.insert(2, (paused, ("wp", base_web, "/api/whatsapp/webhook")))
        for name, (label, base, path) in rounds:
            webhook = label in ("wh", "wp")
            pool = pool_dir / f"{label}.pool"
            deliveries.write_pool(
                pool, run=RUN, label=f"{'whp' if label == 'wp' else label}s{run}",
                count=settings.pool_per_second * settings.saturation_seconds, secret=APP_SECRET,
            )  # fmt: skip
            if webhook_present:  # every target starts with the worker idle
                wait_drained(database, since, timeout=settings.drain_timeout)
            log(f"saturation {run + 1}/{settings.runs}: {name}")
            if label == "wp":
                os.killpg(procs.started["celery"].pid, signal.SIGSTOP)
            try:
                result = wrk(
                    base + path, script=ROOT / "benchmarks" / "deliver.lua", args=[pool, 2],
                    seconds=settings.saturation_seconds, connections=settings.connections,
                )  # fmt: skip
            finally:
                if label == "wp":
                    os.killpg(procs.started["celery"].pid, signal.SIGCONT)
            results[name]["saturation"].append(result)
            if webhook:
                sent["sent"] += result["sent"]
                sent["ok"] += result["ok"]
            if label == "wp":
                continue
            deliveries.write_pool(
                pool, run=RUN, label=f"{label}f{run}", count=settings.rate * (settings.fixed_seconds + 15),
                secret=APP_SECRET,
            )  # fmt: skip
            if webhook_present:
                wait_drained(database, since, timeout=settings.drain_timeout)
            log(f"fixed {settings.rate}/s {run + 1}/{settings.runs}: {name}")
            fixed = locust_fixed_rate(
                base, path, pool=pool, rate=settings.rate, seconds=settings.fixed_seconds, warmup=settings.warmup
            )
            results[name]["fixed"].append(fixed)
            if webhook:
                sent["sent"] += fixed["sent"]
                sent["ok"] += fixed["statuses"].get("200", 0)
    check = None
    if webhook_present:
        drained_in = wait_drained(database, since, timeout=settings.drain_timeout)
        after = django_side(database, "ingest-snapshot", "--prefix", deliveries.wamid_prefix(RUN, "wh"),
                            "--since", since, "--phones", phones)  # fmt: skip
        stored = after["messages"]
        check = {
            **after,
            "sent": sent["sent"],
            "answered_200": sent["ok"],
            "unread_added": after["unread_total"] - before["unread_total"],
            "drained_after_s": drained_in,
            "exactly_once": (
                sent["ok"] <= stored <= sent["sent"]
                and stored == after["distinct_wamids"] == after["events"]
                and after["events_unprocessed"] == 0
                and after["events_failed"] == 0
                and after["unread_total"] - before["unread_total"] == stored
            ),
        }
    procs.stop("pywa")
    for name in results:
        results[name]["bad_signature_status"] = refused.get(name, refused.get("/api/whatsapp/webhook"))
    return results, check


def bad_signature_status(url):
    """The answer to a delivery with a wrong signature: proof that the target really checks it."""
    body = deliveries.delivery(wamid="wamid.bench.badsig=", wa_id=deliveries.customer(RUN, 0), text="forged")
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=body, method="POST", headers={"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=0"}
    )
    try:
        return urllib.request.urlopen(request, timeout=5).status  # noqa: S310
    except urllib.error.HTTPError as error:
        return error.code


def wait_drained(database, since, timeout):
    """Seconds until the worker has processed every delivery received since `since`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        snapshot = django_side(database, "ingest-snapshot", "--prefix", "-", "--since", since, "--phones", "-")
        if snapshot["events_unprocessed"] == 0:
            return time.monotonic() - started
        time.sleep(1)
    return float("nan")


# --- Measure 2: the inbox at scale ------------------------------------------------


def measure_inbox(procs, databases, settings):
    """Each endpoint against both databases, small and large interleaved run by run, so that
    the machine's other load falls on both alike."""
    sides = []
    for database in databases:
        info = django_side(database, "inbox")
        port = free_port()
        start_web(procs, database, port, name=f"gunicorn-{database}")
        sides.append((info, port, {}, database))

    def fresh(endpoint, database, name):
        # A page's poll pass lasts a minute and the page gets a new one with every full answer; wrk
        # replays one URL, so a URL with a pass is asked for afresh before each run.
        return django_side(database, "inbox")["endpoints"][name] if "pass=" in endpoint["url"] else endpoint

    for name in sides[0][0]["endpoints"]:
        endpoints = [info["endpoints"][name] for info, _, _, _ in sides]
        if any(endpoint["url"] is None for endpoint in endpoints):
            for _, _, figures, _ in sides:
                figures[name] = None
            continue
        for (_info, port, figures, database), endpoint in zip(sides, endpoints, strict=True):
            endpoint = fresh(endpoint, database, name)
            # Warm-up, not recorded: imports, connections and the first read's mark-as-read.
            wrk(f"http://127.0.0.1:{port}{endpoint['url']}", script=ROOT / "benchmarks" / "get.lua",
                args=endpoint["headers"], seconds=1, connections=4)  # fmt: skip
            figures[name] = []
        for run in range(settings.runs):
            for (info, port, figures, database), endpoint in zip(sides, endpoints, strict=True):
                endpoint = fresh(endpoint, database, name)
                log(f"inbox at {info['messages']:,} messages {run + 1}/{settings.runs}: {name}")
                figures[name].append(
                    wrk(
                        f"http://127.0.0.1:{port}{endpoint['url']}", script=ROOT / "benchmarks" / "get.lua",
                        args=endpoint["headers"], seconds=settings.inbox_seconds, connections=4,
                    )
                )  # fmt: skip
    for info, _, _, database in sides:
        log(f"inbox at {info['messages']:,} messages: CPU per request in-process")
        info["cpu"] = django_side(database, "cpu", "--runs", settings.cpu_runs)
    return [(info, figures) for info, _, figures, _ in sides]


# What issue 19 asks of each page, as multiples of the logged-in trivial view's CPU (and HTML per bubble).
CPU_TARGETS = {
    "sidebar first page": (3, None),
    "open conversation (newest 50)": (6, 600),
    "poll, one new message": (3, None),
    "entity view": (6, 600),
}


def cpu_lines(small, large):
    """The in-process CPU table: what a web worker spends per request, against the logged-in floor."""
    if "cpu" not in small[0] or "cpu" not in large[0]:
        return []
    sizes = [(info["messages"], info["cpu"]) for info, _ in (small, large)]
    floor = "trivial view, logged in (session, user, permission)"
    lines = [
        "### CPU per request in-process",
        "",
        "Django's test client in one process (every middleware, the session in Redis, PostgreSQL on loopback, no HTTP "
        "server): the CPU time a web worker spends per request, median of the runs; the database's own CPU is not in "
        "it. Multiples are of the logged-in trivial view measured in the same process.",
        "",
        f"| endpoint | CPU at {sizes[0][0]:,} | CPU at {sizes[1][0]:,} | x floor at {sizes[0][0]:,} "
        f"| x floor at {sizes[1][0]:,} | HTML per bubble | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sizes[0][1]:
        cells = []
        for _, figures in sizes:
            row, base = figures.get(name), figures.get(floor)
            cells.append((row, row["cpu_ms"] / base["cpu_ms"] if row and base and base["cpu_ms"] else None))
        (a, ra), (b, rb) = cells
        if not a or not b:
            continue
        if a["status"] >= 400 or b["status"] >= 400:  # a refused request measures nothing
            lines.append(f"| {name} | answered {a['status']} / {b['status']} | | | | | |")
            continue
        per_bubble = f"{a['bytes_per_bubble']:.0f} B ({a['bubbles']} bubbles)" if a["bytes_per_bubble"] else ""
        times, bytes_cap = CPU_TARGETS.get(name, (None, None))
        target = (f"<= {times}x" if times else "floor") + (f", <= {bytes_cap} B per bubble" if bytes_cap else "")
        spent = f"{a['cpu_ms']:.1f} ms | {b['cpu_ms']:.1f} ms | {ra:.1f}x | {rb:.1f}x"
        lines.append(f"| {name} | {spent} | {per_bubble} | {target} |")
    return [*lines, ""]


# --- Measure 3: sending ------------------------------------------------------------


def simulator_present(database):
    return manage(database, "help", "whatsapp_simulator", check=False).returncode == 0


def simulator_call(base, path, method="GET"):
    """One call to the simulator's control API (/_sim/...); returns its JSON answer."""
    data = b"" if method == "POST" else None
    request = urllib.request.Request(f"{base}/_sim/{path}", method=method, data=data)  # noqa: S310 - loopback only
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        return json.loads(response.read() or b"{}")


def measure_send(procs, database, settings):
    """Queue N texts with the worker stopped, then let one worker drain them into the simulator.

    Each run's rate and busiest second come twice: from sent_at (written after Meta's answer)
    and from the simulator's own arrival times, the receiver's side that Meta's cap counts.
    """
    if not simulator_present(database):
        log("the send task and simulator are not on this branch yet: skipping sends")
        return None
    port = free_port()
    api = {"WHATSAPP_API_BASE_URL": f"http://127.0.0.1:{port}", "WHATSAPP_ACCESS_TOKEN": "bench-token"}
    cmd = [PYTHON, ROOT / "manage.py", "whatsapp_simulator", "--port", port, "--statuses", "none"]
    procs.start("simulator", cmd, product_env(database, **api))
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/", proc=procs.started["simulator"])
    results = {}
    for label, rate, count, concurrency in settings.send_runs:
        procs.stop("celery")
        batch = django_side(database, "queue-sends", "--count", count, "--tag", len(results))
        simulator_call(base, "reset", "POST")  # this run's arrivals only
        log(f"sending {count:,} texts, {label}")
        start_worker(procs, database, concurrency=concurrency, WHATSAPP_SEND_RATE=rate, **api)
        started = time.monotonic()
        while True:
            progress = django_side(database, "send-progress", "--first-id", batch["first_id"], "--last-id",
                                   batch["last_id"])  # fmt: skip
            waiting = sum(progress["statuses"].get(s, 0) for s in ("queued", "sending"))
            if not waiting or time.monotonic() - started > settings.send_timeout:
                break
            time.sleep(2)
        arrivals = simulator_call(base, "arrivals")
        arrivals.pop("per_second", None)  # the busiest second and span are what the report needs
        results[label] = {
            **progress,
            "count": count,
            "concurrency": concurrency,
            "rate_setting": rate,
            "arrivals": arrivals,
        }
    # The last worker keeps running: its memory is measured at the end.
    return results


# --- Measure 4: memory --------------------------------------------------------------


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid):
    try:
        return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def measure_memory(procs):
    memory = {}
    for name, proc in procs.started.items():
        if not name.startswith(("gunicorn", "celery")) or proc.poll() is not None:
            continue
        # Our Popen is the master (gunicorn) or the main process (celery); the work happens in its children.
        kids = [rss_kib(pid) for pid in children(proc.pid)]
        memory[name] = {"main": rss_kib(proc.pid), "children": [k for k in kids if k]}
    return memory


# --- Report -------------------------------------------------------------------------


def report(meta, ingest, check, inbox, sends, memory, notes):
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `{meta['command']}` on {meta['date']} ({meta['mode']} mode). "
        "Figures are medians of the runs, with (min–max, n=runs). Regenerate with `make bench`.",
        "",
        f"- Machine: {meta['machine']}",
        f"- Code: {meta['code']}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        f"- Web: gunicorn, {WEB_WORKERS} sync workers (README: 2 x cores + 1), DEBUG off, PostgreSQL + Redis "
        "on loopback; Celery: one worker, 2 pool processes (as in the Procfile).",
        "",
    ]
    if ingest:
        lines += [
            "## 1. Webhook ingest",
            "",
            f"Saturation: wrk, 2 threads, {meta['settings'].connections} connections, "
            f"{meta['settings'].saturation_seconds} s per run, every request a different pre-signed delivery. "
            f"Fixed rate: Locust, {max(1, meta['settings'].rate // PER_USER)} users x "
            f"{meta['settings'].rate / max(1, meta['settings'].rate // PER_USER):g} requests/s, each user's phase "
            f"random, for {meta['settings'].fixed_seconds} s, "
            f"latencies of the last {meta['settings'].fixed_seconds - meta['settings'].warmup} s.",
            "",
            "| target | saturation | p50 at saturation | p50 at fixed rate | p99 at fixed rate | achieved rate "
            "| non-200 | forged signature |",
            "|---|---|---|---|---|---|---|---|",
        ]
        sat = {}
        for name, runs in ingest.items():
            sat[name] = Figure([r["rps"] for r in runs["saturation"]], "req/s")
            lines.append(
                f"| {name} | {sat[name].text()} "
                f"| {Figure([r['p50_ms'] for r in runs['saturation']], 'ms').text()} "
                f"| {Figure([r['p50_ms'] for r in runs['fixed']], 'ms').text()} "
                f"| {Figure([r['p99_ms'] for r in runs['fixed']], 'ms').text()} "
                f"| {Figure([r['achieved_rps'] for r in runs['fixed']], '/s').text()} "
                f"| {count_not_200(runs)} | {runs['bad_signature_status']} |"
            )
        trivial = next(name for name in ingest if name.startswith("trivial"))
        peer = next(name for name in ingest if name.startswith("pywa"))
        for name in ("/api/whatsapp/webhook", "/api/whatsapp/webhook, worker paused"):
            if name not in ingest:
                continue
            lines += [
                "",
                f"- {name} / trivial view (target >= 0.60): **{round_ratio(ingest, name, trivial)}**",
                f"- {name} / pywa (we mean to beat it, > 1.00): **{round_ratio(ingest, name, peer)}**",
            ]
        if "/api/whatsapp/webhook" in ingest:
            non_200 = sum(r["not_ok"] for r in ingest["/api/whatsapp/webhook"]["saturation"])
            lines.append(f"- Webhook answers other than 200 under saturation: {non_200}")
        if check:
            lines += [
                "",
                "Exactly once: every delivery answered 200 was stored and processed once "
                f"(**{'yes' if check['exactly_once'] else 'NO'}**): sent {check['sent']}, answered 200 "
                f"{check['answered_200']}, webhook events {check['events']}, messages {check['messages']} "
                f"({check['distinct_wamids']} distinct wamids), unprocessed {check['events_unprocessed']}, "
                f"failed {check['events_failed']}, unread counters moved by {check['unread_added']}; the worker "
                f"finished {check['drained_after_s']:.1f} s after the last run.",
            ]
        lines.append("")
    if inbox:
        small, large = inbox
        lines += [
            "## 2. The inbox at scale",
            "",
            f"wrk, 2 threads, 4 connections, {meta['settings'].inbox_seconds} s per run, logged-in agent "
            "(session cookie, HX-Request) or JWT for the API. Latency p50 per request; ratio = large / small.",
            "",
            f"Seeding {large[0]['messages']:,} messages over {large[0]['conversations']:,} conversations "
            f"with `seed_demo`: **{seed_text(meta)}**"
            f"{' (target < 180 s)' if large[0]['messages'] >= 1_000_000 else ''}; "
            "`seed_demo` spreads them over a year, so a 30-day window holds about 1/12 of them.",
            "",
            f"| endpoint | p50 at {small[0]['messages']:,} | p50 at {large[0]['messages']:,} | ratio "
            f"| req/s at {small[0]['messages']:,} | req/s at {large[0]['messages']:,} |",
            "|---|---|---|---|---|---|",
        ]
        for name in small[1]:
            a, b = small[1][name], large[1].get(name)
            if a is None or b is None:
                lines.append(f"| {name} | not on this branch yet | | | | |")
                continue
            pa, pb = Figure([r["p50_ms"] for r in a], "ms"), Figure([r["p50_ms"] for r in b], "ms")
            ra, rb = Figure([r["rps"] for r in a], "req/s"), Figure([r["rps"] for r in b], "req/s")
            bad = sum(r["not_ok"] + r["socket_errors"] for r in a + b)
            flag = f" ({bad} non-2xx/errors)" if bad else ""
            lines.append(f"| {name}{flag} | {pa.text()} | {pb.text()} | {ratio(pb, pa)} | {ra.text()} | {rb.text()} |")
        lines.append("")
        trivial, idle = "trivial JSON view (baseline)", "poll, nothing new"
        for info, figures in (small, large):
            if figures.get(trivial) and figures.get(idle):
                lines.append(
                    f"- Poll with nothing new / trivial view at {info['messages']:,} messages (target <= 1.5): "
                    f"**{ratio(*(Figure([r['p50_ms'] for r in figures[k]], 'ms') for k in (idle, trivial)))}** "
                    "(p50 latency)"
                )
        logged_in = next((name for name in small[1] if name.startswith("trivial view, logged in")), None)
        for info, figures in (small, large):
            if logged_in and figures.get(logged_in) and figures.get(idle):
                lines.append(
                    f"- Poll with nothing new / logged-in trivial view at {info['messages']:,} messages (what the "
                    f"poll adds to authentication): "
                    f"**{ratio(*(Figure([r['p50_ms'] for r in figures[k]], 'ms') for k in (idle, logged_in)))}**"
                )
        for name in ("search: a word in many messages", "search: a word in no message"):
            if large[1].get(name):
                figure = Figure([r["p50_ms"] for r in large[1][name]], "ms")
                at = f"{large[0]['messages']:,} messages"
                lines.append(f"- {name} at {at} (target p50 < 100 ms): **{figure.text()}**")
        lines.append("")
        lines += cpu_lines(small, large)
    if sends:
        lines += [
            "## 3. Sending",
            "",
            "Texts queued with the worker stopped, then drained by one Celery worker into the Cloud API simulator "
            "(`whatsapp_simulator --statuses none`). Rate = accepted sends per second between the first and last "
            "acceptance (sent_at); the busiest second counts sends whose sent_at falls in one calendar second. "
            "At the simulator: send requests as they arrived there (GET /_sim/arrivals), the receiver's side that "
            "Meta's cap counts: the rate between the first and last arrival, the most arrivals in one calendar "
            "second, and the most in any one-second span.",
            "",
            "| run | messages | sent | failed | rate (sent_at) | busiest full second (sent_at) "
            "| rate at the simulator | busiest second at the simulator | busiest 1 s span at the simulator |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, r in sends.items():
            rate = f"{r['rate']:.1f}/s" if r.get("rate") else "n/a"
            arrivals = r.get("arrivals") or {}
            arrived = f"{arrivals['rate']:.1f}/s" if arrivals.get("rate") else "n/a"
            busiest = (arrivals.get("busiest_second") or {}).get("count", "n/a")
            span = (arrivals.get("busiest_window") or {}).get("count", "n/a")
            lines.append(
                f"| {label} | {r['count']:,} | {r['sent']:,} | {r['statuses'].get('failed', 0)} | {rate} "
                f"| {r.get('max_in_one_full_second')} | {arrived} | {busiest} | {span} |"
            )
        lines.append("")
    elif sends is None and meta.get("send_skipped"):
        lines += ["## 3. Sending", "", meta["send_skipped"], ""]
    if memory:
        lines += ["## 4. Memory (resident set size at the end)", ""]
        for name, m in memory.items():
            kids = ", ".join(f"{k / 1024:.0f}" for k in m["children"])
            lines.append(f"- {name}: main process {m['main'] / 1024:.0f} MiB; worker processes {kids} MiB")
        lines.append("")
    if notes:
        lines += ["## Notes", "", *notes, ""]
    findings = ROOT / "benchmarks" / "FINDINGS.md"
    if findings.exists():  # what was learnt from these figures, kept by hand across runs
        lines += [findings.read_text().strip(), ""]
    return "\n".join(lines)


def load_note(notes, label):
    """Other work on the machine skews every figure: record the load average as each measure starts."""
    one, five, fifteen = open("/proc/loadavg").read().split()[:3]
    notes.append(
        f"- Load average (1/5/15 min) as {label} started: {one} / {five} / {fifteen} on {os.cpu_count()} cores."
    )


# --- Main ---------------------------------------------------------------------------


class Settings:
    def __init__(self, quick):
        self.quick = quick
        self.runs = 1 if quick else 3
        self.saturation_seconds = 3 if quick else 10
        self.fixed_seconds = 6 if quick else 20
        self.warmup = 2 if quick else 5
        self.rate = 200
        self.connections = 16
        self.pool_per_second = 5000
        self.warmup_seconds = 2 if quick else 4
        self.inbox_seconds = 2 if quick else 5
        self.cpu_runs = 10 if quick else 50  # in-process requests per endpoint for the CPU table
        self.drain_timeout = 120 if quick else 600
        # At least as many conversations as the sidebar's first page (chat.selectors.conversations.SIDEBAR_LIMIT, 50),
        # so the small and the large database render the same number of sidebar rows.
        self.small = (1000, 100)
        # (label, WHATSAPP_SEND_RATE, messages, worker pool processes); 0 lifts the cap.
        count = 800 if quick else 10_000
        self.send_runs = [
            ("cap 80/s, Procfile worker (2 processes)", "80", count, 2),
            ("no cap, one worker process", "0", count, 1),
            ("no cap, Procfile worker (2 processes)", "0", count, 2),
        ]
        self.send_timeout = 60 if quick else 600
        self.large = (20_000, 200) if quick else (1_000_000, 10_000)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run under two minutes")
    parser.add_argument("--only", choices=["ingest", "inbox", "send"], action="append", help="run only these measures")
    parser.add_argument(
        "--reuse-large", action="store_true", help="keep madio_bench_big if it is already seeded (seeding not timed)"
    )
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    args = parser.parse_args(argv)
    settings = Settings(args.quick)
    only = set(args.only or ["ingest", "inbox", "send"])
    ensure_services()
    ensure_tools()
    meta = {
        "command": "make bench-quick" if args.quick else "make bench",
        "mode": "quick" if args.quick else "full",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "code": sh("git", "-C", ROOT, "log", "-1", "--format=%h %s", check=False).stdout.strip(),
        "versions": versions(),
        "settings": settings,
    }
    empty_queue()
    procs = Processes()
    notes = []
    ingest = check = inbox = sends = memory = None
    try:
        log(f"seeding the small database ({settings.small[0]:,} messages)")
        fresh_database("madio_bench", *settings.small)
        if "ingest" in only:
            load_note(notes, "ingest")
            ingest, check = measure_ingest(procs, "madio_bench", settings)
        if "inbox" in only:
            if args.reuse_large and seeded_messages("madio_bench_big") == settings.large[0]:
                log("reusing madio_bench_big (migrated to this code's schema)")
                manage("madio_bench_big", "migrate", "--noinput", "-v0")
                sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", "VACUUM ANALYZE", "-d", "madio_bench_big")
                notes.append("- The large database was reused from an earlier run: seeding was not timed in this one.")
            else:
                log(f"seeding the large database ({settings.large[0]:,} messages)")
                load_note(notes, f"seeding {settings.large[0]:,} messages")
                meta["seed_seconds"] = fresh_database("madio_bench_big", *settings.large)
            if "ingest" in only:  # the ingest runs added conversations: start again from exactly the small seed
                fresh_database("madio_bench", *settings.small)
            load_note(notes, "the inbox measures")
            inbox = measure_inbox(procs, ["madio_bench", "madio_bench_big"], settings)
        if "send" in only:
            load_note(notes, "sending")
            sends = measure_send(procs, "madio_bench", settings)
        memory = measure_memory(procs)
    finally:
        procs.stop_all()
    text = report(meta, ingest, check, inbox, sends, memory, notes)
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
