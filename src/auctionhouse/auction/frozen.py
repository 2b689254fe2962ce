"""Fast constructors for the core's frozen dataclasses, for the hot paths (a bid's events, replay).

A ``@dataclass(frozen=True, slots=True)`` builds each instance through ``object.__setattr__``, one
call per field (its own ``__setattr__`` refuses): about 1.2 us for the 4 fields of a
``BidRecord``, 2-6 us for the 13 of a ``BidPlaced``, on every bid decided and every bid a restart
replays (issue 14's profiles). ``positional(cls)`` gives a function that takes every field
positionally, in declaration order, and returns an instance of ``cls`` equal to ``cls(...)``: it
fills a twin class with the very same slots by plain attribute stores and then gives the object
its class (``__class__`` assignment, which Python allows between classes of one memory layout).
The object is as frozen as one built by ``cls(...)``: every later assignment goes through the
class's refusing ``__setattr__``.

Only for classes whose generated ``__init__`` does nothing but store the fields (frozen, slots,
no ``__post_init__``, no base class): ``positional`` refuses any other. Callers pass every
field, defaults included (so a default factory is never needed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def positional(cls: type[T]) -> Callable[..., T]:
    """``new(*values) -> cls`` (every field, in order), equal to ``cls(*values)``; raises
    ``TypeError`` for a class it cannot build this way."""
    if not is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} is not a frozen dataclass")
    names = tuple(f.name for f in fields(cls))
    if getattr(cls, "__slots__", None) != names or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: only slots dataclasses without __post_init__")
    if cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__}: only direct subclasses of object")
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": names, "__module__": cls.__module__})
    arguments = ", ".join(names)
    lines = [f"def new({arguments}):", "    obj = make(twin)"]
    lines += [f"    obj.{name} = {name}" for name in names]
    lines += ["    obj.__class__ = cls", "    return obj"]
    scope: dict[str, Any] = {"make": object.__new__, "twin": twin, "cls": cls}
    exec("\n".join(lines), scope)  # our own field names only, as dataclasses does
    new: Callable[..., T] = scope["new"]
    new.__qualname__ = new.__name__ = f"new_{cls.__name__}"
    new.__doc__ = f"A {cls.__name__} of every field, positionally (auction/frozen.py)."
    return new
