"""Meta's throughput cap per business number, shared by every worker through the cache.

Sends leave on one schedule of evenly spaced slots per business number: slot k leaves
k / pace seconds after the epoch, where the pace is a little under Meta's rate (HEADROOM),
so that the jitter between our clock and Meta's arrival times cannot put more than `rate`
requests into any one second at Meta. The schedule is a counter in the Django cache (Redis
in production, where a small Lua script takes the next slot atomically across hosts and
workers): a send takes the next slot and sleeps until its time.

A slot in the past is used at once only when it is at most late_slots(rate) late (a worker
a little behind a running schedule); older slots nobody took are skipped, and a schedule
idle for longer starts again at now, so a queue never bursts out to catch up. Any one-second
span therefore holds fewer than `rate` sends by the workers' clocks: 79 at Meta's 80/s.

The first version counted sends in fixed one-second windows, slot n of a window leaving at
n / rate past its start. A window's unused slots were lost at its end, while sends that fell
behind within a window went out back to back to catch up, so two seconds' edges could hold
more than `rate` sends between them (benchmarks/FINDINGS.md, section 3).
"""

import math
import time

from django.core.cache import cache

HEADROOM = 0.0375  # pace at 96.25% of the rate: 77/s under Meta's 80/s
KEY_TTL = 3600  # seconds the schedule is kept after its last send (an idle one starts again at now)


def pace_for(rate):
    """Sends per second the schedule allows under Meta's `rate`."""
    return rate * (1 - HEADROOM)


def late_slots(rate):
    """How many slots a send may be behind a running schedule and still use its own: 2 at 80/s.

    Any one-second span then holds at most ceil(pace + late) sends: one under the rate,
    kept as room for jitter on the way to Meta.
    """
    return max(0, math.floor(rate - pace_for(rate)) - 1)


def _key(number_id, pace):
    return f"whatsapp:throughput:{number_id}:{pace:g}"


# One round trip, atomic in Redis: the slot after the last one taken, unless that one is older
# than `earliest`: then the schedule starts again at `fresh`, the first slot not before now.
# Nothing is taken when the slot is further away than max_wait (negative: no limit). Lua
# numbers are doubles, exact for slot numbers far beyond 80/s since 1970 (about 1.4e11).
RESERVE_SCRIPT = """
local pace, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local fresh, earliest, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local slot = tonumber(redis.call('GET', KEYS[1]) or '-1') + 1
if slot < earliest then slot = fresh end
if max_wait >= 0 and slot / pace - now > max_wait then return false end
redis.call('SET', KEYS[1], string.format('%.0f', slot), 'EX', ARGV[6])
return slot
"""


def _reserve(key, *, pace, now, fresh, earliest, max_wait):
    """The slot taken, or None; in Redis when the cache is django-redis, else through the cache API."""
    if hasattr(cache, "client") and hasattr(cache.client, "get_client"):  # django-redis
        redis = cache.client.get_client(write=True)
        limit = -1 if max_wait is None else max_wait
        args = [repr(pace), repr(now), fresh, earliest, repr(limit), KEY_TTL]
        slot = redis.register_script(RESERVE_SCRIPT)(keys=[str(cache.make_key(key))], args=args)
        return None if slot is None else int(slot)
    # The same steps, not atomic: only for the file cache of a single-machine setup.
    slot = (cache.get(key) or -1) + 1
    if slot < earliest:
        slot = fresh
    if max_wait is not None and slot / pace - now > max_wait:
        return None
    cache.set(key, slot, KEY_TTL)
    return slot


def throughput_slot(*, number_id, rate, now=None, max_wait=None):
    """Reserve the next send slot; returns how many seconds to wait before sending (0: now).

    Returns None, reserving nothing, when the next free slot is more than max_wait seconds
    away: the caller reschedules the send rather than holding its worker that long.
    """
    now = time.time() if now is None else now
    pace = pace_for(rate)
    fresh = math.ceil(now * pace)  # the first slot not before now
    earliest = fresh - late_slots(rate)  # the oldest slot a send at `now` may still use
    slot = _reserve(_key(number_id, pace), pace=pace, now=now, fresh=fresh, earliest=earliest, max_wait=max_wait)
    if slot is None:
        return None
    return max(0.0, slot / pace - now)


def throughput_wait(*, number_id, rate, max_wait, sleep=time.sleep, clock=time.time):
    """Block until this worker may send, for at most max_wait seconds.

    Returns True when a slot was taken (and its time has come), False when the next
    slot is further away than max_wait (the caller then reschedules the task instead of
    holding the worker).
    """
    if not rate or rate <= 0:
        return True
    wait = throughput_slot(number_id=number_id, rate=rate, now=clock(), max_wait=max_wait)
    if wait is None:
        return False
    if wait:
        sleep(wait)
    return True
