"""ReplicatedService: the house service the server app calls, with writes through Raft.

The server's faces call ``service.call(lambda h: h.place_bid(...))`` and
``service.run_blocking(lambda h: h.create_account(...))`` (``house.service.HouseService``).
Here the lambda runs against a recorder of the house: a read runs on the local replica at once;
a write (one of ``WRITES``) is caught and becomes a replicated command, proposed through the
peer's Raft node and answered with the result the local replica computed when it applied the
committed entry. Slow, secret-dependent preparation stays on the peer that took the request:
argon2 hashing (only the hash is replicated), login and password change (the password is
checked there, throttled like a login; only the new hash and the session token's digest are
replicated), logout (only the token's digest is).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import math
import secrets
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeVar

from auctionhouse.errors import AuctionhouseError, InvalidRules
from auctionhouse.house import Account, AuctionHouse
from auctionhouse.house.accounts import normalize_name, token_digest
from auctionhouse.house.markets import MarketDesk
from auctionhouse.house.service import HouseService
from auctionhouse.house.signing import bid_message, mismatch, parse_public_key, verify
from auctionhouse.house.verifier import SETTLE_TIMEOUT
from auctionhouse.p2p.machine import MARKET_OPS
from auctionhouse.p2p.preverify import bid_check

if TYPE_CHECKING:
    from collections.abc import Callable

    from auctionhouse.p2p.peer import Peer

T = TypeVar("T")
log = logging.getLogger("auctionhouse.p2p")

WRITES = frozenset(
    {
        "place_bid",
        "create_auction",
        "cancel_auction",
        "pause_auction",
        "resume_auction",
        "tick",
        "create_account",
        "login",
        "register_key",
        "change_password",
        "logout",
        "logout_everywhere",
    }
)
TICK_EVERY = 0.05  # seconds between looks for due closes
TICK_AGAIN = 0.3  # seconds before this replica proposes another close of the same moment


class _Captured(Exception):
    def __init__(self, op: str, args: dict[str, Any]) -> None:
        super().__init__(op)
        self.op = op
        self.values = args


class _Recorder:
    """Stands for the house in a face's lambda: reads pass through, writes are captured."""

    def __init__(self, house: AuctionHouse) -> None:
        self._house = house

    def __getattr__(self, name: str) -> Any:
        if name == "markets":
            return _MarketRecorder(self._house.markets)
        if name not in WRITES:
            return getattr(self._house, name)
        return _capture(AuctionHouse, name)


class _MarketRecorder:
    """Stands for the house's markets (``h.markets``): reads pass through, the desk's writes
    (``MARKET_OPS``) are captured as replicated commands of the same name."""

    def __init__(self, desk: MarketDesk) -> None:
        self._desk = desk

    def __getattr__(self, name: str) -> Any:
        if name not in MARKET_OPS:
            return getattr(self._desk, name)
        return _capture(MarketDesk, name)


def _capture(cls: type, name: str) -> Callable[..., Any]:
    binder = _binder(cls, name)

    def capture(*args: Any, **kwargs: Any) -> Any:
        raise _Captured(name, binder(*args, **kwargs))

    return capture


@functools.cache
def _binder(cls: type, name: str) -> Callable[..., dict[str, Any]]:
    """A function taking the parameters of ``cls.<name>`` (``self`` left out) and
    returning the arguments by name, defaults applied: what ``Signature.bind`` then
    ``apply_defaults`` give (the same ``TypeError`` for a wrong call), without their cost on
    every replicated write (Signature.bind took 20-130 us a bid on the shared machine)."""
    params = list(inspect.signature(getattr(cls, name)).parameters.values())[1:]
    namespace: dict[str, Any] = {}
    parts: list[str] = []
    starred = False
    for i, param in enumerate(params):
        if param.kind is param.KEYWORD_ONLY and not starred:
            parts.append("*")
            starred = True
        text = param.name
        if param.kind is param.VAR_POSITIONAL:
            text, starred = "*" + text, True
        elif param.kind is param.VAR_KEYWORD:
            text = "**" + text
        if param.default is not param.empty:
            namespace[f"_default_{i}"] = param.default
            text += f"=_default_{i}"
        parts.append(text)
        if param.kind is param.POSITIONAL_ONLY and (
            i + 1 == len(params) or params[i + 1].kind is not param.POSITIONAL_ONLY
        ):
            parts.append("/")
    names = ", ".join(f"{p.name!r}: {p.name}" for p in params)
    exec(f"def bind({', '.join(parts)}):\n    return {{{names}}}", namespace)
    return namespace["bind"]  # type: ignore[no-any-return]


