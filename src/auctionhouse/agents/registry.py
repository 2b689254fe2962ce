"""Strategies registered by name, so an agent document can name one (STYLE.md section 10)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import numpy as np

from auctionhouse.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """The strategy classes of one kind (``"bidder"``, ``"seller"``) by their ``name``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.classes: dict[str, type[T]] = {}

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: make a strategy available by its ``name``."""
        name = getattr(cls, "name", "")
        if not name or name in self.classes:
            raise ConfigError(f"{self.kind} strategy name {name!r} is empty or taken")
        self.classes[name] = cls
        return cls

    def make(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        rng: np.random.Generator | None = None,
    ) -> T:
        """The strategy registered as ``name``, built with (and checking) ``params``."""
        cls = self.classes.get(name)
        if cls is None:
            raise ConfigError(
                f"unknown {self.kind} strategy {name!r} (known: {', '.join(sorted(self.classes))})"
            )
        return cls(rng, **(params or {}))  # type: ignore[call-arg]
