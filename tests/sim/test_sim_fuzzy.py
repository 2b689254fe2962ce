"""Fuzzy sets, decisions and reproduction against the worked examples in THESIS-MODEL.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auctionhouse.sim import genetic
from auctionhouse.sim.fuzzy import (
    FuzzyPartition,
    FuzzyStrategy,
    decide,
    decision_level,
    memberships,
    round_money,
    seller_price,
    state_weights,
)


def test_membership_worked_example() -> None:
    assert memberships(60, 0, 100, 5) == pytest.approx([0, 0, 0.6, 0.4, 0])


def test_membership_saturates_outside_the_range() -> None:
    assert memberships(-5, 0, 100, 3) == pytest.approx([1, 0, 0])
    assert memberships(100, 0, 100, 3) == pytest.approx([0, 0, 1])
    assert memberships(250, 0, 100, 3) == pytest.approx([0, 0, 1])


@settings(derandomize=True)
@given(st.floats(-50, 150), st.integers(2, 10))
def test_memberships_sum_to_one_with_at_most_two_sets_active(x: float, p: int) -> None:
    mu = memberships(x, 0, 100, p)
    assert mu.sum() == pytest.approx(1.0)
    assert (mu > 0).sum() <= 2


def test_decision_and_reserve_worked_example() -> None:
    mu_v = np.array([0, 0, 0.6, 0.4, 0])
    mu_r = np.array([0, 0.2, 0.8])
    weights = state_weights(mu_v, mu_r, np.array([1.0]))
    chromosome = [3, 0, 4, 2, 4, 5, 6, 1, 2, 6, 2, 2, 2, 4, 3]
    t = float(decision_level(weights, chromosome))
    assert t == pytest.approx(1.88)
    reserve = seller_price(100, 50, 0, t, top=6, cv=False)
    assert float(reserve) == pytest.approx(75 + 1.88 * 50 / 6)
    assert int(round_money(reserve)) == 91


def test_state_index_order_is_v_then_r_then_s() -> None:
    weights = state_weights(np.array([0, 1.0]), np.array([0, 0, 1.0]), np.array([1.0, 0]))
    assert int(np.argmax(weights)) == 1 * 3 * 2 + 2 * 2 + 0


def test_decide_for_bidder_and_seller() -> None:
    partition = FuzzyPartition((3, 3, 2), common_value=False)
    bidder = FuzzyStrategy("bidder", "fpsb", "pv", 5, partition, {"bid": (4,) * 9})
    assert decide(bidder, 150, 40) == {"bid": 170, "scale_down": 0, "amount": 170}
    low = FuzzyStrategy("bidder", "fpsb", "pv", 5, partition, {"bid": (0,) * 9})
    assert decide(low, 150, 40)["amount"] == 130
    cv = FuzzyPartition((3, 3, 2), common_value=True)
    shader = FuzzyStrategy(
        "bidder", "fpsb", "cv", 5, cv, {"bid": (2,) * 18, "scale_down": (4,) * 18}
    )
    # bid v = 150, scale-down s/2 + s = 15 for s = 10
    assert decide(shader, 150, 40, 10) == {"bid": 150, "scale_down": 15, "amount": 135}
    seller = FuzzyStrategy(
        "seller", "english", "pv", 5, partition, {"reserve": (0,) * 9, "starting": (2,) * 9}
    )
    assert decide(seller, 150, 40) == {"reserve": 130, "starting": 150}


def test_child_counts_worked_example_and_totals() -> None:
    assert genetic.child_counts(10).tolist() == [4, 3, 2, 1, 0]
    for n in range(4, 402, 2):
        counts = genetic.child_counts(n)
        assert counts.sum() == n
        assert (np.diff(counts) <= 0).all()
        assert counts[0] == 4 and counts[-1] == 0


def test_best_pair_gets_most_children_and_worst_pair_none() -> None:
    rng = np.random.default_rng(0)
    members, genes = 10, 9
    # member i is the constant chromosome i (fitness descending with i reversed)
    population = np.repeat(np.arange(members, dtype=np.int8)[:, None, None], genes, axis=2)
    fitness = np.arange(members, dtype=np.float64)  # member 9 fittest
    children = genetic.crossover(rng, population, fitness, probability=0.0)
    parents = children[:, 0, 0].tolist()
    assert sum(p in (9, 8) for p in parents) == 4
    assert sum(p in (1, 0) for p in parents) == 0


def test_crossover_is_one_point_between_the_pair() -> None:
    rng = np.random.default_rng(1)
    population = np.zeros((4, 1, 9), dtype=np.int8)
    population[1] = 4
    children = genetic.crossover(rng, population, np.array([3.0, 2.0, 1.0, 0.0]), 1.0)
    for child in children[:4, 0]:  # the best pair (members 0 and 1) has all 4 children
        changes = np.flatnonzero(np.diff(child))
        assert len(changes) == 1
        assert set(child.tolist()) == {0, 4}


def test_mutation_moves_genes_by_one_within_bounds() -> None:
    rng = np.random.default_rng(2)
    population = rng.integers(0, 5, size=(50, 2, 18), dtype=np.int8)
    mutated = genetic.mutate(rng, population, probability=1.0, alleles=5)
    assert (np.abs(mutated.astype(int) - population) == 1).all()
    assert mutated.min() >= 0 and mutated.max() <= 4
    assert (mutated[population == 0] == 1).all() and (mutated[population == 4] == 3).all()
    assert (genetic.mutate(rng, population, 0.0, 5) == population).all()


def test_decide_matches_the_simulated_bidder_and_seller() -> None:
    from auctionhouse.sim.evolve import evolve
    from auctionhouse.sim.thesis import ThesisConfig, decisions, draw_round

    for cfg in (
        ThesisConfig(method="fpsb", values="cv", generations=3, auctions=50, seed=1),
        ThesisConfig(scenario="seller", method="dutch", values="pv", generations=3, seed=2),
    ):
        result = evolve(cfg)
        strategy = result.strategy()
        genes = np.array([[list(map(int, g)) for g in result.best.chromosomes.values()]], np.int8)
        rnd = draw_round(cfg, np.random.default_rng(7))
        levels = decisions(cfg, rnd, genes)
        for k in range(cfg.auctions):
            v, r, s = float(rnd.v[k]), float(rnd.r[k]), float(rnd.s[k])
            got = decide(strategy, v, r, s)
            if cfg.scenario == "bidder":
                bid = v - r / 2 + levels[0][k, 0] * r / 4
                down = s / 2 + levels[1][k, 0] * s / 4
                assert got["amount"] == int(round_money(bid - down))
            else:
                assert got["reserve"] == int(
                    round_money(seller_price(v, r, s, levels[0][k, 0], 4, False))
                )
