"""Invariants of the vectorized kernels (hypothesis): prices stay between the right bids."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from auctionhouse.sim import kernels

maxima = st.integers(2, 6).flatmap(
    lambda n: arrays(np.int64, (n, 20), elements=st.integers(1, 300))
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(maxima, st.integers(1, 30), st.sampled_from([None, 50, 150]))
def test_proxy_english_price_never_passes_the_winners_maximum(
    values: np.ndarray, increment: int, reserve: int | None
) -> None:
    price, sold, winner = kernels.english_proxy(values, 1, reserve, increment, min_amount=1)
    m1, _, _ = kernels.top_two(values)
    won = winner >= 0
    winner_max = values[np.maximum(winner, 0), np.arange(values.shape[1])]
    # a higher maximum loses only when it cannot reach the price plus one increment
    assert (winner_max[won] > m1[won] - increment).all()
    assert (price[won] <= winner_max[won]).all()
    if reserve is not None:
        assert (price[sold] >= reserve).all()
        assert (winner_max[sold] >= reserve).all()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(maxima, st.integers(1, 30), st.integers(0, 200))
def test_thesis_english_winner_exceeds_the_price_and_pays_at_most_one_step_more(
    values: np.ndarray, step: int, reserve: int
) -> None:
    m1, m2, _ = kernels.top_two(values)
    start = 0.0
    price, sold = kernels.english_thesis(m1, m2, start, float(reserve), float(step))
    winner = kernels.first_above(values, price, strict=True)
    cols = np.arange(values.shape[1])
    assert (values[winner, cols][sold] > price[sold]).all()
    assert (price[sold] >= reserve).all()
    assert (price[sold] <= np.maximum(m2, reserve)[sold] + step).all()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(maxima, st.integers(1, 30), st.integers(1, 200))
def test_dutch_price_is_within_one_step_below_the_top_bid(
    values: np.ndarray, step: int, floor: int
) -> None:
    m1, _, _ = kernels.top_two(values)
    reserve = float(floor)
    for public_floor in (None, 1.0, float(floor)):
        price, sold = kernels.dutch_clock(m1, 400.0, reserve, float(step), floor=public_floor)
        assert (price[sold] <= m1[sold]).all()
        assert (price[sold] >= reserve).all()
        if public_floor is None:
            assert (price[sold] > m1[sold] - step).all()
        else:  # the clock stops at the public floor; the reserve only decides the sale
            assert (price >= public_floor).all()
            assert (sold == ((m1 >= public_floor) & (price >= reserve))).all()
