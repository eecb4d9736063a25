"""How long to wait before trying again: one formula for every retry in the project.

A leaf module (it imports nothing of the project), so tasks, the send path and the
SharePoint backup share it without importing each other.
"""

import random


def backoff(tries, *, base, cap, spread=(0.5, 1.0), at_least=0.0):
    """Seconds before the next try, after `tries` earlier ones (0 for the first retry).

    base * 2**tries, capped at cap, times a random factor drawn from spread, so workers that
    failed together do not retry together; never less than at_least (what the other side
    asked for, or a floor the caller knows).
    """
    delay = min(cap, base * 2 ** max(0, tries)) * random.uniform(*spread)
    return round(max(delay, at_least or 0), 3)
