"""Locust file: signed deliveries at a fixed rate (users x 1 per second), latencies recorded exactly.

Run by benchmarks/run.py as `locust -f benchmarks/fixed_rate.py --headless -u 200 -r 200 -t 20s`,
with BENCH_POOL (the pool file of benchmarks/deliveries.py), BENCH_PATH and BENCH_OUT set.
Latencies are kept unrounded (Locust's own table rounds them) and written to BENCH_OUT.
"""

import json
import os
import time

from locust import FastHttpUser, constant_throughput, events, task


def _pool():
    with open(os.environ["BENCH_POOL"], "rb") as lines:
        for line in lines:
            signature, body = line.rstrip(b"\n").split(b"\t", 1)
            yield signature.decode(), body


POOL = _pool()
RECORD = {"started": time.monotonic(), "samples": [], "statuses": {}, "sent": 0, "exhausted": 0}


@events.request.add_listener
def on_request(response_time, response, exception, **kwargs):
    status = getattr(response, "status_code", 0) if exception is None else 0
    RECORD["statuses"][str(status)] = RECORD["statuses"].get(str(status), 0) + 1
    RECORD["samples"].append((time.monotonic() - RECORD["started"], response_time))


@events.quitting.add_listener
def on_quit(environment, **kwargs):
    with open(os.environ["BENCH_OUT"], "w") as out:
        json.dump(RECORD, out)


class Meta(FastHttpUser):
    wait_time = constant_throughput(1)

    @task
    def deliver(self):
        try:
            signature, body = next(POOL)
        except StopIteration:
            RECORD["exhausted"] += 1
            return
        RECORD["sent"] += 1
        self.client.post(
            os.environ["BENCH_PATH"],
            data=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        )
