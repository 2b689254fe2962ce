"""AuctionHouse: turns commands into ledger events (DESIGN.md section 1, 4).

Sync core: every method decides with ``auction.decide``, applies the events to the in-memory
states, stages them, and (unless batching) makes them durable with one ``Ledger.append`` before
it returns, so an acknowledged command is on disk. ``batch()`` groups many commands into one
transaction (group commit); the async service (``house.service``) uses ``staged()``/``write()``
to pipeline decisions on the event loop with fsyncs on a writer thread.

One writer per auction: commands are decided one at a time under the house lock, so two bids on
one auction never interleave, while auctions never see each other's state.
"""

from __future__ import annotations

import copy
import gc
import heapq
import logging
import math
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from nacl.signing import VerifyKey

from auctionhouse.auction import (
    AuctionClosed,
    AuctionCreated,
    AuctionState,
    BidPlaced,
    CancelAuction,
    CloseAuction,
    Command,
    CreateAuction,
    DeadlineExtended,
    Event,
    Method,
    Outcome,
    PauseAuction,
    PlaceBid,
    ResumeAuction,
    Rules,
    apply,
    close_due_at,
    decide,
    public_event,
    public_view,
    replay,
)
from auctionhouse.auction.frozen import positional
from auctionhouse.auction.rules import phase_with_due
from auctionhouse.auction.views import result_view
from auctionhouse.errors import (
    AuctionhouseError,
    BidTooLow,
    Forbidden,
    HouseKeyMissing,
    InvalidMandate,
    InvalidRequest,
    InvalidRules,
    LedgerError,
    MandateExpired,
    NotFound,
    OverMandate,
    QuotaExceeded,
    ReadOnly,
    ReplayedNonce,
    SecurityError,
    SignatureRequired,
    StaleTimestamp,
    TamperDetected,
    Unauthorized,
)
from auctionhouse.house.accounts import (
    Account,
    AccountStore,
    Session,
    create_private_file,
    normalize_name,
)
from auctionhouse.house.clock import Clock, SystemClock
from auctionhouse.house.config import HouseConfig
from auctionhouse.house.limits import LoginThrottle, RateLimiter
from auctionhouse.house.listing import Filters, ListingIndex
from auctionhouse.house.markets import MARKET_EVENTS, MarketDesk
from auctionhouse.house.nonces import Spent, SpentNonces
from auctionhouse.house.photos import prepare as prepare_photo
from auctionhouse.house.signing import bid_message, mismatch, parse_public_key, verify
from auctionhouse.house.verifier import SignatureCheck, make_check
from auctionhouse.ledger import HouseKey, Ledger, MemoryStore, SQLiteStore
from auctionhouse.ledger.ledger import META_PUBLIC_KEY
from auctionhouse.ledger.mandate import Mandate, bid_problem, mandate_digest, parse_mandate
from auctionhouse.ledger.photos import TYPES as PHOTO_TYPES
from auctionhouse.ledger.photos import PhotoFiles, PhotoStore
from auctionhouse.ledger.search import ItemText, query_terms
from auctionhouse.ledger.store import Store
from auctionhouse.money import format_amount
from auctionhouse.times import utc_time

Listener = Callable[[Event, AuctionState], None]
# Built for every (signed) bid decided or replayed: without object.__setattr__ per field.
_new_place_bid = positional(PlaceBid)
_new_spent = positional(Spent)
log = logging.getLogger("auctionhouse.house")


@dataclass(slots=True)
class BidderRecord:
    """History kept per bidder for reputation (rebuilt from the ledger on start)."""

    bids: int = 0
    auctions: int = 0
    wins: int = 0


FREEZE_AFTER = 50_000
"""A replay of at least this many events moves what it built out of the collector's sight."""


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection within (restored after). A replay allocates a few objects
    per event that all live on (events, bid records): the collector would only walk the
    growing heap again and again, a fifth of a restart's CPU (issue 14). Refcounting still
    frees what dies."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_replayed(events: int) -> None:
    """After a replay of ``events`` >= ``FREEZE_AFTER`` (a real start, not a test's small
    house): ``gc.freeze()``, so that the first collection after ``collector_paused`` does not
    walk every object the replay built (all still counted as young: 5% of a restart's CPU,
    issue 14's profile), nor does any later full collection of the serving house. They live as
    long as the house anyway; the cost is that a reference cycle already garbage at that moment
    is never freed (a start has made few)."""
    if events >= FREEZE_AFTER:
        gc.freeze()


