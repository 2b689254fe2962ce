"""auction/frozen.py: the positional constructors of the core's frozen dataclasses build exactly
what the class's own constructor builds, and the result is just as frozen."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field

import pytest

from auctionhouse.auction import BidPlaced, PlaceBid
from auctionhouse.auction.frozen import positional
from auctionhouse.auction.state import BidRecord


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (BidRecord, ("alice", 100, 3, 1.5)),
        (PlaceBid, ("7", "alice", 100, 150, 4, 1.25, "ab" * 64, None, None)),
        (BidPlaced, ("7", 3, 2.5, "bob", 120, 110, "bob", None, 9, 2.0, "cd" * 64, "m", None)),
    ],
)
def test_a_positional_constructor_builds_what_the_class_builds(
    cls: type, values: tuple[object, ...]
) -> None:
    built = positional(cls)(*values)
    expected = cls(*values)
    assert type(built) is cls
    assert built == expected and hash(built) == hash(expected)
    assert dataclasses.astuple(built) == values
    assert repr(built) == repr(expected)
    assert pickle.loads(pickle.dumps(built)) == expected
    name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, name, "changed")
    with pytest.raises(TypeError):
        positional(cls)(*values[:-1])  # every field, defaults too


def test_classes_it_cannot_build_exactly_are_refused() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(slots=True)
    class Mutable:
        x: int

    @dataclass(frozen=True, slots=True)
    class Listed:
        x: list[int] = field(default_factory=list)

    for cls in (Checked, NoSlots, Mutable):
        with pytest.raises(TypeError):
            positional(cls)
    assert positional(Listed)([1]) == Listed([1])  # a factory only fills a missing field
