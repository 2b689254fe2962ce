"""Canonical event encoding and the hash chain link.

``canonical_bytes(event)`` is the one byte form an event is hashed (and stored) in: the JSON of
``event_to_dict(event)`` with sorted keys, separators ``(",", ":")``, UTF-8, no ASCII escaping and
no NaN/Infinity. A chain link is ``sha256(prev_hash || canonical_bytes(event))``; the first event
of an auction links to 32 zero bytes. Never change this encoding: every stored hash depends on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields, is_dataclass
from functools import reduce
from hashlib import sha256
from operator import attrgetter, or_
from typing import Any

import msgspec
import orjson

from auctionhouse.auction import EVENT_TYPES, AuctionCreated, Event, Rules, event_to_dict
from auctionhouse.auction.events import OMITTED_WHEN_NONE
from auctionhouse.auction.frozen import positional
from auctionhouse.errors import InvalidRequest, LedgerError

GENESIS = bytes(32)
"""The ``prev_hash`` of every auction's first event."""

_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_decode = json.JSONDecoder().decode
_fast_decode = orjson.loads
_fast_encode = orjson.dumps
_INT64 = 2**63
_F_MIN, _F_MAX = 1e-4, 1e16


def canonical_json(value: Any) -> bytes:
    """Canonical bytes of any JSON-native value (also used for seal and checkpoint payloads)."""
    try:
        return _encode(value).encode("utf-8")
    except (TypeError, ValueError) as exc:  # a non-JSON value, NaN or Infinity
        raise InvalidRequest(f"cannot encode canonically: {exc}") from exc


