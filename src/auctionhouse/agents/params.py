"""Checked strategy parameters: each strategy declares its parameters, kinds and defaults once;
a bad or unknown one is a ``ConfigError`` that names it (agent documents show the field path)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from auctionhouse.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Param:
    kind: str  # "int", "float", "str", "fraction" (0..1), "count" (int >= 1)
    default: Any
    help: str = ""
    choices: tuple[str, ...] = ()


def check_params(
    spec: dict[str, Param], given: dict[str, Any], where: str = "params"
) -> dict[str, Any]:
    """``given`` checked against ``spec`` with defaults filled in."""
    if not isinstance(given, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(given) - set(spec))
    if unknown:
        known = ", ".join(sorted(spec)) or "none"
        raise ConfigError(f"{where}.{unknown[0]}: unknown parameter (known: {known})")
    out: dict[str, Any] = {}
    for name, param in spec.items():
        value = given.get(name, param.default)
        if value is None:
            out[name] = None
            continue
        out[name] = _check(param, value, f"{where}.{name}")
    return out


def _check(param: Param, value: Any, where: str) -> Any:
    if param.kind == "str":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a non-empty string")
        if param.choices and value not in param.choices:
            raise ConfigError(f"{where} must be one of {', '.join(param.choices)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number")
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number")
    if param.kind in ("int", "count"):
        if not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number")
        if value < (1 if param.kind == "count" else 0):
            raise ConfigError(f"{where} must be at least {1 if param.kind == 'count' else 0}")
        return value
    if param.kind == "fraction" and not 0 <= value <= 1:
        raise ConfigError(f"{where} must be between 0 and 1")
    if value < 0:
        raise ConfigError(f"{where} must not be negative")
    return float(value)


def evolved_params() -> dict[str, Param]:
    """The parameters of the fuzzy-genetic bidder and seller (``agents.evolved``)."""
    return {
        "file": Param("str", None, "strategy file written by auctionhouse evolve --save"),
        "unit": Param("count", 100, "minor units per unit of the strategy's money"),
        "range": Param(
            "float", None, "how far apart it expects the bidders' values to be (default: middle)"
        ),
        "scale_down": Param(
            "float",
            None,
            "how much below the item's worth it expects bids to stay, when the item is worth"
            " the same to all (default: middle)",
        ),
    }
