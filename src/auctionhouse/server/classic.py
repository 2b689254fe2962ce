"""The classic line protocol of seed 003: one auction at a time over plain TCP lines.

The first client to connect is the Seller and sends ``type min_price #bids name``; then exactly
#bids Buyers connect (anyone else is told the server is busy), each submits one bid, everyone gets
the result and is disconnected, and the server waits for the next Seller. docs/classic.md has the
transcripts and what happens when someone disconnects.

Each round is a real sealed-bid auction in an ``AuctionHouse`` (FPSB for type 1, Vickrey for
type 2, the minimum price as ``reserve_price``, #bids as ``expected_bids``), so the rules core
decides the result and the ledger records it. The house is a sync object used only from the event
loop's thread: every connection's handler runs the state machine below between awaits, so no two
handlers ever see a half-made change.

Classic accounts (``classic-seller-<n>``, ``classic-buyer-<n>-<k>``, ``classic-admin``) get random
256-bit passwords that nobody ever learns; slow argon2 protects guessable human passwords and buys
nothing here, so the classic house hashes with cheap settings and account creation takes well
under a millisecond on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import re
import secrets
import signal
import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from auctionhouse.auction import Outcome
from auctionhouse.client.text import safe_text
from auctionhouse.errors import AuctionhouseError, ConfigError, Conflict, InvalidRequest
from auctionhouse.house import AuctionHouse, HouseConfig
from auctionhouse.server import classic_protocol as say
from auctionhouse.server.classic_protocol import AuctionRequest, dollars, parse_bid, parse_request
from auctionhouse.times import local_times

ADMIN = "classic-admin"
SELLER_NAME = re.compile(r"classic-seller-([0-9]+)(?:\.[0-9]+)?")  # fullmatch only
# Random passwords of 256 bits: argon2's cost adds nothing (module docstring).
CLASSIC_HOUSE_CONFIG = HouseConfig(argon2_time_cost=1, argon2_memory_kib=64)

Printer = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ClassicLimits:
    """What one slow or silent client may hold (docs/operations.md, "Limits and timeouts").

    ``idle_seconds``: a client the auctioneer is waiting on (the seller before its request, a
    buyer before its bid) that sends no line for this long is disconnected, so one silent
    connection cannot keep the auctioneer busy for everyone. ``send_seconds``: a client that
    takes none of the server's output for this long is cut. ``max_connections``: connections
    at once (a round needs at most 1 + MAX_BUYERS); beyond it a client is told and let go.
    Lines are at most ``classic_protocol.MAX_LINE`` bytes."""

    idle_seconds: float = 300.0
    send_seconds: float = 20.0
    max_connections: int = 128
    # Bytes of output a client may leave unread before it is cut.
    max_unread_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        for name in ("idle_seconds", "send_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < 10**7:
                raise ConfigError(f"{name} must be a number of seconds > 0")
        if not isinstance(self.max_connections, int) or self.max_connections < 1:
            raise ConfigError("max_connections must be a whole number >= 1")


def _print(line: str) -> None:
    print(line, flush=True)


class Phase(enum.Enum):
    REQUEST = "waiting for the seller's request"
    WAITING = "waiting for buyers"
    BIDDING = "bidding"


@dataclass(eq=False)
class Client:
    """One TCP connection and what it is in the current round."""

    writer: asyncio.StreamWriter
    peer: str
    number: int = 0  # a buyer's number in its round ("Buyer 2")
    account: str = ""
    bid: int | None = None  # whole dollars, once placed
    hung_up: bool = False
    max_unread: int = 1 << 20
    last_heard: float = 0.0  # loop time of the last line received (or of the connection)

    def send(self, *lines: str) -> None:
        if self.hung_up or self.writer.is_closing():
            return
        # Lines quote item names other users typed: each reaches the terminal as text only.
        self.writer.write(("\n".join(safe_text(line) for line in lines) + "\n").encode())
        if self.writer.transport.get_write_buffer_size() > self.max_unread:
            self.cut()  # it does not read what it is sent

    def hang_up(self) -> None:
        self.hung_up = True
        if not self.writer.is_closing():
            self.writer.close()

    def cut(self) -> None:
        """Disconnect at once, dropping unsent output (a client that does not read); its
        handler then sees the end of the stream and the round handles the disconnection."""
        self.writer.transport.abort()


@dataclass(eq=False)
class Round:
    """One seller's auction, from its connection to the result."""

    seller: Client
    phase: Phase = Phase.REQUEST
    request: AuctionRequest | None = None
    auction_id: str = ""
    number: int = 0
    buyers: list[Client] = field(default_factory=list)
    joined: int = 0  # buyers that ever joined: numbers stay unique when one leaves early

    @property
    def everyone(self) -> list[Client]:
        return [self.seller, *self.buyers]


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