class AuctionHouse:
    market_desk: type[MarketDesk] = MarketDesk  # the shared house's keeps up with other instances

    def __init__(
        self,
        ledger: Ledger,
        accounts: AccountStore,
        *,
        config: HouseConfig | None = None,
        clock: Clock | None = None,
        photos: PhotoStore | None = None,
    ) -> None:
        self.ledger = ledger
        # Item photos beside the ledger (a shared house: in its database; None: none kept).
        self.photos = photos
        self.read_only = ledger.read_only
        self.accounts = accounts
        self.config = config or HouseConfig()
        self.clock: Clock = clock or SystemClock()
        self.auto_flush = True
        self._lock = threading.RLock()
        self._auctions: dict[str, AuctionState] = {}
        self._events: dict[str, list[Event]] = {}
        self._nonces = SpentNonces()
        self._bidders: dict[str, BidderRecord] = {}
        self._open_by_seller: Counter[str] = Counter()
        self._timers: list[tuple[float, str]] = []
        self._timer_due: dict[str, float] = {}
        self._staged: list[Event] = []
        self._listeners: list[Listener] = []
        self._batch_depth = 0
        self._next_id = 1
        self._ordinal: dict[str, int] = {}
        self._failed: str | None = None
        self._dirty_since_checkpoint = False
        self._last_checkpoint = self.clock.now()
        self._account_limiter = RateLimiter(self.config.account_rate, self.config.account_burst)
        self._address_limiter = RateLimiter(self.config.address_rate, self.config.address_burst)
        c = self.config
        self.login_throttle = LoginThrottle(
            address_free=c.login_free_per_address,
            account_free=c.login_free_per_account,
            base=c.login_backoff_seconds,
            address_cap=c.login_max_backoff_address_seconds,
            account_cap=c.login_max_backoff_account_seconds,
            forget_after=c.login_forget_seconds,
        )
        self.rejections: Counter[str] = Counter()
        self.problems: list[str] = []  # what a read-only house found failing at start
        # Byte-identical resends of spent signed bids, answered as the first time (no strike).
        self.resent_bids = 0
        self._mandates: dict[str, Mandate] = {}  # mobile agents' mandates by digest
        # Sort keys and filter groups of every auction, for lists (built after the replay).
        self._listing: ListingIndex | None = None
        # Signatures verified ahead, off the loop, for the batch being decided (``verdicts``).
        self._verdicts: dict[str, SignatureCheck] = {}
        self._verify_keys: dict[str, VerifyKey] = {}  # parsed account keys, by their hex
        self.markets = self.market_desk(self)  # double-auction markets (house/markets.py)
        self._recover()

    # ------------------------------------------------------------------ construction

    @classmethod
    def open(
        cls,
        db_path: str | Path,
        *,
        config: HouseConfig | None = None,
        clock: Clock | None = None,
        key_path: str | Path | None = None,
        read_only: bool = False,
    ) -> AuctionHouse:
        """A house on an SQLite file (created if missing), recovered from its ledger and
        verified while it replays (``Ledger.replay``).

        The house key is ``key_path`` (default ``<db>.key``). It is created only for a ledger
        that has recorded nothing; a ledger with records and no key raises ``HouseKeyMissing``
        (a new key would orphan every signature). A ledger or account row that fails to verify
        raises ``TamperDetected`` naming auction and seq (or account). ``read_only=True`` opens
        the file read-only, serves it whatever the verification finds (``ledger.problems``) and
        refuses every write with ``ReadOnly``.
        """
        config = config or HouseConfig()
        path = Path(db_path)
        key_file = Path(key_path) if key_path else Path(f"{path}.key")
        try:
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
                create_private_file(path)  # password hashes inside: owner-only
            store = SQLiteStore(path, readonly=read_only)  # first: a bad path leaves no key
            try:
                key = house_key(store, key_file, read_only)
                ledger = Ledger(store, key, read_only=read_only)
                accounts = AccountStore(
                    path,
                    time_cost=config.argon2_time_cost,
                    memory_kib=config.argon2_memory_kib,
                    token_ttl=config.token_ttl_seconds,
                    signer=ledger,
                    read_only=read_only,
                )
            except BaseException:
                store.close()
                raise
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open the house database {path}: {exc}") from exc
        try:
            photos = PhotoFiles.beside(path)
            return cls(ledger, accounts, config=config, clock=clock, photos=photos)
        except BaseException:  # refused (TamperDetected...): let go of the files
            ledger.close()
            accounts.close()
            raise

    @classmethod
    def in_memory(
        cls, *, config: HouseConfig | None = None, clock: Clock | None = None
    ) -> AuctionHouse:
        """A house whose ledger and accounts live in memory (tests, simulations)."""
        config = config or HouseConfig()
        ledger = Ledger(MemoryStore(), HouseKey.generate())
        accounts = AccountStore(
            None,
            time_cost=config.argon2_time_cost,
            memory_kib=config.argon2_memory_kib,
            token_ttl=config.token_ttl_seconds,
            signer=ledger,
        )
        return cls(ledger, accounts, config=config, clock=clock, photos=PhotoFiles(None))

    def close(self) -> None:
        with self._lock:
            if self._failed is None and not self.read_only:
                self.flush()
                self.ledger.checkpoint(self.clock.now())
            self.ledger.close()
            self.accounts.close()

    def _recover(self) -> None:
        """Rebuild every auction by replaying the ledger (apply only: no rule runs twice),
        verifying every chain, signed record and seal in the same pass (``Ledger.replay``),
        and then every account row's signature. Raises ``TamperDetected`` on a ledger that
        fails (a read-only house keeps serving and lists the failures in ``problems``)."""
        # Account seals are checked on a thread while the replay runs (PyNaCl verifies without
        # the GIL), so many accounts do not add to the restart's wall time on several cores.
        with ThreadPoolExecutor(1, thread_name_prefix="account-seals") as pool:
            accounts = pool.submit(self.accounts.verify_all, strict=False)
            with collector_paused():
                skipped = self._replay_verified()
                freeze_replayed(sum(map(len, self._events.values())))
            account_problems = accounts.result()
        if account_problems and not self.read_only:
            raise TamperDetected(account_problems[0])
        for aid, state in self._auctions.items():  # timers once per auction, not once per event
            due = close_due_at(state)
            if due is not None:
                self._timer_due[aid] = due
                self._timers.append((due, aid))
        heapq.heapify(self._timers)
        self.markets.after_replay()
        self._index_items()
        self._listing = ListingIndex.build(self._auctions.values(), self.clock.now())
        self._dirty_since_checkpoint = False
        self.problems = [*self.ledger.problems, *skipped, *account_problems]
        for problem in self.problems:
            log.warning("read-only house: the ledger fails verification: %s", problem)

    def _replay_verified(self) -> list[str]:
        """Replay (``_replay``) what ``Ledger.replay`` verifies; returns what a read-only house
        had to skip (a writing house raises ``TamperDetected`` instead)."""
        events = self._replay_events()
        skipped: list[str] = []
        while True:
            try:
                self._replay(events)
                break
            except AuctionhouseError:
                raise
            except Exception as exc:  # an event the rules cannot fold: the ledger was changed
                if self.read_only and skipped:  # explained once (the audit is slow): count
                    if len(skipped) < 100:
                        skipped.append(f"another event cannot be replayed: {exc!r}")
                    continue
                message = self.ledger.replay_failed(exc)
                if not self.read_only:
                    raise TamperDetected(message) from None
                skipped.append(message)  # skip the event, serve the rest
        return skipped

    def _replay(self, events: Iterator[Event]) -> None:
        # The hot loop of a restart: bids are nearly every event, so they skip _index's
        # general bookkeeping (timers come once per auction, below).
        auctions = self._auctions
        logs = self._events
        count_bid = self._count_bid
        sealed: dict[str, bool] = {}  # per auction (Method.sealed is a property: once each)
        for event in events:
            aid = event.auction_id
            before = auctions.get(aid)
            if type(event) is not BidPlaced or before is None:
                if type(event) in MARKET_EVENTS:  # a market's chain (house/markets.py)
                    self.markets.replay(event)  # type: ignore[arg-type]
                    continue
                self._index(event, apply(before, event), timers=False)
                continue
            first_here = event.bidder not in before.bidders  # apply folds in place: ask first
            apply(before, event)
            logs[aid].append(event)
            hidden = sealed.get(aid)
            if hidden is None:
                hidden = sealed[aid] = before.method.sealed
            count_bid(event, first_here, hidden)

    def _replay_events(self) -> Iterator[Event]:
        """The events a start replays, verified in the same pass (``Ledger.replay``); the
        shared house replays them inside one database snapshot (house/shared.py)."""
        return self.ledger.replay()

    # ------------------------------------------------------------------ the write path

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise ReadOnly("this house serves its ledger read-only (for inspection): no writes")

    def _execute(self, command: Command, now: float) -> list[Event]:
        self._refuse_if_read_only()
        if self._failed is not None:
            raise LedgerError(f"the house stopped writing after a ledger failure: {self._failed}")
        state = self._auctions.get(command.auction_id)
        events = decide(state, command, now)
        for event in events:
            first_here = (
                isinstance(event, BidPlaced)
                and state is not None
                and event.bidder not in state.bidders
            )
            state = apply(state, event)
            self._index(event, state, first_here=first_here)
        self._staged.extend(events)
        return events

    def _index(
        self, event: Event, state: AuctionState, *, timers: bool = True, first_here: bool = False
    ) -> None:
        """Keep the house's indexes (event log, bidder records, nonces, seller counts, timers)
        up to date with one applied event. ``first_here``: a bidder's first bid in this auction."""
        aid = event.auction_id
        self._auctions[aid] = state
        self._events.setdefault(aid, []).append(event)
        self._dirty_since_checkpoint = True
        if isinstance(event, BidPlaced):
            self._count_bid(event, first_here, state.method.sealed)
        elif isinstance(event, AuctionCreated):
            self._open_by_seller[state.seller] += 1
            self._ordinal[aid] = len(self._ordinal)  # creation order, for lists
            if aid.isascii() and aid.isdigit():  # str.isdigit alone takes '²' too
                self._next_id = max(self._next_id, int(aid) + 1)
        elif isinstance(event, AuctionClosed):
            self._open_by_seller[state.seller] -= 1
            if state.method.sealed:  # who bid in a sealed auction is public from now on
                self._count_sealed_bids(state)
            if event.winner is not None:
                self._bidders.setdefault(event.winner, BidderRecord()).wins += 1
        if self._listing is not None:
            self._listing.note(event, state)
        if not timers:
            return
        # _timer_due holds close_due_at(state) for every auction that has one, exactly (a bid's
        # _close_if_due and _ack read it instead of computing it again).
        due = close_due_at(state)
        if due is None:
            self._timer_due.pop(aid, None)
        elif self._timer_due.get(aid) != due:
            self._timer_due[aid] = due
            heapq.heappush(self._timers, (due, aid))

    def _count_bid(self, event: BidPlaced, first_here: bool, sealed: bool) -> None:
        """A bid's part of the bidder's history (reputation) and of its nonces (replay).

        Who bid in a sealed auction is secret until it closes, and a bidder's history is public
        (its reputation): sealed bids are counted at the close (``_count_sealed_bids``)."""
        bidder = event.bidder
        if not sealed:
            record = self._bidders.get(bidder)
            if record is None:
                record = self._bidders[bidder] = BidderRecord()
            record.bids += 1
            if first_here:
                record.auctions += 1
        nonce = event.nonce
        if nonce is not None:
            if event.signature is not None:
                spent = _new_spent(event.auction_id, event.seq, b"", "", None)
                self._nonces.remember(bidder, nonce, spent)
            else:
                self._nonces.spend(bidder, nonce)

    def _count_sealed_bids(self, state: AuctionState) -> None:
        for bid in state.bids:
            record = self._bidders.get(bid.bidder)
            if record is None:
                record = self._bidders[bid.bidder] = BidderRecord()
            record.bids += 1
        for bidder in state.bidders:
            self._bidders[bidder].auctions += 1

    def staged(self) -> list[Event]:
        """Take the events decided but not yet written (the async service writes them)."""
        with self._lock:
            events, self._staged = self._staged, []
            return events

    def persist(self, events: list[Event]) -> None:
        """Make ``events`` durable in one transaction (and checkpoint when due). Runs on the
        writer thread in the async service; never touches the in-memory states."""
        try:
            if events:
                self.ledger.append(events)
            if self._checkpoint_due():
                now = self.clock.now()
                self.ledger.checkpoint(now)
                self._last_checkpoint = now
                self._dirty_since_checkpoint = False
        except AuctionhouseError as exc:
            self._failed = exc.message
            raise
        except Exception as exc:  # disk full, I/O error: memory is now ahead of disk
            self._failed = repr(exc)
            raise LedgerError("the ledger could not record events") from exc
        self._write_strikes()

    def _write_strikes(self) -> None:
        """The strikes refusals counted since the last write, in one transaction (one seal
        per struck account), with the group commit: never on the event loop in the service.
        A failure keeps them counted for the next commit (the events are durable already)."""
        if self.read_only:
            return
        try:
            self.accounts.write_strikes()
        except (AuctionhouseError, sqlite3.Error) as exc:
            log.error("strikes not written yet (kept for the next commit): %r", exc)

    def write(self, events: list[Event]) -> None:
        """Make ``events`` durable, then tell the listeners."""
        self.persist(events)
        self.notify(events)

    def notify(self, events: list[Event]) -> None:
        """Tell every listener; a failing listener is logged and never stops the others (nor
        the acknowledgement of the commands whose events these are)."""
        for event in events:
            state = self._auctions.get(event.auction_id)
            if state is None:  # a market's event
                self.markets.notify(event)  # type: ignore[arg-type]
                continue
            for listener in list(self._listeners):
                try:
                    listener(event, state)
                except Exception:
                    log.exception("a listener failed on %s", type(event).__name__)

    def flush(self) -> None:
        with self._lock:
            self.write(self.staged())

    def _checkpoint_due(self) -> bool:
        return (
            self._dirty_since_checkpoint
            and self.clock.now() - self._last_checkpoint >= self.config.checkpoint_seconds
        )

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group commit: commands inside are written in one transaction at the end."""
        with self._lock:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0 and self.auto_flush:
                    self.flush()

    def _run(self, command: Command, now: float) -> list[Event]:
        with self._lock:
            events = self._execute(command, now)
            if self._batch_depth == 0 and self.auto_flush:
                self.flush()
            return events

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event, state)`` for every event once it is durable."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ------------------------------------------------------------------ accounts

    def create_account(
        self,
        name: str,
        password: str,
        *,
        public_key: str | None = None,
        role: str = "user",
        address: str | None = None,
    ) -> Account:
        """A new account; ``address`` (who created it) becomes known to the login throttle."""
        account = self.accounts.create(
            name, password, now=self.clock.now(), role=role, public_key=public_key
        )
        self.login_throttle.succeeded(account.id, address, self.clock.now())
        return account

    def check_login(self, name: str, address: str | None = None) -> None:
        """Raise ``LoginThrottled`` if a login of ``name`` from ``address`` must wait now (a
        cheap check before queueing for a password worker)."""
        if isinstance(name, str) and len(name) <= 256:
            self.login_throttle.check(normalize_name(name), address, self.clock.now())

    def login_is_known(self, name: str, address: str | None = None) -> bool:
        """Has ``address`` logged into ``name`` before (its password work gets its own lane)?"""
        if not isinstance(name, str) or len(name) > 256:
            return False
        return self.login_throttle.known(normalize_name(name), address, self.clock.now())

    def login(self, name: str, password: str, address: str | None = None) -> str:
        """A bearer token for ``name``. Raises ``LoginThrottled`` (no password work done) or
        ``Unauthorized`` (counted against ``address`` and the account). Slow: argon2id."""
        self._verify_throttled(name, password, address, "wrong name or password")
        return self.accounts.open_session(normalize_name(name), now=self.clock.now())

    def _verify_throttled(self, name: str, password: str, address: str | None, msg: str) -> None:
        if not isinstance(name, str) or not isinstance(password, str) or len(name) > 256:
            raise Unauthorized(msg)
        name = normalize_name(name)  # one throttle record per account, however it is spelt
        throttle = self.login_throttle
        throttle.check(name, address, self.clock.now())
        try:
            self.accounts.check_password(name, password)
        except Unauthorized:
            throttle.failed(name, address, self.clock.now())
            raise Unauthorized(msg) from None
        throttle.succeeded(name, address, self.clock.now())

    def verify_login(
        self, name: str, password: str, address: str | None, message: str = "wrong name or password"
    ) -> None:
        """Check ``password`` for ``name`` throttled like a login, without opening a session
        (a replicated house opens it through its log). Raises ``LoginThrottled`` or
        ``Unauthorized`` with ``message``. Slow: argon2id."""
        self._verify_throttled(name, password, address, message)

    def change_password(
        self, account_id: str, current: str, new: str, address: str | None = None
    ) -> str:
        """Check ``current`` (throttled like a login), set ``new``, revoke every session of
        the account, and open a new one: its token. Slow: argon2id twice."""
        self._verify_throttled(account_id, current, address, "the current password is wrong")
        self.accounts.set_password(account_id, new)
        return self.accounts.open_session(account_id, now=self.clock.now())

    def authenticate(self, token: str | None) -> Account:
        return self.accounts.authenticate(token, now=self.clock.now())

    def session(self, token: str | None) -> Session:
        """The live session of ``token`` (account, token digest, expiry); ``Unauthorized``."""
        return self.accounts.session(token, now=self.clock.now())

    def session_alive(self, digest: str) -> bool:
        """Is the session with this token digest neither expired nor revoked?"""
        try:
            self.accounts.session_by_digest(digest, now=self.clock.now())
        except Unauthorized:
            return False
        return True

    def logout(self, token: str) -> Session | None:
        """Revoke one session; the session it was (None: unknown or already gone)."""
        return self.accounts.logout(token)

    def logout_everywhere(self, account_id: str) -> int:
        """Revoke every session of ``account_id``; how many there were."""
        return self.accounts.revoke_all(account_id)

    def register_key(self, account_id: str, public_key: str) -> Account:
        return self.accounts.set_public_key(account_id, public_key)

    def _account(self, account_id: str) -> Account:
        try:
            return self.accounts.get(account_id)
        except NotFound:
            raise NotFound(f"no account {account_id!r}") from None

    def reputation(self, account_id: str) -> dict[str, Any]:
        """Bidder reputation from history: good conduct (auctions joined, won) against strikes
        (refused signatures, replays, stale timestamps). New accounts start at 1.0."""
        account = self._account(account_id)
        record = self._bidders.get(account_id, BidderRecord())
        good = 1 + record.auctions + record.wins
        score = good / (good + 3 * account.strikes)
        return {
            "account": account_id,
            "bids": record.bids,
            "auctions": record.auctions,
            "wins": record.wins,
            "strikes": account.strikes,
            "score": round(score, 4),
        }

    def check_address(self, address: str | None) -> None:
        """Per-address rate limit (faces call this for every request from the network)."""
        if address:
            self._address_limiter.take(address, self.clock.now(), "requests from your address")

    # ------------------------------------------------------------------ auctions

    def create_auction(
        self,
        seller_id: str,
        item_name: str,
        method: str | Method,
        rules: Rules | dict[str, Any] | None = None,
        *,
        description: str = "",
        auction_id: str | None = None,
        photos: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Create an auction of ``item_name`` sold by ``seller_id``; ``photos``: digests of
        photos uploaded with ``add_photo`` (at most 8). Returns its public view. Raises
        InvalidRequest (a photo not uploaded here), InvalidRules, QuotaExceeded, RateLimited."""
        seller = self._account(seller_id)
        now = self.clock.now()
        self._account_limiter.take(seller.id, now, "requests from your account")
        if isinstance(rules, dict) or rules is None:
            rules = Rules.from_dict(rules or {})
        elif not isinstance(rules, Rules):
            raise InvalidRules("rules must be an object of auction rules")
        try:
            method = Method(method)
        except ValueError:
            raise InvalidRequest(
                f"method must be one of {', '.join(m.value for m in Method)}"
            ) from None
        rules = self._house_rules(method, rules)
        photos = tuple(photos)
        self._check_photos_stored(photos)
        with self._lock:
            if self._open_by_seller[seller.id] >= self.config.max_concurrent_auctions:
                raise QuotaExceeded(
                    f"a seller may have {self.config.max_concurrent_auctions} open auctions"
                )
            aid = auction_id or str(self._next_id)
            command = CreateAuction(aid, seller.id, item_name, method, rules, description, photos)
            self._run(command, now)
            return self.view(aid)

    def add_photo(self, account_id: str, upload: bytes) -> dict[str, Any]:
        """Check, re-encode and store a photo for an item (house/photos.py): ``{"photo":
        digest, "width", "height", "type"}``; the digest then goes in ``create_auction``'s
        ``photos``. Thread-safe and slow (decoding): faces call it off the event loop. Raises
        InvalidPhoto, PhotoTooLarge, RateLimited, ReadOnly, InvalidRequest (no photo store)."""
        self._refuse_if_read_only()
        with self._lock:  # the limiter is the house's; the decoding below runs unlocked
            account = self._account(account_id)
            self._account_limiter.take(account.id, self.clock.now(), "requests from your account")
        if self.photos is None:
            raise InvalidRequest("this house keeps no photos")
        photo = prepare_photo(upload)
        digest = self.photos.put(photo.data, photo.ext, photo.thumbnail)
        return {
            "photo": digest,
            "width": photo.width,
            "height": photo.height,
            "type": PHOTO_TYPES[photo.ext],
        }

    def photo(self, digest: str, *, thumbnail: bool = False) -> tuple[bytes, str]:
        """A stored photo's bytes and media type. Raises NotFound, InvalidRequest."""
        found = self.photos.read(digest, thumbnail=thumbnail) if self.photos else None
        if found is None:
            raise NotFound(f"no photo {digest[:64]!r}")
        return found

    def _check_photos_stored(self, photos: tuple[str, ...]) -> None:
        if not photos:
            return
        if self.photos is None:
            raise InvalidRequest("this house keeps no photos", field="photos")
        for digest in photos:
            if not isinstance(digest, str) or self.photos.find(digest) is None:
                raise InvalidRequest(
                    f"photo {str(digest)[:64]!r} was not uploaded: POST it to /api/v1/photos",
                    field="photos",
                )

    def _house_rules(self, method: Method, rules: Rules) -> Rules:
        """House settings applied on top of the seller's rules (seed 000's configuration)."""
        changes: dict[str, Any] = {}
        has_close = rules.closes_at is not None or rules.duration is not None
        if method is not Method.DUTCH:
            if not has_close and rules.quiet_seconds is None and rules.expected_bids is None:
                changes["duration"] = self.config.bid_timeout
            if rules.min_bidders < self.config.min_bidders:
                changes["min_bidders"] = self.config.min_bidders
        if self.config.bid_verification_required:
            changes["signed_bids"] = True
        if rules.currency is None:
            changes["currency"] = self.config.currency
        elif rules.currency != self.config.currency:
            raise InvalidRules(
                f"currency: this house sells in {self.config.currency}, not {rules.currency}",
                field="currency",
            )
        if method is Method.ENGLISH and rules.bids_are_maxima is None:
            if self.config.bids_are_maxima:
                changes["bids_are_maxima"] = True
        return replace(rules, **changes) if changes else rules

    def place_bid(
        self,
        bidder_id: str,
        auction_id: str,
        amount: int,
        *,
        proxy_max: int | None = None,
        nonce: int | None = None,
        ts: float | None = None,
        signature: str | None = None,
        mandate: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """Place a bid (an accept in a Dutch auction). Returns the ack once it is durable.

        ``mandate``: a mobile agent's bid, ``(hash, canonical JSON)`` of the owner's signed
        mandate, checked against it here (``mandated``)."""
        self._refuse_if_read_only()
        now = self.clock.now()
        account = self._account(bidder_id)
        self._account_limiter.take(account.id, now, "bids from your account")
        with self._lock:
            state = self._state(auction_id)
            if signature is not None:
                resent = self._answer_resend(
                    account, auction_id, amount, proxy_max, nonce, ts, signature
                )
                if resent is not None:
                    return resent
            self._close_if_due(state, now)
            if self.config.min_reputation > 0:
                if self.reputation(account.id)["score"] < self.config.min_reputation:
                    raise Forbidden("your reputation is too low to bid here")
            signed = state.rules.signed_bids or signature is not None
            if signed:
                self._check_signed(
                    account, auction_id, amount, proxy_max, nonce, ts, signature, now
                )
            command = _new_place_bid(
                auction_id, account.id, amount, proxy_max, nonce, ts, signature, None, None
            )
            try:
                if mandate is not None:
                    command = self.mandated(command, *mandate)
                events = self._execute(command, now)
            except AuctionhouseError as caught:
                exc = self._in_money(caught, state)
                self.rejections[exc.code] += 1
                if signed and isinstance(nonce, int) and ts is not None and signature:
                    message = bid_message(auction_id, account.id, amount, nonce, ts, proxy_max)
                    # A copy: the raised error's traceback would keep its frames alive.
                    refused = Spent(auction_id, None, message, signature, copy.copy(exc))
                    self._nonces.remember(account.id, nonce, refused)
                if exc is caught:
                    raise
                raise exc from None
            if self._batch_depth == 0 and self.auto_flush:
                self.flush()
            if self._auctions.get(auction_id) is not state:  # apply folds in place: never
                return self._ack(events[0], state, now, close_due_at(state))
            return self._ack(events[0], state, now, self._timer_due.get(auction_id))

    def _in_money(self, exc: AuctionhouseError, state: AuctionState) -> AuctionhouseError:
        """A ``bid_too_low`` says its amounts as people read them (``€12.50``, Babel in the
        house's locale); its ``minimum`` field stays minor units for programs. Every number in
        the rules core's bid_too_low messages is an amount."""
        if not isinstance(exc, BidTooLow):
            return exc
        currency = state.rules.currency or self.config.currency
        locale = self.config.locale

        def shown(match: re.Match[str]) -> str:
            return format_amount(int(match.group()), currency, locale)

        return BidTooLow(re.sub(r"\b\d+\b", shown, exc.message), **exc.fields)

    def _answer_resend(
        self,
        account: Account,
        auction_id: str,
        amount: int,
        proxy_max: int | None,
        nonce: int | None,
        ts: float | None,
        signature: str,
    ) -> dict[str, Any] | None:
        """A byte-identical resend of a spent signed bid gets the first answer again: the
        original ack (rebuilt from the log, so also after a restart) or the original refusal.
        No bid, no strike; counted in ``resent_bids``. None: not such a resend."""
        if not isinstance(nonce, int) or isinstance(nonce, bool):
            return None
        spent = self._nonces.find(account.id, nonce)
        if spent is None or spent.auction_id != auction_id:
            return None
        if not isinstance(ts, int | float) or isinstance(ts, bool):
            return None
        message = bid_message(auction_id, account.id, amount, nonce, ts, proxy_max)
        if spent.seq is None:  # refused the first time: refused again, the same way
            if spent.message != message or spent.signature != signature:
                return None
            self.resent_bids += 1
            assert spent.error is not None
            raise copy.copy(spent.error)
        bid = self._events[auction_id][spent.seq - 1]
        assert isinstance(bid, BidPlaced) and bid.nonce is not None and bid.ts is not None
        first = bid_message(auction_id, bid.bidder, bid.amount, bid.nonce, bid.ts, bid.proxy_max)
        if bid.bidder != account.id or bid.signature != signature or first != message:
            return None
        self.resent_bids += 1
        return self._original_ack(bid)

    def _original_ack(self, bid: BidPlaced) -> dict[str, Any]:
        """The ack ``bid`` got: the auction replayed to the end of the bid's command (the bid,
        then a soft-close extension or a close decided with it, at the same instant)."""
        log = self._events[bid.auction_id]
        end = bid.seq
        while end < len(log) and log[end].at == bid.at:
            if not isinstance(log[end], DeadlineExtended | AuctionClosed):
                break
            end += 1
        state = replay(log[:end])
        assert state is not None
        return self._ack(bid, state, bid.at, close_due_at(state))

    def mandated(self, command: PlaceBid, digest: str, document: str) -> PlaceBid:
        """``command`` as a mobile agent's bid under the owner's signed mandate (seed 004):
        ``document`` must hash to ``digest``, its signature hold and the bid be within it
        (``ledger.mandate.bid_problem``), else ``InvalidMandate``/``OverMandate``/
        ``MandateExpired``. The mandate's text goes into the ledger with the agent's first bid
        in the auction, so the audit checks every agent bid against it."""
        mandate = self._mandates.get(digest)
        if mandate is None:
            try:
                raw = orjson.loads(document)
            except orjson.JSONDecodeError:
                raise InvalidMandate("the mandate is not JSON") from None
            if mandate_digest(raw) != digest:
                raise InvalidMandate("the mandate does not hash to its digest")
            mandate = self._mandates[digest] = parse_mandate(raw)
        now = self.clock.now()
        if now > mandate.return_by:
            raise MandateExpired(
                f"the agent's return-by time ({utc_time(mandate.return_by)}) has passed:"
                " it may not bid",
                return_by=mandate.return_by,
            )
        problem = bid_problem(mandate, command.bidder, command.amount, command.proxy_max, now)
        if problem is not None:
            raise OverMandate(f"the bid is outside the agent's mandate: {problem}")
        filed = any(
            type(e) is BidPlaced and e.mandate == digest and e.mandate_doc is not None
            for e in self._events.get(command.auction_id, ())
        )
        return replace(command, mandate=digest, mandate_doc=None if filed else mandate.text())

    def _check_signed(
        self,
        account: Account,
        auction_id: str,
        amount: int,
        proxy_max: int | None,
        nonce: int | None,
        ts: float | None,
        signature: str | None,
        now: float,
    ) -> None:
        """A signed bid's check (``_check_signature`` over ``bid_message`` of its fields)."""

        def verify_with(public_key: str) -> None:
            assert isinstance(nonce, int) and isinstance(ts, int | float) and signature
            bid = (auction_id, account.id, amount, nonce, ts, proxy_max)
            self._verify_signature(public_key, bid, signature)

        self._check_signature(account, nonce, ts, signature, now, verify_with)

    def _check_signature(
        self,
        account: Account,
        nonce: int | None,
        ts: float | None,
        signature: str | None,
        now: float,
        verify_with: Callable[[str], None],
        what: str = "bid",
        required: str = "this auction requires signed bids",
    ) -> None:
        """The rules of every signed command (bids, market orders and cancels, decision 0004):
        a registered key, a signature (else ``SignatureRequired``, with ``required`` as its
        message), an integer nonce >= 0 and a finite timestamp ``ts`` in seconds (else
        ``InvalidRequest``), ``verify_with(public_key)`` holding (it raises ``BadSignature``),
        a nonce above every nonce the account spent (``ReplayedNonce``; bids and orders share
        one sequence) and ``ts`` within ``skew_seconds`` of ``now`` (``StaleTimestamp``).
        Security failures are strikes; every refusal is counted. The nonce is spent once the
        signature holds, even if the rules then refuse the command."""
        account = self._signing_account(account)
        try:
            if account.public_key is None:
                raise SignatureRequired(f"register an Ed25519 public key to place signed {what}s")
            if signature is None:
                raise SignatureRequired(required)
            if not isinstance(nonce, int) or isinstance(nonce, bool) or nonce < 0:
                raise InvalidRequest(f"a signed {what} needs an integer nonce >= 0")
            if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
                raise InvalidRequest(f"a signed {what} needs a timestamp ts in seconds")
            verify_with(account.public_key)
            if nonce <= self._nonces.last(account.id):
                raise ReplayedNonce(
                    f"nonce {nonce} was used already by a different {what}; use one above"
                    f" {self._nonces.last(account.id)}"
                )
            if abs(ts - now) > self.config.skew_seconds:
                raise StaleTimestamp(
                    f"the {what}'s timestamp is more than {self.config.skew_seconds:g} s from"
                    " house time (GET /api/v1/time)",
                    server_time=now,
                )
        except SecurityError as exc:
            self.rejections[exc.code] += 1
            if not isinstance(exc, SignatureRequired):
                self.accounts.add_strike(account.id)  # counted now, written by the commit
                if self.auto_flush and self._batch_depth == 0:  # the plain sync API: now
                    self._write_strikes()
            raise
        except AuctionhouseError as exc:
            self.rejections[exc.code] += 1
            raise
        self._nonces.spend(account.id, nonce)

    def _signing_account(self, account: Account) -> Account:
        """The account whose key a signed command is checked against (the shared house reads
        it again when its cached copy has no key: one registered on another instance)."""
        return account

    def signature_check(
        self,
        bidder_id: str,
        auction_id: str,
        amount: int,
        *,
        proxy_max: int | None = None,
        nonce: int | None = None,
        ts: float | None = None,
        signature: str | None = None,
    ) -> SignatureCheck | None:
        """The check of this bid's signature (``place_bid``'s arguments) that a service can
        verify ahead, off the event loop, in a batch (house/verifier.py). None: unsigned, or
        nothing to check ahead (unknown account, no key, malformed fields: ``place_bid``
        refuses those itself, as before)."""
        if (
            signature is None
            or not isinstance(nonce, int)
            or isinstance(nonce, bool)
            or not isinstance(ts, int | float)
            or isinstance(ts, bool)
            or not math.isfinite(ts)
        ):
            return None
        try:
            account = self.accounts.get(bidder_id)
        except NotFound:
            return None
        bid = (auction_id, account.id, amount, nonce, ts, proxy_max)
        return make_check(account.public_key, bid, signature)

    @contextmanager
    def verdicts(self, checks: list[SignatureCheck]) -> Iterator[None]:
        """Within: trust these checks' verdicts for exactly their key, bytes and signature."""
        self._verdicts = {c.signature: c for c in checks if c.valid is not None}
        try:
            yield
        finally:
            self._verdicts = {}

    def _verify_signature(
        self,
        public_key: str,
        bid: tuple[str, str, int, int, float | int, int | None],
        signature: str,
    ) -> None:
        """Raise ``BadSignature`` unless ``signature`` (hex) holds for the canonical bytes of
        ``bid`` (``bid_message``'s arguments): the verdict of a check verified ahead for
        exactly this bid, key and signature, else verified here."""
        check = self._verdicts.get(signature)
        if check is not None and check.public_key == public_key and check.same_bid(bid):
            if check.valid:
                return
            raise mismatch()
        verify(self._verify_key(public_key), bid_message(*bid), signature)

    def _verify_message(self, public_key: str, message: bytes, signature: str) -> None:
        """Raise ``BadSignature`` unless ``signature`` (hex) holds for ``message`` (a market
        order's or cancel's signed bytes): a verdict verified ahead for exactly these bytes and
        key (``verdicts``), else verified here."""
        check = self._verdicts.get(signature)
        if check is not None and check.public_key == public_key and check.message == message:
            if check.valid:
                return
            raise mismatch()
        verify(self._verify_key(public_key), message, signature)

    def _verify_key(self, public_key: str) -> VerifyKey:
        key = self._verify_keys.get(public_key)
        if key is None:
            if len(self._verify_keys) >= 4096:  # a cache, not an index: keep it small
                self._verify_keys.clear()
            key = self._verify_keys[public_key] = parse_public_key(public_key)
        return key

    def _ack(
        self, bid: Event, state: AuctionState, now: float, due: float | None
    ) -> dict[str, Any]:
        """What a bidder is told once its bid is durable: the public facts only (built straight
        from the state: this is on every bid's path, a full public view is not needed). Once
        the auction is closed, price and leader are the outcome's (None when unsold). ``due``:
        ``close_due_at(state)`` (the live state's is kept by ``_index``)."""
        result = result_view(state)
        ack: dict[str, Any] = {
            "auction": state.auction_id,
            "seq": bid.seq,
            "accepted": True,
            "bid_count": len(state.bids),
            "state": phase_with_due(state, now, due).value,
            "closes_at": state.closes_at,
        }
        if result is not None:
            if not state.method.sealed:
                ack["price"] = result["price"]
                ack["leader"] = result["winner"]
        elif not state.method.sealed:
            ack["price"] = state.price if state.leader is not None else None
            ack["leader"] = state.leader
        ack["result"] = result
        return ack

    def cancel_auction(self, account_id: str, auction_id: str, reason: str = "") -> dict[str, Any]:
        account = self._account(account_id)
        with self._lock:
            state = self._state(auction_id)
            self._close_if_due(state, self.clock.now())
            cmd = CancelAuction(auction_id, account.id, account.is_admin, reason)
            self._run(cmd, self.clock.now())
            return self.view(auction_id)

    def pause_auction(self, account_id: str, auction_id: str) -> dict[str, Any]:
        account = self._account(account_id)
        with self._lock:
            state = self._state(auction_id)
            self._close_if_due(state, self.clock.now())
            self._run(PauseAuction(auction_id, account.id, account.is_admin), self.clock.now())
            return self.view(auction_id)

    def resume_auction(self, account_id: str, auction_id: str) -> dict[str, Any]:
        account = self._account(account_id)
        with self._lock:
            self._state(auction_id)
            self._run(ResumeAuction(auction_id, account.id, account.is_admin), self.clock.now())
            return self.view(auction_id)

    def _state(self, auction_id: str) -> AuctionState:
        if not isinstance(auction_id, str):
            raise NotFound("no such auction")
        state = self._auctions.get(auction_id)
        if state is None:
            raise NotFound(f"no auction {auction_id!r}")
        return state

    def _close_if_due(self, state: AuctionState, now: float) -> None:
        due = self._timer_due.get(state.auction_id)  # close_due_at(state), kept by _index
        if due is not None and now >= due:
            self._run(CloseAuction(state.auction_id), now)

    # ------------------------------------------------------------------ timers

    def tick(self) -> list[Event]:
        """Close every auction that is due at the clock's now; returns the close events."""
        now = self.clock.now()
        closed: list[Event] = []
        if self.read_only:  # an auction past its close stays as the ledger left it
            return closed
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                _, aid = heapq.heappop(self._timers)
                state = self._auctions[aid]
                due = close_due_at(state)
                if due is None:
                    self._timer_due.pop(aid, None)
                    continue
                if due > now:  # moved later by a bid, an extension or a pause
                    if self._timer_due.get(aid) != due:
                        self._timer_due[aid] = due
                        heapq.heappush(self._timers, (due, aid))
                    continue
                self._timer_due.pop(aid, None)
                closed.extend(self._execute(CloseAuction(aid), now))
            closed.extend(self.markets.tick(now))
            if self.auto_flush and self._batch_depth == 0:
                self.flush()
        return closed

    def next_wakeup(self) -> float | None:
        """The earliest time a timer may have work (a hint; ``tick`` re-checks)."""
        market = self.markets.next_wakeup()
        auction = self._timers[0][0] if self._timers else None
        if market is None or auction is None:
            return auction if market is None else market
        return min(auction, market)

    # ------------------------------------------------------------------ reads

    def view(self, auction_id: str, viewer: str | None = None) -> dict[str, Any]:
        state = self._state(auction_id)
        view = public_view(state, self.clock.now())
        if viewer is not None:
            view["you"] = self._private_view(state, viewer)
        return view

    def _private_view(self, state: AuctionState, viewer: str) -> dict[str, Any]:
        """What one account may see of its own part: its bids, its maximum, a seller's reserve."""
        mine = [b.amount for b in state.bids if b.bidder == viewer]
        you: dict[str, Any] = {
            "is_seller": viewer == state.seller,
            "bids": mine,
            "leading": state.leader == viewer if not state.method.sealed else None,
            "won": state.winner == viewer if state.outcome is not None else None,
        }
        if state.method is Method.ENGLISH and viewer in state.maxima:
            you["max"] = state.maxima[viewer]
        if viewer == state.seller:
            you["reserve_price"] = state.rules.reserve_price
        return you

    def state(self, auction_id: str) -> AuctionState:
        """The full state (secrets included): for the house's own faces and tests only."""
        return self._state(auction_id)

    def auction_ids(self) -> list[str]:
        return list(self._auctions)

    def list_auctions(
        self,
        *,
        state: str | None = None,
        method: str | None = None,
        seller: str | None = None,
        bidder: str | None = None,
        limit: int = 100,
        offset: int = 0,
        viewer: str | None = None,
        query: str | None = None,
        sort: str = "newest",
    ) -> list[dict[str, Any]]:
        """Public views of the auctions passing the filters (``find_auctions``)."""
        return self.find_auctions(
            state=state,
            method=method,
            seller=seller,
            bidder=bidder,
            limit=limit,
            offset=offset,
            viewer=viewer,
            query=query,
            sort=sort,
        )[0]

    def count_auctions(
        self,
        *,
        state: str | None = None,
        method: str | None = None,
        seller: str | None = None,
        bidder: str | None = None,
        viewer: str | None = None,
        query: str | None = None,
    ) -> int:
        """How many auctions ``list_auctions`` would list with these filters, without a limit."""
        return self.find_auctions(
            state=state,
            method=method,
            seller=seller,
            bidder=bidder,
            viewer=viewer,
            query=query,
            limit=0,
        )[1]

    def find_auctions(
        self,
        *,
        state: str | None = None,
        method: str | None = None,
        seller: str | None = None,
        bidder: str | None = None,
        limit: int = 100,
        offset: int = 0,
        viewer: str | None = None,
        query: str | None = None,
        sort: str = "newest",
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of public views and how many auctions pass the filters in all.

        ``query``: words every match has in its item name or description (full-text, word
        prefixes, case and accents ignored: ledger/search.py); ``sort``: one of
        ``listing.SORTS`` (newest first by default). Who bid in a sealed auction is secret
        until it closes, so the ``bidder`` filter shows open sealed auctions only to that
        bidder (``viewer``). Raises ``InvalidRequest`` for a bad filter, sort or query."""
        for name, number in (("limit", limit), ("offset", offset)):
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise InvalidRequest(f"{name} must be a whole number >= 0")
        filters = Filters(state, method, seller, bidder, viewer, query, sort)
        filters.check()
        now = self.clock.now()
        searched = query.strip() if query is not None else ""
        # Words are matched in memory (listing.WordIndex: the same words as the store's
        # full-text index, by the store contract suite), 50x faster than reading every match
        # out of the store's index and one answer whatever the sort and filters.
        terms = query_terms(searched) if searched else None
        with self._lock:
            listing = self._listing
            assert listing is not None, "built when the house opens"
            page, total = listing.page(filters, now, limit=limit, offset=offset, terms=terms)
            return [public_view(s, now) for s in page], total

    def _index_items(self) -> None:
        """Index the items the store's search index lacks (a ledger written before it had
        one, a migrated one); a read-only house writes nothing (lists search in memory)."""
        if self.read_only:
            return
        items = [
            ItemText(aid, s.item_name, s.item_description) for aid, s in self._auctions.items()
        ]
        added = self.ledger.index_missing(items)
        if added:
            log.info("indexed %d items for search", added)

    def events(
        self, auction_id: str, after: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The public view of an auction's log after sequence ``after``: at most ``limit``
        events (None: all), in seq order. Raises NotFound, InvalidRequest."""
        state = self._state(auction_id)
        for name, number in (("after", after), ("limit", limit)):
            if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
                raise InvalidRequest(f"{name} must be a whole number")
        start = max(0, after)
        stop = None if limit is None else start + max(0, limit)
        revealed = state.outcome is not None
        return [
            public_event(e, state.method, revealed) for e in self._events[auction_id][start:stop]
        ]

    def counts(self) -> dict[str, Any]:
        """Auctions by state and by outcome, and resent bids answered again (for metrics)."""
        now = self.clock.now()
        by_state: Counter[str] = Counter()
        by_outcome: Counter[str] = Counter()
        for s in self._auctions.values():
            by_state[s.phase(now).value] += 1
            if s.outcome is not None:
                by_outcome[s.outcome.value] += 1
        return {
            "by_state": dict(by_state),
            "by_outcome": dict(by_outcome),
            "resent_bids": self.resent_bids,
        }

    def outcome(self, auction_id: str) -> Outcome | None:
        return self._state(auction_id).outcome


def house_key(store: Store, key_file: Path, read_only: bool) -> HouseKey | None:
    """The house key for ``store``: loaded, or created only for a ledger that recorded nothing.

    A missing key is never replaced on a ledger with records: every seal, signed record and
    account row was signed with it, so a new key would turn an intact ledger into thousands of
    findings. Read-only: the key is optional (signatures are then checked against the key the
    database records, which is weaker).
    """
    if key_file.exists():
        return HouseKey.load(key_file)
    if read_only:
        return None
    recorded = store.get_meta(META_PUBLIC_KEY)
    if recorded is None and store.count() == 0 and store.last_checkpoint() is None:
        return HouseKey.load_or_create(key_file)
    raise HouseKeyMissing(
        f"the house key {key_file} is missing, and this ledger ({store.count()} events) was"
        f" signed with key {(recorded or '?')[:16]}...: restore the key file from your backup"
        " (docs/operations.md, 'The house key'), or inspect the ledger with serve --read-only"
    )
