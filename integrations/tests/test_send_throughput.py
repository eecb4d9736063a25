"""The throughput cap: slots spread through each second, shared through the cache."""

import uuid

import pytest

from integrations.throughput import throughput_slot, throughput_wait


@pytest.fixture
def number_id():
    return f"test-{uuid.uuid4().hex}"  # a fresh counter in the shared cache


def test_it_spreads_sends_through_the_second_and_refuses_past_the_rate(number_id):
    waits = [throughput_slot(number_id=number_id, rate=5, now=1000.0) for _ in range(7)]
    assert waits == [0.0, pytest.approx(0.2), pytest.approx(0.4), pytest.approx(0.6), pytest.approx(0.8), None, None]
    assert throughput_slot(number_id=number_id, rate=5, now=1001.0) == 0.0  # the next second is free


def test_it_counts_each_business_number_on_its_own(number_id):
    assert all(throughput_slot(number_id=number_id, rate=2, now=50.5) is not None for _ in range(2))
    assert throughput_slot(number_id=number_id, rate=2, now=50.5) is None
    assert throughput_slot(number_id=number_id + "-other", rate=2, now=50.5) == 0.0


class FakeClock:
    def __init__(self, now):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_it_waits_for_the_next_window_instead_of_sending(number_id):
    clock = FakeClock(2000.0)
    for _ in range(4):
        assert throughput_wait(number_id=number_id, rate=2, max_wait=5, sleep=clock.sleep, clock=clock)
    # two in the first second (the second one half a second in), then the next second's two
    assert clock.slept == [0.5, 0.5, 0.5]
    assert clock.now == 2001.5


def test_it_gives_up_waiting_past_the_limit_so_the_task_is_rescheduled(number_id):
    clock = FakeClock(3000.5)
    assert throughput_wait(number_id=number_id, rate=1, max_wait=5, sleep=clock.sleep, clock=clock)
    assert not throughput_wait(number_id=number_id, rate=1, max_wait=0.2, sleep=clock.sleep, clock=clock)
    assert clock.slept == []


def test_it_does_not_limit_without_a_rate(number_id):
    assert all(throughput_wait(number_id=number_id, rate=0, max_wait=0) for _ in range(100))