class ClassicServer:
    """The seed's auctioneer as a state machine over connections; ``handle`` is the
    ``asyncio.start_server`` callback."""

    def __init__(
        self, house: AuctionHouse, *, out: Printer = _print, limits: ClassicLimits | None = None
    ) -> None:
        self.house = house
        self.out = out
        self.limits = limits or ClassicLimits()
        self.round: Round | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._admin = self._ensure_admin()
        self._next_round = 1 + max(
            (int(m.group(1)) for a in house.accounts.all_ids() if (m := SELLER_NAME.fullmatch(a))),
            default=0,
        )
        self._cancel_leftovers()

    # ------------------------------------------------------------------ accounts

    def _ensure_admin(self) -> str:
        if self.house.accounts.exists(ADMIN):
            if not self.house.accounts.get(ADMIN).is_admin:
                raise ConfigError(f"the account {ADMIN!r} exists in this database but is no admin")
        else:
            self.house.create_account(ADMIN, secrets.token_urlsafe(32), role="admin")
        return ADMIN

    def _fresh_account(self, name: str) -> str:
        """Create ``name`` (or ``name.2``, ... if taken) with a random password."""
        for attempt in range(1, 100):
            candidate = name if attempt == 1 else f"{name}.{attempt}"
            try:
                return self.house.create_account(candidate, secrets.token_urlsafe(32)).id
            except Conflict:
                continue
        raise Conflict(f"no free account name like {name!r}")

    def _cancel_leftovers(self) -> None:
        """A classic auction still open at start was cut off by a crash: nobody is connected to
        it any more, so it is cancelled (and its chain sealed) rather than left open forever."""
        for aid in self.house.auction_ids():
            state = self.house.state(aid)
            if state.outcome is None and SELLER_NAME.fullmatch(state.seller):
                self.house.cancel_auction(self._admin, aid, "the classic server restarted")
                self.out(f">> Auction {aid} was left open by an earlier run: cancelled")

    def _cancel(self, round_: Round, by: str, reason: str) -> bool:
        """Cancel the round's auction if it is open; true if it was."""
        if not round_.auction_id or self.house.outcome(round_.auction_id) is not None:
            return False
        try:
            self.house.cancel_auction(by, round_.auction_id, reason)
        except AuctionhouseError as exc:
            self.out(f">> Could not cancel auction {round_.auction_id}: {exc.code}: {exc.message}")
            return False
        self.out(f">> Auction {round_.auction_id} cancelled: {reason}")
        return True

    # ------------------------------------------------------------------ connections

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        loop = asyncio.get_running_loop()
        limits = self.limits
        client = Client(writer, _peer(writer), max_unread=limits.max_unread_bytes)
        client.last_heard = loop.time()
        # Idle clients are checked a few times per idle period (a cancelled readline keeps
        # what it has read in the stream's buffer).
        check = min(1.0, limits.idle_seconds / 4)
        try:
            if len(self._handlers) > limits.max_connections:
                client.send(say.CONNECTED, "", say.TOO_MANY)
                client.hang_up()
                self.out(f">> Too many connections: refused {client.peer}")
                return
            self._guarded(self.on_connect, client)
            while not client.hung_up:
                try:
                    raw = await asyncio.wait_for(reader.readline(), check)
                except TimeoutError:
                    if (
                        self._awaits(client)
                        and loop.time() - client.last_heard > limits.idle_seconds
                    ):
                        self.out(f">> No line from {client.peer} for {limits.idle_seconds:g} s")
                        client.send("", say.IDLE.format(seconds=f"{limits.idle_seconds:g}"))
                        break
                    continue
                except ValueError:  # a line over the stream limit; the stream skips past it
                    self._guarded(self.on_line, client, None)
                    continue
                if not raw:
                    break
                client.last_heard = loop.time()
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                self._guarded(self.on_line, client, text)
                try:
                    await asyncio.wait_for(writer.drain(), limits.send_seconds)
                except TimeoutError:
                    self.out(f">> {client.peer} reads nothing: disconnected")
                    client.cut()
        except (ConnectionError, OSError):
            pass
        finally:
            self._guarded(self.on_disconnect, client)
            client.hang_up()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._handlers.discard(task)

    def _guarded(self, step: Callable[..., None], *args: object) -> None:
        """Run one step of the state machine; an unexpected failure (a full disk, a bug) ends
        the round with a message to its clients instead of leaving it stuck or the server down."""
        try:
            step(*args)
        except Exception as exc:
            self.out(f">> Error: {type(exc).__name__}: {exc}")
            round_ = self.round
            if round_ is not None:
                with contextlib.suppress(Exception):
                    self._cancel(round_, self._admin, "the classic server hit an error")
                self._end_round(say.FAILED, say.GOODBYE)
            for client in args:
                if isinstance(client, Client):  # also one that was not in the round yet
                    client.send("", say.FAILED, say.GOODBYE)
                    client.hang_up()

    def _awaits(self, client: Client) -> bool:
        """Whether the round is waiting on a line from ``client`` (so it may not stay idle)."""
        round_ = self.round
        if round_ is None or client.hung_up:
            return False
        if client is round_.seller:
            return round_.phase is Phase.REQUEST
        return round_.phase is Phase.BIDDING and client in round_.buyers and client.bid is None

    def on_connect(self, client: Client) -> None:
        round_ = self.round
        if round_ is None:
            self.round = Round(seller=client)
            self.out(f"Seller is connected from {client.peer}")
            client.send(say.CONNECTED, "", say.ROLE_SELLER, say.REQUEST_PROMPT)
        elif (
            round_.phase is Phase.WAITING
            and round_.request is not None
            and len(round_.buyers) < round_.request.buyers
        ):
            self._join_buyer(round_, client)
        else:
            client.send(say.CONNECTED, "", say.BUSY)
            client.hang_up()
            self.out(f">> Server is busy ({round_.phase.value}): refused {client.peer}")

    def on_line(self, client: Client, line: str | None) -> None:
        """``line`` is ``None`` for a line over the length limit."""
        round_ = self.round
        if round_ is None or client.hung_up:
            return
        if client is round_.seller:
            if round_.phase is Phase.REQUEST:
                self._take_request(round_, line)
            else:
                client.send(say.SELLER_WAIT)
        elif client in round_.buyers:
            if round_.phase is Phase.WAITING:
                client.send(say.NOT_YET)
            elif client.bid is not None:
                client.send(say.ALREADY_BID)
            else:
                self._take_bid(round_, client, line)

    def on_disconnect(self, client: Client) -> None:
        round_ = self.round
        if round_ is None or client.hung_up:
            return  # a busy refusal, or a client of a round that is over
        client.hung_up = True
        if client is round_.seller:
            if round_.phase is Phase.REQUEST:
                self.out("Seller disconnected before sending a request.")
                self._end_round()
            elif round_.phase is Phase.WAITING:
                self.out("Seller disconnected before the bidding.")
                self._cancel(round_, round_.seller.account, "the seller disconnected")
                self._end_round(say.SELLER_LEFT, say.GOODBYE)
            else:
                self.out("Seller disconnected; the bidding goes on.")
        elif client in round_.buyers:
            if round_.phase is Phase.WAITING:
                round_.buyers.remove(client)
                self.out(f"Buyer {client.number} disconnected. Now waiting for another Buyer.")
            elif client.bid is None:
                self.out(f"Buyer {client.number} disconnected before bidding.")
                self._cancel(round_, self._admin, f"buyer {client.number} disconnected")
                self._end_round(say.BUYER_LEFT, say.GOODBYE)
            else:
                self.out(f"Buyer {client.number} disconnected after bidding.")

    # ------------------------------------------------------------------ the round

    def _take_request(self, round_: Round, line: str | None) -> None:
        seller = round_.seller
        try:
            request = parse_request(line)
            if not seller.account:  # once per round, even if the auction is refused below
                round_.number, self._next_round = self._next_round, self._next_round + 1
                seller.account = self._fresh_account(f"classic-seller-{round_.number}")
            view = self.house.create_auction(
                seller.account,
                request.item,
                request.method,
                request.rules(),
                description=f"classic auction (seed 003), type {request.kind}",
            )
        except AuctionhouseError as exc:
            seller.send(f"Server: {local_times(exc.message)}", say.REQUEST_PROMPT)
            return
        round_.request, round_.auction_id = request, view["id"]
        round_.phase = Phase.WAITING
        seller.send(say.AUCTION_START)
        self.out("Auction request received. Now waiting for Buyers.")
        self.out(
            f">> Auction {view['id']}: {request.method} for {request.item!r}, minimum price "
            f"${request.min_price}, {request.buyers} buyer(s), seller {seller.account}"
        )

    def _join_buyer(self, round_: Round, client: Client) -> None:
        round_.joined += 1
        client.number = round_.joined
        try:
            client.account = self._fresh_account(f"classic-buyer-{round_.number}-{client.number}")
        except AuctionhouseError as exc:
            client.send(say.CONNECTED, "", f"Server: {local_times(exc.message)}")
            client.hang_up()
            return
        round_.buyers.append(client)
        client.send(say.CONNECTED, "", say.ROLE_BUYER, say.WAITING_FOR_BUYERS)
        self.out(f"Buyer {client.number} is connected from {client.peer}")
        assert round_.request is not None
        if len(round_.buyers) == round_.request.buyers:
            round_.phase = Phase.BIDDING
            self.out("Requested number of bidders arrived. Let's start bidding!")
            for buyer in round_.buyers:
                buyer.send("", say.BIDDING_STARTED, say.BID_PROMPT)

    def _take_bid(self, round_: Round, buyer: Client, line: str | None) -> None:
        try:
            amount = parse_bid(line)
            self.house.place_bid(buyer.account, round_.auction_id, amount * say.CENTS)
        except InvalidRequest as exc:
            buyer.send(f"Server: {local_times(exc.message)}", say.BID_PROMPT)
            return
        except AuctionhouseError as exc:
            buyer.send(f"Server: Bid refused: {local_times(exc.message)}", say.BID_PROMPT)
            return
        buyer.bid = amount
        buyer.send(say.BID_RECEIVED)
        self.out(f">> Buyer {buyer.number} bid ${amount}")
        if all(b.bid is not None for b in round_.buyers):
            self._announce(round_)

    def _announce(self, round_: Round) -> None:
        """The core closed the auction with the last expected bid: tell everyone its result."""
        assert round_.request is not None
        state = self.house.state(round_.auction_id)
        item = round_.request.item
        top = max(b.bid or 0 for b in round_.buyers)
        price = dollars(state.final_price or 0)
        if state.outcome is Outcome.SOLD:
            self.out(f">> Item sold! The highest bid is ${top}. The actual payment is {price}")
            round_.seller.send(
                "", say.SELLER_FINISHED, say.SELLER_SOLD.format(item=item, price=price), say.GOODBYE
            )
            for buyer in round_.buyers:
                verdict = (
                    say.WINNER.format(item=item, price=price)
                    if buyer.account == state.winner
                    else say.LOSER
                )
                buyer.send("", say.BUYER_FINISHED, verdict, say.GOODBYE)
        else:
            self.out(
                f">> Item not sold! The highest bid is ${top}, below the minimum price "
                f"${round_.request.min_price}."
            )
            round_.seller.send("", say.SELLER_FINISHED, say.SELLER_NOT_SOLD, say.GOODBYE)
            for buyer in round_.buyers:
                buyer.send("", say.BUYER_FINISHED, say.BUYER_NOT_SOLD, say.GOODBYE)
        outcome = state.outcome.value if state.outcome else "open"
        self.out(f">> Auction {round_.auction_id} closed in the ledger: {outcome}")
        self._end_round()

    def _end_round(self, *farewell: str) -> None:
        round_, self.round = self.round, None
        if round_ is not None:
            for client in round_.everyone:
                if farewell:
                    client.send("", *farewell)
                client.hang_up()
        self.out("Waiting for the next Seller.")

    # ------------------------------------------------------------------ shutdown

    async def shutdown(self) -> None:
        """Cancel the auction under way, say goodbye to everyone and wait for the handlers."""
        round_ = self.round
        if round_ is not None:
            self.out("Auctioneer is shutting down.")
            farewell = say.SHUTTING_DOWN
            if self._cancel(round_, self._admin, "the classic server shut down"):
                farewell = f"{farewell} {say.CANCELLED}"
            self.round = None
            for client in round_.everyone:
                client.send("", farewell, say.GOODBYE)
                client.hang_up()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)


