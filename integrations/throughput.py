"""Meta's throughput cap per business number, shared by every worker through the cache.

Each second is a window with a counter in the Django cache (Redis in production, where
cache.incr is atomic across hosts). A send takes the next number in the current window
and waits for its slot, window start + n / rate, so sends are spread evenly through the
second rather than bunched at its start; past `rate` it waits for the next window. A
burst of queued messages therefore drains at the rate, and workers wait instead of
hammering Meta into 130429.
"""

import time

from django.core.cache import cache

WINDOW_SECONDS = 1
KEY_TTL = 10  # a window's counter outlives its second by a margin, then expires


def throughput_slot(*, number_id, rate, now=None):
    """Reserve a send; returns how many seconds to wait before it (0 when it may go now).

    A result of None means this window is full: ask again after `seconds_to_next_window`.
    """
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"whatsapp:throughput:{number_id}:{window}"
    cache.add(key, 0, KEY_TTL)
    try:
        position = cache.incr(key)
    except ValueError:  # expired between add and incr (a very slow cache): start it again
        cache.add(key, 1, KEY_TTL)
        position = 1
    if position > rate:
        return None
    slot_at = window * WINDOW_SECONDS + (position - 1) * WINDOW_SECONDS / rate
    return max(0.0, slot_at - now)


def seconds_to_next_window(now=None):
    now = time.time() if now is None else now
    return WINDOW_SECONDS - (now % WINDOW_SECONDS)


def throughput_wait(*, number_id, rate, max_wait, sleep=time.sleep, clock=time.time):
    """Block until this worker may send, for at most max_wait seconds.

    Returns True when a slot was taken, False when waiting longer would be needed
    (the caller then reschedules the task instead of holding the worker).
    """
    if not rate or rate <= 0:
        return True
    deadline = clock() + max_wait
    while True:
        now = clock()
        wait = throughput_slot(number_id=number_id, rate=rate, now=now)
        if wait is None:
            wait = seconds_to_next_window(now)
            if now + wait > deadline:
                return False
            sleep(wait)
            continue
        if wait:
            sleep(wait)
        return True