def canonical_bytes(event: Event) -> bytes:
    """The canonical byte form of ``event`` (what its chain hash covers).

    Defined as ``reference_canonical_bytes`` (the stdlib encoder). When every field is a str,
    None, an int within 64 bits or a float that both libraries write alike (0 or
    1e-4 <= |x| < 1e16), orjson writes the very same bytes four times faster: that is checked per
    event here and, for random events, by a hypothesis test; anything else takes the stdlib path.
    """
    spec = _ENCODE.get(event.__class__)
    if spec is not None:
        names, get, type_name, get_optional = spec
        if get_optional is not None and any(v is not None for v in get_optional(event)):
            return reference_canonical_bytes(event)
        values = get(event)
        for value in values:
            kind = value.__class__
            if kind is str or value is None:
                continue
            if kind is int:
                if -_INT64 < value < _INT64:
                    continue
            elif kind is float and (_F_MIN <= abs(value) < _F_MAX or value == 0.0):
                continue
            return reference_canonical_bytes(event)
        data = dict(zip(names, values, strict=True))
        data["type"] = type_name
        try:
            return _fast_encode(data, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. lone surrogates: the reference path refuses them
            pass
    return reference_canonical_bytes(event)


def reference_canonical_bytes(event: Event) -> bytes:
    """The definition of the canonical form: the stdlib JSON of ``event_to_dict(event)``."""
    if type(event) not in _EVENT_CLASSES:
        raise InvalidRequest(f"not an event: {type(event).__name__}")
    return canonical_json(event_to_dict(event))


def link(prev_hash: bytes, body: bytes) -> bytes:
    """One chain link: ``sha256(prev_hash || body)``."""
    return sha256(prev_hash + body).digest()


def decode_event(body: bytes | str) -> Event:
    """Rebuild an event from its stored canonical bytes (the fast path used by replay).

    orjson parses and the event is built without its ``__init__`` when that is exact: orjson
    reads floats back exactly as the stdlib wrote them, but turns integers past 64 bits into
    floats, so a float in an int field (and every ``AuctionCreated``, which carries ``Rules``)
    takes the exact path: the stdlib parser and the class's own constructor. A record that is not
    a well-formed event raises ``LedgerError``.
    """
    try:
        data = _fast_decode(body)
        build = _BUILD.get(EVENT_TYPES[data.pop("type")])
        if build is not None:
            event: Event | None = build(data)
            if event is not None:
                return event
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSONDecodeError too
        if not isinstance(exc, orjson.JSONDecodeError):
            raise LedgerError(f"malformed ledger record: {exc}") from exc
    return _decode_exact(body)


def decode_page(rows: Sequence[tuple[int, bytes]]) -> list[Event]:
    """``decode_event`` of each ``(pos, body)`` row's body, a page at a time (the replay's hot
    loop: one call per page, the builder found by the type's name). A malformed row raises
    ``LedgerError`` as ``decode_event`` does (the caller then reads the page row by row)."""
    out: list[Event] = []
    append = out.append
    loads = _fast_decode
    builders = _BUILD_BY_NAME
    for _pos, body in rows:
        try:
            data = loads(body)
            build = builders.get(data.pop("type", None))
            event = build(data) if build is not None else None
        except (ValueError, KeyError, TypeError, AttributeError):
            event = None
        append(event if event is not None else decode_event(body))
    return out


def decode_array(bodies: bytes | bytearray) -> list[Event | None] | None:
    """The events of a JSON array of stored bodies (``SQLiteStore.page_arrays``) when
    ``decode_records`` cannot take the page, in one orjson parse: each element built as
    ``decode_page`` builds it, or None where the exact path must decide (a float in an int
    field...: the caller decodes that row's own bytes with ``decode_event``). None for the
    whole page when it is not a JSON array (a row edited to garbage: the caller reads the page
    row by row and names it)."""
    try:
        items = _fast_decode(bodies)
    except orjson.JSONDecodeError:
        return None
    if items.__class__ is not list:
        return None
    out: list[Event | None] = []
    append = out.append
    builders = _BUILD_BY_NAME
    for data in items:
        try:
            build = builders.get(data.pop("type", None))
            append(build(data) if build is not None else None)
        except (KeyError, TypeError, AttributeError):
            append(None)
    return out


def decode_records(bodies: bytes | bytearray) -> list[Event] | None:
    """The events of a JSON array of stored bodies (a restart's page), decoded by msgspec into
    one typed record per event (a tagged union on ``type``: no dict per event, no key
    lookups), each then made the event by its class's positional constructor; None when any
    element is not exactly an event's record (the caller takes a path that names it).
    msgspec reads JSON numbers as the stdlib does (integers exact at any size, floats correctly
    rounded), so no field needs the int check of the orjson path and the events equal the
    exact path's."""
    try:
        records = _PAGE_DECODER.decode(bodies)
    except msgspec.DecodeError:  # ValidationError too: an unknown field, type or shape
        return None
    out: list[Event] = []
    append = out.append
    news = _NEW_BY_RECORD
    try:
        for record in records:
            new = news.get(record.__class__)
            if new is not None:
                append(new(*_astuple(record)))
            elif record.__class__ is _CREATED_RECORD:
                append(_created(record))
            else:
                return None
    except (ValueError, KeyError, TypeError, AttributeError, InvalidRequest):
        return None
    return out


def _created(record: Any) -> Event:
    """An ``AuctionCreated`` from its record, as ``_decode_exact`` builds it."""
    data = {name: getattr(record, name) for name in record.__struct_fields__}
    data["rules"] = Rules.from_dict(data["rules"])
    if isinstance(data.get("photos"), list):
        data["photos"] = tuple(data["photos"])
    return AuctionCreated(**data)


def _decode_exact(body: bytes | str) -> Event:
    try:
        data = _decode(body if isinstance(body, str) else body.decode("utf-8"))
        cls = EVENT_TYPES[data.pop("type")]
        if cls is AuctionCreated:
            data["rules"] = Rules.from_dict(data["rules"])
            if isinstance(data.get("photos"), list):  # JSON has lists, the event a tuple
                data["photos"] = tuple(data["photos"])
        event: Event = cls(**data)
    except (ValueError, KeyError, TypeError, AttributeError, InvalidRequest) as exc:
        raise LedgerError(f"malformed ledger record: {exc}") from exc
    return event


def decode_json(payload: bytes | str) -> Any:
    """Parse a stored JSON payload (seal, checkpoint); a bad one raises ``LedgerError``."""
    try:
        return _decode(payload if isinstance(payload, str) else payload.decode("utf-8"))
    except (ValueError, AttributeError) as exc:
        raise LedgerError(f"malformed ledger payload: {exc}") from exc


_EVENT_CLASSES = frozenset(EVENT_TYPES.values())

# Replay builds events without their generated __init__ (a frozen dataclass __init__ costs ~2 us
# for 11 fields; the class's positional constructor, auction/frozen.py, a third of it). Only for
# plain frozen slots dataclasses without __post_init__, whose fields are plain JSON values (not
# AuctionCreated and its Rules). Per class: the fields always encoded and the int fields (the
# fields omitted when None are None; a record that has them takes the exact path).


def _always(cls: type[Any]) -> list[str]:
    return [f.name for f in fields(cls) if f.name not in OMITTED_WHEN_NONE.get(cls, ())]


def _constructor(cls: type[Any]) -> Callable[..., Any] | None:
    try:
        return positional(cls)
    except TypeError:  # not a plain frozen slots dataclass: the exact path builds it
        return None


_FAST: dict[type[Any], tuple[tuple[str, ...], tuple[str, ...], Callable[..., Any]]] = {
    cls: (
        tuple(_always(cls)),
        tuple(f.name for f in fields(cls) if str(f.type).startswith("int")),
        new,
    )
    for cls in EVENT_TYPES.values()
    if is_dataclass(cls) and cls is not AuctionCreated
    for new in [_constructor(cls)]
    if new is not None
}


def _builder(cls: type[Any]) -> Callable[[dict[str, Any]], Any]:
    """``build(data)``: the event of class ``cls`` from its decoded fields, unrolled (one
    argument per field, no loop) through the class's positional constructor, on every event a
    restart replays; or None when the exact path must decide (a float in an int field, a field
    omitted when None present)."""
    always, int_fields, new = _FAST[cls]
    scope: dict[str, Any] = {"new": new}
    lines = ["def build(data):", f"    if len(data) != {len(always)}:", "        return None"]
    lines += [
        f"    if data[{name!r}].__class__ is float:\n        return None" for name in int_fields
    ]
    values = [f"data[{f.name!r}]" if f.name in always else "None" for f in fields(cls)]
    lines.append(f"    return new({', '.join(values)})")
    exec("\n".join(lines), scope)  # our own field names only, as dataclasses does
    return scope["build"]  # type: ignore[no-any-return]


_BUILD = {cls: _builder(cls) for cls in _FAST}
_BUILD_BY_NAME = {name: _BUILD[cls] for name, cls in EVENT_TYPES.items() if cls in _BUILD}

# Per event class with plain JSON fields: the names of the fields always encoded, a getter of
# all of them, the type name, a getter of the fields omitted when None (any set: reference path).
_Getter = Callable[[Any], tuple[Any, ...]]
_ENCODE: dict[type[Any], tuple[tuple[str, ...], _Getter, str, _Getter | None]] = {
    cls: (names, attrgetter(*names), cls.__name__, optional)
    for cls in _FAST
    for names in [tuple(_always(cls))]
    for optional in [
        attrgetter(*OMITTED_WHEN_NONE[cls], OMITTED_WHEN_NONE[cls][0])
        if cls in OMITTED_WHEN_NONE
        else None
    ]
    if len(names) > 1  # attrgetter of one name returns a bare value, not a tuple
}


def _record_type(cls: type[Any]) -> type[msgspec.Struct]:
    """The msgspec record of an event class: its fields in order (any JSON value; defaults as
    the class's), tagged by ``type`` = the class's name, refusing unknown fields."""
    spec: list[Any] = [
        (f.name, Any) if f.default is MISSING else (f.name, Any, f.default) for f in fields(cls)
    ]
    return msgspec.defstruct(
        f"{cls.__name__}Record",
        spec,
        tag=cls.__name__,
        tag_field="type",
        forbid_unknown_fields=True,
    )


_RECORDS = {cls: _record_type(cls) for cls in EVENT_TYPES.values() if is_dataclass(cls)}
_NEW_BY_RECORD = {_RECORDS[cls]: _FAST[cls][2] for cls in _FAST}
_CREATED_RECORD = _RECORDS[AuctionCreated]
_PAGE_DECODER = msgspec.json.Decoder(list[reduce(or_, _RECORDS.values())])  # type: ignore[misc]
_astuple = msgspec.structs.astuple
