"""Evolved (fuzzy-genetic) strategies for live agents: the simulator's files, loaded and checked.

``auctionhouse evolve --save FILE`` writes a chromosome file (docs/simulator.md); a bidder or a
seller names it in its strategy parameters (``file``) or embeds its content (``evolved``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auctionhouse.errors import AuctionhouseError, ConfigError
from auctionhouse.sim.fuzzy import FuzzyStrategy, decide
from auctionhouse.sim.strategy_file import load_strategy, strategy_from_dict


def load_evolved(file: str | None, inline: Any, role: str) -> FuzzyStrategy:
    """The strategy of ``file`` (or the embedded document ``inline``), which must be a ``role``."""
    if inline is not None:
        where = "params.evolved"
        try:
            model = strategy_from_dict(inline, where)
        except AuctionhouseError as exc:
            raise ConfigError(exc.message) from None
    elif file is not None:
        where = f"params.file ({file})"
        try:
            model = load_strategy(Path(file).expanduser())
        except AuctionhouseError as exc:
            raise ConfigError(f"params.file: {exc.message}") from None
    else:
        raise ConfigError("params.file: a fuzzy-genetic strategy needs a strategy file")
    if model.role != role:
        raise ConfigError(f"{where}: a {model.role} strategy, not a {role} one")
    return model


def midpoint(model: FuzzyStrategy, name: str) -> float:
    lo, hi = model.partition.ranges[name]
    return (lo + hi) / 2


class Evolved:
    """A loaded strategy with the agent's beliefs about the valuation range and scale-down
    (the parameters ``range`` and ``scale_down``; the middle of the file's ranges by default)."""

    def __init__(self, p: dict[str, Any], inline: Any, role: str) -> None:
        self.model = load_evolved(p["file"], inline, role)
        self.unit: int = p["unit"]
        self.r: float = p["range"] if p["range"] is not None else midpoint(self.model, "r")
        s = p["scale_down"]
        self.s: float = s if s is not None else midpoint(self.model, "s")

    def amounts(self, value: float) -> dict[str, int]:
        return evolved_amounts(self.model, value, self.r, self.s, self.unit)


def evolved_amounts(
    model: FuzzyStrategy, value: float, r: float, s: float, unit: int
) -> dict[str, int]:
    """``sim.fuzzy.decide`` on a value in minor units, answered in minor units."""
    try:
        out = decide(model, v=value / unit, r=r, s=s)
    except ValueError as exc:
        raise ConfigError(f"the fuzzy-genetic strategy cannot decide: {exc}") from exc
    return {name: max(0, amount * unit) for name, amount in out.items()}
