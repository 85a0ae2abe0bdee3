"""Pool splitting: how a pool of P integer points is shared among at most N joiners.

Shares are drawn one join at a time, from what is left, so an activity that closes early simply
returns the remainder. Both methods keep two invariants: every share is at least 1, and when all
N slots are taken the shares sum to exactly P. They require P >= N, which activity creation checks.

Random ("red packet") split uses the double-mean method: with R points left for n slots, the next
share is uniform on [1, min(2R/n - 1, R - (n - 1))] and the last slot takes all that is left. The
expected share is R/n at every step, so early joiners are not favoured, and no share can exceed
about twice the mean of what remained. Drawing uniformly on [1, R - (n - 1)] instead would give the
first joiner half the pool on average. Each draw is O(1), so the work per join is bounded.
"""

from __future__ import annotations

import random


def _check(remaining: int, slots: int) -> None:
    if slots < 1:
        raise ValueError(f"no slots left (slots={slots})")
    if remaining < slots:
        raise ValueError(f"pool of {remaining} points cannot give {slots} shares of at least 1")


def next_equal_share(remaining: int, slots: int) -> int:
    """Return the next share of an equal split: the pool divided by N, the first P mod N joiners getting 1 more."""
    _check(remaining, slots)
    return -(-remaining // slots)


def next_random_share(remaining: int, slots: int, rng: random.Random) -> int:
    """Return the next share of a double-mean random split of ``remaining`` points over ``slots`` joiners."""
    _check(remaining, slots)
    if slots == 1:
        return remaining
    upper = min(2 * remaining // slots - 1, remaining - (slots - 1))
    upper = max(upper, 1)
    return rng.randint(1, upper)


def split_random(total: int, count: int, rng: random.Random) -> list[int]:
    """Split ``total`` into ``count`` random shares of at least 1 that sum to ``total``."""
    shares = []
    remaining = total
    for slots in range(count, 0, -1):
        share = next_random_share(remaining, slots, rng)
        shares.append(share)
        remaining -= share
    return shares


def split_equal(total: int, count: int) -> list[int]:
    shares = []
    remaining = total
    for slots in range(count, 0, -1):
        share = next_equal_share(remaining, slots)
        shares.append(share)
        remaining -= share
    return shares
