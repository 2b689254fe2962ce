"""The thesis' genetic operators (THESIS-MODEL.md "Genetic algorithm"), over a whole population.

A population is an ``int8`` array of shape ``(members, chromosomes, genes)``: every member carries
one chromosome per decision (bid and scale-down, or reserve and starting price), each with one gene
per fuzzy state. One call of :func:`next_generation` does a whole generation: rank, pair, count
children, one-point crossover (each chromosome of a child independently, as the thesis does), and
+-1 mutation. All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from auctionhouse.sim import appendix_h

Population = npt.NDArray[np.int8]


def child_counts(members: int) -> npt.NDArray[np.int64]:
    """Children per ranked pair: ``C(p) = round(-8p/(N-2) + 4N/(N-2))`` for ``p = 1..N/2``.

    The formula gives 4 children to the best pair and 0 to the worst. Rounding can leave the total
    a child or two off ``N`` for some sizes; the roundings that erred most are then undone, so the
    counts always sum to ``N`` and never increase with rank.
    """
    if members < 4 or members % 2:
        raise ValueError(f"population size must be even and at least 4, got {members}")
    pairs = np.arange(1, members // 2 + 1)
    raw = -8 * pairs / (members - 2) + 4 * members / (members - 2)
    counts = np.floor(raw + 0.5).astype(np.int64)
    diff = members - int(counts.sum())
    if diff:
        # Undo the roundings that moved furthest in the wrong direction (stable, so ties go to
        # the better pairs when adding and to the worse ones when removing).
        error = raw - counts  # > 0: rounded down
        order = np.argsort(-error if diff > 0 else error, kind="stable")
        counts[order[: abs(diff)]] += 1 if diff > 0 else -1
    return counts


def random_population(
    rng: np.random.Generator, members: int, chromosomes: int, genes: int, alleles: int
) -> Population:
    """A uniformly random first generation."""
    return rng.integers(0, alleles, size=(members, chromosomes, genes), dtype=np.int8)


def rank(fitness: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Member indices, fittest first (stable: equal fitness keeps the earlier member first)."""
    return np.asarray(np.argsort(-fitness, kind="stable"), dtype=np.int64)


def crossover(
    rng: np.random.Generator,
    population: Population,
    fitness: npt.NDArray[np.float64],
    probability: float,
    rule: str = "text",
) -> Population:
    """Children of the ranked pairs (steps 1-3): crossover or copy, before mutation.

    ``rule="code"`` follows appendix H: its children counts (:func:`appendix_h.child_counts`) and
    its cut ``(int)(len * U)`` in ``0..len-1`` (a cut at 0 copies the tail parent).
    """
    members, chromos, genes = population.shape
    order = rank(fitness)
    counts = appendix_h.child_counts(members) if rule == "code" else child_counts(members)
    pair = np.repeat(np.arange(members // 2), counts)  # pair of each child
    first, second = order[2 * pair], order[2 * pair + 1]
    # One decision per chromosome of every child, drawn in a fixed order for reproducibility.
    head_is_first = rng.random((members, chromos)) < 0.5
    cross = rng.random((members, chromos)) < probability
    low = 0 if rule == "code" else 1
    cut = rng.integers(low, max(genes, low + 1), size=(members, chromos))
    head = np.where(head_is_first, first[:, None], second[:, None])
    tail = np.where(head_is_first, second[:, None], first[:, None])
    ch = np.arange(chromos)[None, :]
    head_genes = population[head, ch]  # (members, chromos, genes)
    tail_genes = population[tail, ch]
    take_head = np.arange(genes)[None, None, :] < cut[:, :, None]
    take_head |= ~cross[:, :, None]  # no crossover: a copy of the (random) head parent
    children: Population = np.where(take_head, head_genes, tail_genes).astype(np.int8)
    return children


def mutate(
    rng: np.random.Generator, population: Population, probability: float, alleles: int
) -> Population:
    """Step 4: with probability ``probability`` a gene moves by +-1 (0 -> 1, top -> top-1)."""
    hit = rng.random(population.shape) < probability
    up = rng.random(population.shape) < 0.5
    step = np.where(up, 1, -1).astype(np.int8)
    step = np.where(population == 0, np.int8(1), step)
    step = np.where(population == alleles - 1, np.int8(-1), step)
    if alleles < 2:
        return population.copy()
    return np.where(hit, population + step, population).astype(np.int8)


def next_generation(
    rng: np.random.Generator,
    population: Population,
    fitness: npt.NDArray[np.float64],
    crossover_probability: float,
    mutation_probability: float,
    alleles: int,
    rule: str = "text",
) -> Population:
    """One full reproduction step; the children replace the parents."""
    children = crossover(rng, population, fitness, crossover_probability, rule)
    return mutate(rng, children, mutation_probability, alleles)
