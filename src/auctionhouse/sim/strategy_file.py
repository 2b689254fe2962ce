"""Evolved strategies as JSON files that live agents load (``auctionhouse evolve --save FILE``).

The file::

    {"kind": "fuzzy-genetic", "version": 1, "role": "bidder", "method": "fpsb", "values": "pv",
     "alleles": 5, "sets": [3, 3, 2], "ranges": {"v": [100, 200], "r": [0, 50], "s": [10, 20]},
     "chromosomes": {"bid": "433343343"}, "decision": "text", "fitness": 4918.0, "seed": 1}

``decision`` is the rule the strategy was evolved under (``text`` or ``code``, docs/simulator.md);
a file without it is a ``text`` strategy.

:func:`load_strategy` validates a file and returns a :class:`~auctionhouse.sim.fuzzy.FuzzyStrategy`;
:func:`auctionhouse.sim.fuzzy.decide` then turns ``(strategy, v, r, s)`` into a bid (bidder) or a
reserve and starting price (seller). Only the standard library and NumPy are needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auctionhouse.errors import InvalidRequest
from auctionhouse.sim.fuzzy import FuzzyPartition, FuzzyStrategy

KIND = "fuzzy-genetic"
NAMES = {
    ("bidder", "pv"): ("bid",),
    ("bidder", "cv"): ("bid", "scale_down"),
    ("seller", "pv"): ("reserve",),
    ("seller", "cv"): ("reserve",),
}


def strategy_to_dict(strategy: FuzzyStrategy, **extra: Any) -> dict[str, Any]:
    """The JSON shape of ``strategy``; ``extra`` (fitness, seed, ...) is kept for people."""
    part = strategy.partition
    return {
        "kind": KIND,
        "version": 1,
        "role": strategy.role,
        "method": strategy.method,
        "values": strategy.values,
        "alleles": strategy.alleles,
        "sets": list(part.sets),
        "ranges": {k: list(v) for k, v in part.ranges.items()},
        "chromosomes": {k: "".join(str(g) for g in v) for k, v in strategy.chromosomes.items()},
        "decision": strategy.decision,
        **extra,
    }


def save_strategy(strategy: FuzzyStrategy, path: str | Path, **extra: Any) -> None:
    Path(path).write_text(json.dumps(strategy_to_dict(strategy, **extra), indent=2) + "\n")


def _fail(where: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"strategy file {where}: {message}")


def strategy_from_dict(doc: Any, where: str = "<dict>") -> FuzzyStrategy:
    """Validate a parsed strategy document; raise ``InvalidRequest`` naming the bad field."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise _fail(where, f'"kind" must be "{KIND}"')
    role, values, method = doc.get("role"), doc.get("values"), doc.get("method")
    if role not in ("bidder", "seller"):
        raise _fail(where, '"role" must be "bidder" or "seller"')
    if values not in ("pv", "cv"):
        raise _fail(where, '"values" must be "pv" or "cv"')
    if method not in ("english", "dutch", "fpsb", "vickrey"):
        raise _fail(where, '"method" must be english, dutch, fpsb or vickrey')
    alleles = doc.get("alleles")
    if not isinstance(alleles, int) or not 2 <= alleles <= 10:
        raise _fail(where, '"alleles" must be an integer in 2..10')
    sets = doc.get("sets")
    if not (
        isinstance(sets, list)
        and len(sets) == 3
        and all(isinstance(p, int) and p >= 1 for p in sets)
    ):
        raise _fail(where, '"sets" must be three positive integers')
    try:
        ranges = {k: (float(doc["ranges"][k][0]), float(doc["ranges"][k][1])) for k in "vrs"}
    except (KeyError, TypeError, IndexError, ValueError):
        raise _fail(where, '"ranges" must give [min, max] for v, r and s') from None
    partition = FuzzyPartition((sets[0], sets[1], sets[2]), ranges, values == "cv")
    decision = doc.get("decision", "text")
    if decision not in ("text", "code"):
        raise _fail(where, '"decision" must be "text" or "code"')
    if decision == "code":
        _check_code_rule(partition, where)
    raw = doc.get("chromosomes")
    if not isinstance(raw, dict):
        raise _fail(where, '"chromosomes" must be an object of digit strings')
    needed = NAMES[(role, values)]
    if role == "seller" and method in ("english", "dutch"):
        needed = ("reserve", "starting")
    chromosomes: dict[str, tuple[int, ...]] = {}
    for name in needed:
        genes = raw.get(name)
        if not isinstance(genes, str) or len(genes) != partition.states or not genes.isdigit():
            raise _fail(where, f'chromosome "{name}" must be {partition.states} digits')
        if max(int(g) for g in genes) >= alleles:
            raise _fail(where, f'chromosome "{name}" has a gene >= alleles ({alleles})')
        chromosomes[name] = tuple(int(g) for g in genes)
    return FuzzyStrategy(role, method, values, alleles, partition, chromosomes, decision)


def _check_code_rule(partition: FuzzyPartition, where: str) -> None:
    """The code rule's Java ints: whole-number ranges, at least 2 sets per partitioned input."""
    from auctionhouse.sim.appendix_h import CodeRanges

    try:
        CodeRanges.of(partition.ranges)
    except ValueError:
        raise _fail(where, '"ranges" must be whole numbers for the code rule') from None
    p1, p2, p3 = partition.effective_sets
    if min(p1, p2) < 2 or (partition.common_value and p3 < 2):
        raise _fail(where, '"sets" must be at least 2 per input for the code rule')


def load_strategy(path: str | Path) -> FuzzyStrategy:
    """Read and validate a strategy file written by ``auctionhouse evolve --save``."""
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise _fail(where, f"cannot be read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise _fail(where, f"is not JSON ({exc.msg} at line {exc.lineno})") from exc
    return strategy_from_dict(doc, where)