# ---------------------------------------------------------------------- the command


def default_db() -> Path:
    """The classic server's own SQLite file in the user data dir (not the HTTP server's: two
    processes must not write one ledger)."""
    from platformdirs import user_data_path

    return user_data_path("auctionhouse") / "classic.db"


def parse_port(text: str) -> int:
    """A TCP port 0-65535 (0: any free port, printed at start), else ``InvalidRequest``."""
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit() or int(stripped) > 65535:
        raise InvalidRequest(f"PORT must be a whole number from 0 to 65535, not {text!r}")
    return int(stripped)


def open_house(db: Path) -> AuctionHouse:
    try:
        return AuctionHouse.open(db, config=CLASSIC_HOUSE_CONFIG)
    except AuctionhouseError:
        raise
    except (OSError, sqlite3.Error, ValueError) as exc:
        raise ConfigError(f"cannot open the database {str(db)!r}: {exc}") from None


def _listen_error(host: str, port: int, exc: OSError) -> ConfigError:
    if isinstance(exc, socket.gaierror):
        return ConfigError(f"cannot resolve the host {host!r}")
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(f"port {port} on {host} is in use")
    if exc.errno == errno.EACCES:
        return ConfigError(f"no permission to listen on port {port} on {host}")
    return ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


async def run(
    house: AuctionHouse,
    host: str,
    port: int,
    db: Path,
    out: Printer = _print,
    limits: ClassicLimits | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; raise ``ConfigError`` if the port cannot be had."""
    auctioneer = ClassicServer(house, out=out, limits=limits)
    try:
        tcp = await asyncio.start_server(auctioneer.handle, host, port, limit=say.MAX_LINE)
    except OSError as exc:
        raise _listen_error(host, port, exc) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bound = tcp.sockets[0].getsockname()
    out(f"Listening on {bound[0]}:{bound[1]} (ledger {db})")
    out("Auctioneer is ready for hosting auctions!")
    try:
        await stop.wait()
    finally:
        tcp.close()
        await auctioneer.shutdown()
        await tcp.wait_closed()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def serve(
    port: str,
    db: Path | None = None,
    host: str = "127.0.0.1",
    limits: ClassicLimits | None = None,
) -> None:
    """``auctionhouse classic serve``: open the house, serve, close the house cleanly."""
    number = parse_port(port)
    path = db if db is not None else default_db()
    house = open_house(path)
    try:
        asyncio.run(run(house, host, number, path, limits=limits))
    finally:
        house.close()
    _print("Auctioneer stopped.")