def _give_up(batch: asyncio.Future[None]) -> None:
    """A worker batch unanswered past its deadline: its waiters go on without verdicts (the
    verifier's own answer later finds it done and leaves it)."""
    if not batch.done():
        batch.set_result(None)


def _account(public: dict[str, Any]) -> Account:
    return Account(public["id"], public["role"], public["public_key"], public["created_at"])


class ReplicatedService(HouseService):
    def __init__(self, peer: Peer) -> None:
        super().__init__(lambda: peer.machine.house)
        self.peer = peer
        self._ticker: asyncio.Task[None] | None = None
        self._bounded: set[asyncio.Future[None]] = set()  # worker batches with a deadline

    @property
    def house(self) -> AuctionHouse:
        return self.peer.house

    @property
    def queue_depth(self) -> int:
        return self.peer.pending

    async def start(self) -> None:
        await self.peer.start()
        self._ticker = asyncio.create_task(self._timers(), name="peer-timers")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.peer.stop()
        self._writer.shutdown(wait=False)

    async def call(self, command: Callable[[AuctionHouse], T]) -> T:
        """Run ``command`` on the replica; a write in it is replicated first (see module)."""
        try:
            return command(_Recorder(self.house))  # type: ignore[arg-type]
        except _Captured as write:
            return await self._replicate(write)  # type: ignore[no-any-return]

    def submit(self, command: Callable[[AuctionHouse], T]) -> asyncio.Future[T]:
        """``call`` as a future (the WebSocket's bid path): replicated like any call."""
        return asyncio.ensure_future(self.call(command))

    async def run_blocking(
        self, fn: Callable[[AuctionHouse], T], executor: Executor | None = None
    ) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn, _Recorder(self.house))  # type: ignore[arg-type]
        except _Captured as write:
            return await self._replicate(write)  # type: ignore[no-any-return]

    async def _replicate(self, write: _Captured) -> Any:
        op, args = write.op, write.values
        house = self.house
        loop = asyncio.get_running_loop()
        if op == "create_account":
            password_hash, public_key = await loop.run_in_executor(
                None,
                lambda: house.accounts.prepare(
                    args["name"], args["password"], role=args["role"], public_key=args["public_key"]
                ),
            )
            public = await self.peer.propose(
                "account",
                {
                    "name": args["name"],
                    "password_hash": password_hash,
                    "role": args["role"],
                    "public_key": public_key,
                },
            )
            # The creating address becomes known to this peer's login throttle, as on an
            # embedded house (``AuctionHouse.create_account``): the throttle is per peer.
            house.login_throttle.succeeded(public["id"], args["address"], house.clock.now())
            return _account(public)
        if op == "login":
            await loop.run_in_executor(
                None, house.verify_login, args["name"], args["password"], args["address"]
            )
            token = secrets.token_urlsafe(32)
            await self.peer.propose(
                "session",
                {
                    "digest": token_digest(token),
                    "account_id": normalize_name(args["name"]),
                    "expires_at": house.clock.now() + house.accounts.token_ttl,
                },
            )
            return token
        if op == "change_password":
            account_id = args["account_id"]

            def check_and_hash() -> str:
                house.verify_login(
                    account_id, args["current"], args["address"], "the current password is wrong"
                )
                return house.accounts.hash_password(args["new"])

            password_hash = await loop.run_in_executor(None, check_and_hash)
            token = secrets.token_urlsafe(32)
            await self.peer.propose(
                "password",
                {
                    "account_id": account_id,
                    "password_hash": password_hash,
                    "digest": token_digest(token),
                    "expires_at": house.clock.now() + house.accounts.token_ttl,
                },
            )
            return token
        if op == "logout":  # only the digest is replicated: a token never enters the log
            await self.peer.propose("logout", {"digest": token_digest(args["token"])})
            return None
        if op == "logout_everywhere":
            return await self.peer.propose(op, {"account_id": args["account_id"]})
        if op == "register_key":
            return _account(await self.peer.propose(op, args))
        if op == "create_auction" and not isinstance(args.get("rules"), dict | None):
            raise InvalidRules("rules must be an object of auction rules")
        if op == "place_bid":
            await self._verify_ahead(house, args)
        elif op in ("place_order", "cancel_order"):
            self._check_market_signature(house, op, args)
        return await self.peer.propose(op, args)

    async def _verify_ahead(self, house: AuctionHouse, args: dict[str, Any]) -> None:
        """Verify a signed bid before proposing it, on the signature worker (batched with the
        bids that arrived with it; p2p/preverify.py), and vouch for the verdict so that this
        replica's own apply does not verify it again. Refused here like ``_check_signature``;
        without a worker (starting, down, disabled) it is verified on the loop."""
        verifier = self.peer.verifier
        check = bid_check(house, args)
        if check is None or verifier is None or not verifier.enabled:
            self._check_signature(house, args)
            return
        verifier.submit(check)
        batch = check.batch
        if batch is not None and not batch.done():
            self._bound(batch)
            await batch  # shared by the bids of one hand-off: no waiter, no timer per bid
        if check.valid is None:
            self._check_signature(house, args)
            return
        if not check.valid:
            raise mismatch()
        self.peer.machine.prefetch.vouch(check)

    def _bound(self, batch: asyncio.Future[None]) -> None:
        """Give up on a worker batch after ``SETTLE_TIMEOUT`` (one timer per batch: its bids,
        and the applies waiting for it, then verify on the loop). ``asyncio.wait`` with a
        timeout for each bid made a waiter and a timer per bid: 5% of a proposer's loop."""
        if batch in self._bounded:
            return
        self._bounded.add(batch)
        handle = asyncio.get_running_loop().call_later(SETTLE_TIMEOUT, _give_up, batch)

        def settled(done: asyncio.Future[None]) -> None:
            handle.cancel()
            self._bounded.discard(done)

        batch.add_done_callback(settled)

    @staticmethod
    def _check_market_signature(house: AuctionHouse, op: str, args: dict[str, Any]) -> None:
        """A signed order's or cancel's signature, checked before proposing as a bid's is
        (``_check_signature``): a forged one is refused here with ``BadSignature`` (no strike);
        what cannot be checked here is left to the replicas' full check."""
        fields = {k: args.get(k) for k in ("nonce", "ts", "signature")}
        try:
            if op == "place_order":
                check = house.markets.order_check(
                    args["trader_id"],
                    args["market_id"],
                    args["side"],
                    args["price"],
                    args["quantity"],
                    **fields,
                )
            else:
                check = house.markets.cancel_check(
                    args["account_id"], args["market_id"], args["order_id"], **fields
                )
        except (AuctionhouseError, KeyError, TypeError, ValueError):
            return
        if check is not None:
            verify(parse_public_key(check.public_key), check.message, check.signature)

    @staticmethod
    def _check_signature(house: AuctionHouse, args: dict[str, Any]) -> None:
        """Verify a signed bid before proposing it, so a forged one never enters the log nor
        costs every replica a verify; each replica still verifies it when applying (the audit
        layer). Refused here: ``BadSignature``, without a strike (strikes are replicated
        state, and this replica's key may lag a key change another peer took). Anything else
        (no key, no signature, a malformed field) is left to the replicas' full check."""
        signature, nonce, ts = args.get("signature"), args.get("nonce"), args.get("ts")
        if not isinstance(signature, str) or not isinstance(nonce, int) or isinstance(nonce, bool):
            return
        if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
            return
        try:
            key = house.accounts.get(args["bidder_id"]).public_key
            message = bid_message(
                args["auction_id"],
                args["bidder_id"],
                args["amount"],
                args["nonce"],
                args["ts"],
                args["proxy_max"],
            )
            public = parse_public_key(key) if isinstance(key, str) else None
        except (AuctionhouseError, TypeError, ValueError):
            return
        if public is not None:
            verify(public, message, signature)

    async def _timers(self) -> None:
        """Any replica proposes a due close: a dead or stalled leader cannot hold one open."""
        proposed_for: float | None = None
        proposed_at = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(TICK_EVERY)
            house = self.house
            wake = house.next_wakeup()
            if wake is None or wake > house.clock.now():
                continue
            if proposed_for == wake and loop.time() - proposed_at < TICK_AGAIN:
                continue
            proposed_for, proposed_at = wake, loop.time()
            try:
                await self.peer.propose("tick", {})
            except AuctionhouseError as exc:
                log.debug("could not propose a close: %s", exc.message)
