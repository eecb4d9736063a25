"""The throughput cap: one schedule of evenly spaced send slots per business number, shared through the cache.

Every test drives the schedule with an injected clock; nothing here depends on timing.
"""

import heapq
import random
import uuid

import pytest
from django.conf import settings as django_settings

from integrations.throughput import late_slots, pace_for, throughput_slot, throughput_wait

LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throughput"}}


@pytest.fixture(params=["configured cache", "cache API fallback"])
def number_id(request, settings):
    """A fresh schedule, in the configured cache (Redis when REDIS_URL is set) and through the plain cache API."""
    if request.param == "cache API fallback":
        settings.CACHES = LOCAL_CACHE
    elif not django_settings.REDIS_URL:
        pytest.skip("Only the fallback without Redis")
    return f"test-{uuid.uuid4().hex}"


class FakeClock:
    def __init__(self, now):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def busiest_second(times):
    """The most send times in any one-second span [t, t + 1)."""
    times, first, best = sorted(times), 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1:
            first += 1
        best = max(best, last - first + 1)
    return best


def drain(number_id, *, workers, seconds_per_send, count, start=5000.0, rate=80, seed=3):
    """Play `workers` worker processes draining `count` queued sends against the cap; returns the send times.

    Each worker takes a slot when it is free, sleeps to it, and is busy for its send afterwards
    (seconds_per_send, with +-30% of seeded jitter): an event simulation, on a made-up clock.
    """
    rng = random.Random(seed)
    free_at = [(start, n) for n in range(workers)]
    sent = []
    while len(sent) < count:
        now, worker = heapq.heappop(free_at)
        wait = throughput_slot(number_id=number_id, rate=rate, now=now, max_wait=5)
        assert wait is not None
        assert wait < 5
        sent.append(now + wait)
        busy = seconds_per_send * rng.uniform(0.7, 1.3)
        heapq.heappush(free_at, (now + wait + busy, worker))
    return sent


def test_it_spaces_sends_evenly_a_little_under_metas_rate(number_id):
    assert pace_for(80) == 77
    assert late_slots(80) == 2
    waits = [throughput_slot(number_id=number_id, rate=80, now=1000.0) for _ in range(4)]
    assert waits == [0.0, pytest.approx(1 / 77), pytest.approx(2 / 77), pytest.approx(3 / 77)]


@pytest.mark.parametrize(
    ("workers", "seconds_per_send"),
    [(1, 0.0), (2, 0.020), (2, 0.025), (8, 0.090)],
    ids=["instant", "2 workers at 50/s each", "2 workers at 40/s each", "8 slow workers"],
)
def test_it_drains_a_queue_at_76_to_80_per_second_never_above_80_in_any_second(number_id, workers, seconds_per_send):
    sent = drain(number_id, workers=workers, seconds_per_send=seconds_per_send, count=800)
    rate = (len(sent) - 1) / (max(sent) - min(sent))
    assert 76 <= rate <= 80
    assert busiest_second(sent) <= 80


def test_it_sends_as_fast_as_workers_can_when_they_are_slower_than_the_cap(number_id):
    sent = drain(number_id, workers=2, seconds_per_send=0.040, count=300)  # about 50/s in all
    rate = (len(sent) - 1) / (max(sent) - min(sent))
    assert 45 <= rate <= 55
    assert busiest_second(sent) <= 80


def test_it_does_not_burst_to_catch_up_after_an_idle_spell(number_id):
    clock = FakeClock(2000.0)
    sent = []
    for pause in [0] * 10 + [30] + [0] * 9:  # ten sends, half a minute with nothing to send, ten more
        clock.now += pause
        assert throughput_wait(number_id=number_id, rate=80, max_wait=5, sleep=clock.sleep, clock=clock)
        sent.append(clock.now)
    gaps = [later - earlier for earlier, later in zip(sent, sent[1:], strict=False)]
    assert all(gap >= 1 / 77 - 1e-9 for gap in gaps)


def test_it_lets_a_worker_a_little_late_use_its_slot_and_skips_slots_left_far_behind(number_id):
    assert throughput_slot(number_id=number_id, rate=80, now=3000.0) == 0.0  # slot 0
    late = 3000.0 + 2.5 / 77  # slots 1 and 2 are 1.5 and 0.5 slots late: still theirs
    assert [throughput_slot(number_id=number_id, rate=80, now=late) for _ in range(3)] == [
        0.0,
        0.0,
        pytest.approx(0.5 / 77),
    ]
    much_later = 3000.0 + 10.5 / 77  # slots 4 to 9 went by unused: skipped, not sent in a burst
    assert [throughput_slot(number_id=number_id, rate=80, now=much_later) for _ in range(2)] == [
        pytest.approx(0.5 / 77),
        pytest.approx(1.5 / 77),
    ]


def test_it_gives_up_past_the_longest_wait_without_taking_a_slot(number_id):
    clock = FakeClock(4000.0)
    booked = [throughput_slot(number_id=number_id, rate=80, now=clock.now) for _ in range(5)]
    assert booked[-1] == pytest.approx(4 / 77)
    assert not throughput_wait(number_id=number_id, rate=80, max_wait=4.5 / 77, sleep=clock.sleep, clock=clock)
    assert clock.slept == []
    # The refused send took nothing: the next one gets the slot right after the booked ones.
    assert throughput_slot(number_id=number_id, rate=80, now=clock.now, max_wait=1) == pytest.approx(5 / 77)


def test_it_keeps_a_schedule_per_business_number(number_id):
    waits = [throughput_slot(number_id=number_id, rate=80, now=1000.0) for _ in range(2)]
    assert waits == [0.0, pytest.approx(1 / 77)]
    assert throughput_slot(number_id=number_id + "-other", rate=80, now=1000.0) == 0.0


def test_it_stays_under_small_rates_too(number_id):
    assert late_slots(5) == 0
    sent = drain(number_id, workers=3, seconds_per_send=0.01, count=40, rate=5)
    assert busiest_second(sent) <= 5


def test_it_does_not_limit_without_a_rate():
    assert all(throughput_wait(number_id="any", rate=0, max_wait=0) for _ in range(100))
