"""The fuzzy-genetic evolution loop (THESIS-MODEL.md), seeded and reproducible.

Per generation: draw a round, play it against the whole population at once
(:func:`auctionhouse.sim.thesis.play_round`), record best / mean / worst fitness, then breed the
next generation (:func:`auctionhouse.sim.genetic.next_generation`). The only Python loop is over
generations. The same ``seed`` gives the same history and the same best chromosome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from auctionhouse.sim import genetic, thesis
from auctionhouse.sim.fuzzy import FuzzyStrategy
from auctionhouse.sim.thesis import ThesisConfig


@dataclass(frozen=True)
class Member:
    chromosomes: dict[str, str]
    fitness: float
    win_rate: float
    mean_payoff: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "chromosomes": self.chromosomes,
            "fitness": self.fitness,
            "win_rate": self.win_rate,
            "mean_payoff": self.mean_payoff,
        }


@dataclass(frozen=True)
class EvolutionResult:
    config: ThesisConfig
    best: Member
    history: list[dict[str, float]]
    members: list[Member]
    population: npt.NDArray[np.int8]
    seconds: float

    def strategy(self) -> FuzzyStrategy:
        """The fittest member as a strategy a live agent can follow."""
        cfg = self.config
        genes = {k: tuple(int(c) for c in g) for k, g in self.best.chromosomes.items()}
        return FuzzyStrategy(
            role="bidder" if cfg.scenario == "bidder" else "seller",
            method=cfg.method,
            values="cv" if cfg.common_value else "pv",
            alleles=cfg.alleles,
            partition=cfg.partition,
            chromosomes=genes,
            decision="code" if cfg.code_rule else "text",
        )

    def to_dict(self, with_members: bool = False) -> dict[str, Any]:
        cfg = self.config
        out: dict[str, Any] = {
            "model": "thesis",
            "scenario": cfg.scenario,
            "method": cfg.method,
            "values": cfg.values,
            "opponents": cfg.opponents,
            "population": cfg.population,
            "generations": cfg.generations,
            "auctions": cfg.auctions,
            "crossover": cfg.crossover,
            "mutation": cfg.mutation,
            "alleles": cfg.alleles,
            "sets": list(cfg.sets),
            "private_value": cfg.own_value,
            "seed": cfg.seed,
            "decision": cfg.decision,
            "best": self.best.to_dict(),
            "history": self.history,
            "seconds": self.seconds,
        }
        if with_members:
            out["members"] = [m.to_dict() for m in self.members]
        return out


def chromosome_string(genes: npt.NDArray[np.int8]) -> str:
    return "".join(str(int(g)) for g in genes)


def describe(
    cfg: ThesisConfig, population: npt.NDArray[np.int8], result: thesis.RoundResult
) -> list[Member]:
    """Every member's chromosomes and its result in the round it just played."""
    fitness = cfg.credit + result.payoff.sum(axis=0)
    wins = result.success.mean(axis=0)
    mean_payoff = result.payoff.mean(axis=0)
    return [
        Member(
            chromosomes={
                name: chromosome_string(population[i, k])
                for k, name in enumerate(cfg.chromosome_names)
            },
            fitness=float(fitness[i]),
            win_rate=float(wins[i]),
            mean_payoff=float(mean_payoff[i]),
        )
        for i in range(population.shape[0])
    ]


def evolve(cfg: ThesisConfig, progress: Callable[[int], None] | None = None) -> EvolutionResult:
    """Run the fuzzy-genetic algorithm; ``progress(generation)`` after each generation."""
    thesis.validate(cfg)
    began = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    genes = cfg.partition.states
    population = genetic.random_population(
        rng, cfg.population, len(cfg.chromosome_names), genes, cfg.alleles
    )
    history: list[dict[str, float]] = []
    result: thesis.RoundResult | None = None
    fitness = np.zeros(cfg.population)
    for generation in range(cfg.generations):
        if generation:
            population = genetic.next_generation(
                rng, population, fitness, cfg.crossover, cfg.mutation, cfg.alleles, cfg.decision
            )
        rnd = thesis.draw_round(cfg, rng, cfg.population)
        result = thesis.play_round(cfg, rnd, population)
        fitness = cfg.credit + result.payoff.sum(axis=0)
        history.append(
            {
                "best": float(fitness.max()),
                "mean": float(fitness.mean()),
                "worst": float(fitness.min()),
            }
        )
        if progress is not None:
            progress(generation + 1)
    assert result is not None
    members = describe(cfg, population, result)
    best = members[int(genetic.rank(fitness)[0])]
    return EvolutionResult(cfg, best, history, members, population, time.perf_counter() - began)


def evaluate(
    cfg: ThesisConfig, chromosomes: npt.NDArray[np.int8], auctions: int, seed: int
) -> npt.NDArray[np.float64]:
    """Mean payoff per auction of each chromosome set (``(members, chromosomes, genes)``) over
    ``auctions`` fresh auctions, all members on the same draws (for comparing strategies)."""
    from dataclasses import replace

    big = replace(cfg, auctions=auctions)
    rnd = thesis.draw_round(big, np.random.default_rng(seed))
    return np.asarray(thesis.play_round(big, rnd, chromosomes).payoff.mean(axis=0))
