"""Replicated commands, and the restricted unpickler in front of pysyncobj.

A replicated command is canonical JSON (sorted keys, UTF-8 bytes)::

    {"key": "<idempotency key>", "t": <proposer's time, s>, "until": <t + write timeout>,
     "op": "<operation>", "args": {...}}

``until``: the proposer told its client "refused" (no_quorum) after it; a replica that has
already applied a command stamped later than ``until`` refuses this one (the decision depends on
the log order only, so every replica refuses it alike).

pysyncobj pickles its messages, log entries and snapshots (pysyncobj/pickle.py is its one
entry point). Peers only ever see members' bytes (mutual TLS, then pysyncobj's own password
encryption), and on top of that ``install_restricted_unpickler`` replaces the library's
``loads``/``load`` so that a pickle naming any global outside ``ALLOWED_GLOBALS`` is refused and
logged: nothing in it is constructed or called. Our own payloads are ``bytes`` (the command
JSON) inside pysyncobj's tuples and dicts, so the library needs no other types.
"""

from __future__ import annotations

import io
import logging
import pickle
from typing import IO, Any

import orjson

from auctionhouse.errors import AuctionhouseError, InvalidRequest, all_codes

log = logging.getLogger("auctionhouse.p2p")

# Every global pysyncobj 0.3.17's messages, log entries and snapshots need (protocol 2):
# bytes are pickled as _codecs.encode(text, "latin1"); sets and frozensets by their builtins;
# membership changes and snapshots carry TCPNode objects (built by NEWOBJ, state by BUILD).
ALLOWED_GLOBALS = frozenset(
    {
        ("_codecs", "encode"),
        ("builtins", "bytes"),  # b"" is pickled as bytes() (snapshot transfers send it)
        ("__builtin__", "bytes"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
        ("pysyncobj.node", "TCPNode"),
        ("pysyncobj.node", "Node"),
        # protocol 2 spells builtins the Python 2 way; find_class maps them afterwards
        ("__builtin__", "set"),
        ("__builtin__", "frozenset"),
        ("__builtin__", "bytearray"),
        ("__builtin__", "object"),
        ("copy_reg", "_reconstructor"),
    }
)

OPS = frozenset(
    {
        "account",
        "session",
        "logout",
        "logout_everywhere",
        "password",
        "register_key",
        "create_auction",
        "place_bid",
        "cancel_auction",
        "pause_auction",
        "resume_auction",
        "tick",
        # double-auction markets (house/markets.py): decided by every replica alike
        "create_market",
        "place_order",
        "cancel_order",
        "close_market",
        "photo",  # a photo's registration: its bytes travel beside Raft (p2p/photos.py)
        # ring peers (p2p/groups.py): the directory's commands, and identity commands copied
        # from it into every group
        "identity",
        "found",
        "join",
        "leave",
        "api",
        "place",
    }
)


class RefusedPickle(pickle.UnpicklingError):
    """A peer sent a pickle naming a global outside the allow list."""


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        refused[0] += 1
        log.warning("refused a pickled payload naming %s.%s (not in the allow list)", module, name)
        raise RefusedPickle(f"{module}.{name} is not allowed")


refused = [0]  # how many pickles were refused (read by tests and /metrics-like status)


def restricted_loads(data: bytes | str) -> Any:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return RestrictedUnpickler(io.BytesIO(data)).load()


def restricted_load(file: IO[bytes]) -> Any:
    return RestrictedUnpickler(file).load()


def install_restricted_unpickler() -> None:
    """Make every unpickling inside pysyncobj go through ``RestrictedUnpickler`` (its modules
    call ``pysyncobj.pickle.loads``/``load`` by attribute, so replacing them covers all)."""
    import pysyncobj.pickle as library_pickle

    library_pickle.loads = restricted_loads
    library_pickle.load = restricted_load


# ---------------------------------------------------------------------- commands


def encode(key: str, t: float, op: str, args: dict[str, Any], until: float | None = None) -> bytes:
    """One replicated command as canonical JSON bytes (``until`` defaults to ``t``)."""
    if op not in OPS:
        raise InvalidRequest(f"unknown replicated operation {op!r}")
    command = {"key": key, "t": t, "until": t if until is None else until, "op": op, "args": args}
    return orjson.dumps(command, option=orjson.OPT_SORT_KEYS)


def decode(blob: bytes) -> dict[str, Any]:
    """The command in ``blob``; raises ``InvalidRequest`` if it is not one."""
    try:
        command = orjson.loads(blob)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"a replicated command is not JSON: {exc}") from None
    if (
        not isinstance(command, dict)
        or not isinstance(command.get("key"), str)
        or not isinstance(command.get("t"), int | float)
        or not isinstance(command.get("until"), int | float)
        or command.get("op") not in OPS
        or not isinstance(command.get("args"), dict)
    ):
        raise InvalidRequest("a replicated command lacks key, t, until, op or args")
    return command


def error_result(exc: AuctionhouseError) -> dict[str, Any]:
    """How a refused command's error travels back to its proposer."""
    return {"error": {"code": exc.code, "message": exc.message, "fields": dict(exc.fields)}}


def raise_error(result: dict[str, Any]) -> None:
    """Raise the error a replica's result describes, if any (same class, code and fields)."""
    err = result.get("error")
    if err is None:
        return
    cls = all_codes().get(err["code"], AuctionhouseError)
    exc = cls.__new__(cls)
    AuctionhouseError.__init__(exc, err["message"], **err.get("fields", {}))
    raise exc
