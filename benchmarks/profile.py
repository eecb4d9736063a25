"""Where the time of an idle poll or of one send goes, in-process, as benchmarks/FINDINGS.md reports it.

    DATABASE_URL=... REDIS_URL=... SECRET_KEY=... .venv/bin/python -m benchmarks.profile poll
    ... .venv/bin/python -m benchmarks.profile send --count 300

`poll` times the trivial view, the logged-in trivial view and an idle poll through Django's test
client (every middleware, no HTTP server), then profiles the idle poll with pyinstrument. `send`
queues texts and delivers them one by one into a Cloud API simulator it starts itself, cap
lifted, printing the wall and CPU time per send and the profile. Both seed 1,000 messages
into an empty database first. Nothing here is asserted: it explains figures, it is not one.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")

from tests.processes import free_port, start, stop, wait_for_port  # noqa: E402

PHONE_NUMBER_ID = "106540352242922"


def profiled(work, interval=0.0002):
    from pyinstrument import Profiler

    profiler = Profiler(interval=interval)
    profiler.start()
    work()
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False))


def poll(options):
    from django.test import Client

    from benchmarks import django_side

    endpoints = django_side.inbox(None)["endpoints"]
    client = Client(HTTP_HOST="127.0.0.1")

    def get(name, times):
        endpoint = endpoints[name]
        headers = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in (h.split(": ", 1) for h in endpoint["headers"])}
        for _ in range(times):
            status = client.get(endpoint["url"], **headers).status_code
        return status

    names = ["trivial JSON view (baseline)", "trivial view, logged in (session, user, permission)", "poll, nothing new"]
    for name in names:
        get(name, 20)  # warm: imports, connections, the change mark
        started = time.perf_counter()
        status = get(name, options.count)
        print(f"{name}: {status}, {(time.perf_counter() - started) / options.count * 1000:.2f} ms per request")
    profiled(lambda: get("poll, nothing new", options.count))


def send(options):
    from benchmarks import django_side
    from integrations.outbound import message_deliver

    batch = django_side.queue_sends(
        argparse.Namespace(count=options.count, tag=int(time.time()) % 100, conversations=50)
    )
    ids = range(batch["first_id"], batch["last_id"] + 1)
    wall, cpu = time.perf_counter(), time.process_time()
    results = [message_deliver(message_id=pk) for pk in ids[: len(ids) // 2]]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{results.count('sent')} of {len(results)} sent: {wall / len(results) * 1000:.2f} ms wall, "
          f"{cpu / len(results) * 1000:.2f} ms CPU per send")  # fmt: skip
    profiled(lambda: [message_deliver(message_id=pk) for pk in ids[len(ids) // 2 :]])


def start_simulator():
    """The Cloud API simulator on a free port, with the settings that point the client at it (before setup)."""
    port = free_port()
    os.environ.update(
        WHATSAPP_API_BASE_URL=f"http://127.0.0.1:{port}",
        WHATSAPP_ACCESS_TOKEN="profile-token",
        WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        WHATSAPP_SEND_RATE="0",
    )
    command = [sys.executable, ROOT / "manage.py", "whatsapp_simulator", "--port", str(port), "--statuses", "none"]
    simulator = start(command)
    try:
        wait_for_port(port, process=simulator, timeout=30)
    except (AssertionError, RuntimeError) as exc:
        stop(simulator)
        raise SystemExit(f"the simulator did not start: {exc}") from None
    return simulator


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["poll", "send"])
    parser.add_argument("--count", type=int, default=1000, help="requests or sends to time and profile")
    options = parser.parse_args()
    simulator = start_simulator() if options.action == "send" else None
    try:
        import django

        django.setup()
        from benchmarks.seed_demo import seed_demo
        from chat.models import Message

        if not Message.objects.exists():
            seed_demo(messages=1000, conversations=100)
        {"poll": poll, "send": send}[options.action](options)
    finally:
        if simulator is not None:
            stop(simulator, keep_log=False)


if __name__ == "__main__":
    main()
