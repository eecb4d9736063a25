"""Locust file: signed deliveries at a fixed rate (users x BENCH_PER_USER per second), latencies recorded exactly.

Run by benchmarks/run.py as `locust -f benchmarks/fixed_rate.py --headless -u 20 -r 20 -t 20s` with
BENCH_PER_USER=10 for 200 deliveries/s, and BENCH_POOL (the pool file of benchmarks/deliveries.py),
BENCH_PATH and BENCH_OUT set. Twenty users, not two hundred at one request a second each: on two
cores, two hundred of Locust's users alone put 60-80 ms on the median of a view that answers in 1 ms.
Latencies are kept unrounded (Locust's own table rounds them) and written to BENCH_OUT.
Users start at random moments of the first second, so the load is spread evenly over each second.
"""

import json
import os
import random
import time

from locust import FastHttpUser, constant_throughput, events, task


def _pool():
    with open(os.environ["BENCH_POOL"], "rb") as lines:
        for line in lines:
            signature, body = line.rstrip(b"\n").split(b"\t", 1)
            yield signature.decode(), body


POOL = _pool()
PER_USER = float(os.environ.get("BENCH_PER_USER", "1"))  # requests per second of each user
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
    wait_time = constant_throughput(PER_USER)

    def on_start(self):
        # Each user starts at a random moment of its first period and constant_throughput keeps
        # that phase, so the requests arrive spread evenly, as Meta's would, not in bursts.
        time.sleep(random.random() / PER_USER)

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
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature,
            },
        )
