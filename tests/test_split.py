"""Property tests of the pool split: exact sums, shares of at least 1, bounded work."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repe_bot.split import next_equal_share, next_random_share, split_equal, split_random


@st.composite
def pools(draw: st.DrawFn) -> tuple[int, int]:
    count = draw(st.integers(min_value=1, max_value=500))
    total = draw(st.integers(min_value=count, max_value=count * 1000))
    return total, count


class CountingRandom(random.Random):
    """A Random that counts draws, so the test can bound the work per share."""

    draws = 0

    def randint(self, a: int, b: int) -> int:
        self.draws += 1
        return super().randint(a, b)


@given(pools(), st.integers(min_value=0, max_value=2**32))
@settings(max_examples=300, deadline=None)
def test_random_split_sums_exactly(pool: tuple[int, int], seed: int) -> None:
    total, count = pool
    rng = CountingRandom(seed)
    shares = split_random(total, count, rng)
    assert len(shares) == count
    assert sum(shares) == total
    assert min(shares) >= 1
    assert rng.draws <= count  # one draw per share at most


@given(pools(), st.integers(min_value=0, max_value=2**32))
@settings(max_examples=300, deadline=None)
def test_random_share_bounded_by_double_mean(pool: tuple[int, int], seed: int) -> None:
    total, count = pool
    rng = random.Random(seed)
    remaining = total
    for slots in range(count, 1, -1):
        share = next_random_share(remaining, slots, rng)
        assert share <= max(1, 2 * remaining // slots - 1)
        remaining -= share
        assert remaining >= slots - 1


@given(pools())
def test_equal_split_differs_by_one(pool: tuple[int, int]) -> None:
    total, count = pool
    shares = split_equal(total, count)
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1


def test_first_share_not_skewed() -> None:
    # Uniform over what is left would give the first joiner about half the pool on average;
    # double-mean keeps it near the fair share of 10.
    rng = random.Random(1)
    firsts = [next_random_share(100, 10, rng) for _ in range(20000)]
    assert 9 <= sum(firsts) / len(firsts) <= 11


@pytest.mark.parametrize(("remaining", "slots"), [(4, 5), (0, 1), (5, 0)])
def test_impossible_split_rejected(remaining: int, slots: int) -> None:
    with pytest.raises(ValueError):
        next_random_share(remaining, slots, random.Random(0))
    with pytest.raises(ValueError):
        next_equal_share(remaining, slots)
