"""``auctionhouse demo``: agents trading on a real house, and the seed scenarios.

- ``demo`` (the main demo): a house on its embedded default (an SQLite file) served over HTTP and
  WebSocket on a loopback port; seller agents list items in all four methods; bidder agents with
  mixed strategies (one evolved by the simulator) bid over the network with signed bids; a live
  view, the results, and the audit of the ledger. ``--web`` keeps the house up afterwards.
- ``demo agents`` (seed 000): the seed's house settings and its three smart bidders.
- ``demo holonic`` (seed 001): an auctioneer holon and its bidders, on the agent runtime.

The house runs in this process (uvicorn on its own thread and event loop); the agents reach it
through ``auctionhouse.client`` over real sockets, exactly as remote agents do.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auctionhouse.client.text import safe_text
from auctionhouse.commands.core import console, money

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from auctionhouse.agents.scenarios import Cast, Scenario
    from auctionhouse.house import HouseConfig

demo_app = typer.Typer(
    help="Run demonstrations: agents trading on a live house, and smaller scenarios.",
    invoke_without_command=True,
    no_args_is_help=False,
)

PASSWORD = "demo-agent-password"

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite ledger file (default: a new temporary one).")
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Seed of the agents' randomness.")]
DurationOption = Annotated[
    float, typer.Option("--duration", help="Seconds each timed auction runs.")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the results as JSON (no live view).")
]


class HouseServer:
    """``auctionhouse serve`` inside this process: uvicorn on a loopback port (0: a free one) on
    its own thread and event loop, so agents on the main loop reach it over real sockets."""

    def __init__(self, db: Path, house: HouseConfig, *, port: int = 0) -> None:
        from auctionhouse.server.config import ServerConfig

        self.config = ServerConfig(
            host="127.0.0.1",
            port=port,
            db=db,
            house=house,
            log_level="warning",
            graceful_seconds=1.0,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> str:
        import uvicorn

        from auctionhouse.errors import ConfigError
        from auctionhouse.server.app import create_app
        from auctionhouse.server.run import check_database, uvicorn_config

        check_database(self.config)
        self._server = uvicorn.Server(uvicorn_config(self.config, create_app(self.config)))
        self._thread = threading.Thread(target=self._server.run, name="house-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the house server did not start on {self.config.host}")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.config.host}:{port}"
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)

    def __enter__(self) -> HouseServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def demo_house_config(**settings: Any) -> HouseConfig:
    from auctionhouse.house import HouseConfig

    # Cheap password hashing: the demo creates a dozen accounts in a second. Every agent of
    # the demo comes from the same loopback address: the per-address limit is lifted for it.
    values: dict[str, Any] = {
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8_192,
        "address_rate": 10_000.0,
        "address_burst": 20_000.0,
    }
    return HouseConfig(**(values | settings))


async def run_cast(url: str, cast: Cast, *, out: Console | None, timeout: float) -> Scenario:
    """Run ``cast`` against the house at ``url``, every agent with its own account, Ed25519
    key and connection; draw a live view on ``out`` (None: quiet)."""
    from auctionhouse.agents.remote import RemoteMarket
    from auctionhouse.agents.runtime import Runtime
    from auctionhouse.agents.scenarios import Scenario
    from auctionhouse.client import BidKey

    async def market_for(name: str) -> RemoteMarket:
        return RemoteMarket(url, name, PASSWORD, key=BidKey.generate(), create_account=True)

    async with Runtime(seed=cast.seed) as runtime:
        scenario = Scenario(runtime, cast, market_for)
        if out is None:
            await scenario.start(timeout)
            await scenario.wait_done(timeout)
            return scenario
        from rich.live import Live

        with Live(render_live(scenario), console=out, refresh_per_second=8, transient=True) as live:
            await scenario.start(timeout)
            deadline = time.monotonic() + timeout
            while not scenario.done and time.monotonic() < deadline:
                live.update(render_live(scenario))
                await asyncio.sleep(0.125)
            live.update(render_live(scenario))
        await scenario.wait_done(1.0)
        return scenario


def _cell(value: object) -> str:
    """Text from agents and accounts, for Rich: shown as text, never as markup."""
    return safe_text(value, markup=True)


def render_live(scenario: Scenario) -> RenderableType:
    from rich.console import Group
    from rich.table import Table

    now = time.time()
    table = Table(title=scenario.cast.title, expand=False)
    for column in ("#", "seller", "item", "method", "state", "price", "leader", "bids", "left"):
        table.add_column(column, justify="right" if column in ("price", "bids", "left") else "left")
    for seller, view in scenario.auctions():
        if view.result is not None:
            state = view.result.outcome.replace("_", " ")
            price, leader = money(view.result.price), view.result.winner or "-"
        else:
            state = view.state
            price = "sealed" if view.sealed else money(view.clock_price(now) or view.price)
            leader = "-" if view.sealed else view.leader or "-"
        remaining = view.remaining(now)
        left = "-" if remaining is None or view.closed else f"{remaining:.1f}s"
        table.add_row(
            _cell(view.auction_id),
            _cell(seller),
            _cell(view.item),
            _cell(view.method),
            _cell(state),
            _cell(price),
            _cell(leader),
            _cell(str(view.bid_count)),
            _cell(left),
        )
    feed = [_cell(f"{r.auction_id:>3} {r.message}") for r in scenario.feed[-6:]]
    return Group(table, render_bidders(scenario), *feed)


def render_bidders(scenario: Scenario) -> RenderableType:
    from rich.table import Table

    table = Table(title="bidders")
    for column in ("bidder", "strategy", "budget", "bids", "items won", "spent"):
        table.add_column(
            column, justify="right" if column in ("budget", "bids", "spent") else "left"
        )
    items = {view.auction_id: view.item for _, view in scenario.auctions()}
    for name, row in scenario.spending().items():
        won = [f"{items.get(aid, '?')} (#{aid})" for aid in sorted(row["won"], key=_number)]
        table.add_row(
            _cell(name),
            _cell(row["strategy"]),
            _cell(money(row["budget"])),
            _cell(str(row["bids"])),
            _cell(", ".join(won) or "-"),
            _cell(money(row["spent"])),
        )
    return table


def _number(auction_id: str) -> tuple[int, str]:
    """Auction ids in the order they were made (numbers as numbers: 2 before 10)."""
    return (int(auction_id), "") if auction_id.isdigit() else (10**18, auction_id)


def outcome_words(outcome: str | None, bidders: int, min_bidders: int | None) -> str:
    """Why a lot sold or not, in words."""
    if outcome is None:
        return "running"
    if outcome == "sold":
        return "sold"
    reasons = {
        "no_bids": "not sold: no bids",
        "reserve_not_met": "not sold: reserve not met",
        "cancelled": "cancelled by the seller",
    }
    if outcome == "too_few_bidders":
        need = f", {min_bidders} needed" if min_bidders else ""
        return f"not sold: {bidders} bidder{'s' if bidders != 1 else ''}{need}"
    return reasons.get(outcome, outcome.replace("_", " "))


def render_results(scenario: Scenario, min_bidders: int | None = None) -> RenderableType:
    """One row per lot, in the order they were listed: who won at what price, or why not."""
    from rich.table import Table

    table = Table(title="results")
    columns = ("#", "method", "item", "seller", "bids", "bidders", "winner", "price", "outcome")
    for column in columns:
        table.add_column(
            column, justify="right" if column in ("#", "price", "bids", "bidders") else "left"
        )
    lots = sorted(scenario.auctions(), key=lambda pair: _number(pair[1].auction_id))
    for seller, view in lots:
        result = view.result
        bidders = len({p.bidder for p in scenario.participants(view.auction_id) if p.bids})
        outcome = result.outcome if result else None
        table.add_row(
            _cell(view.auction_id),
            _cell(view.method),
            _cell(view.item),
            _cell(seller),
            _cell(str(view.bid_count)),
            _cell(str(bidders)),
            _cell((result.winner if result else None) or "-"),
            _cell(money(result.price if result else None)),
            _cell(outcome_words(outcome, bidders, min_bidders) if result else view.state),
        )
    return table


def finish(scenario: Scenario, out: Console, as_json: bool, extra: dict[str, Any]) -> int:
    summary = scenario.summary() | extra
    over = [n for n, b in summary["bidders"].items() if b["spent"] > b["budget"]]
    summary["within_budget"] = not over
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        out.print(render_results(scenario, extra.get("min_bidders")))
        out.print(render_bidders(scenario))
        if over:
            out.print(f"[red]over budget: {_cell(', '.join(over))}[/red]")
        else:
            out.print("every bidder stayed within its budget")
    return 1 if over else 0


def audit_line(db: Path, out: Console, as_json: bool) -> int:
    from auctionhouse.ledger import audit_database

    report = audit_database(db)
    if as_json:
        return 0 if report.ok else 1
    if report.ok:
        out.print(
            f"[green]ledger verified[/green]: {report.auctions} auctions, {report.events} events, "
            f"every hash chain, seal and checkpoint intact ({_cell(db)})"
        )
        out.print(f"check it yourself: auctionhouse audit --db {_cell(db)}")
        return 0
    out.print(f"[red]ledger audit FAILED[/red] for {_cell(db)}:")
    for finding in report.findings:
        out.print(
            _cell(
                f"  auction {finding.auction_id} seq {finding.seq}: {finding.kind}:"
                f" {finding.message}"
            )
        )
    return 1


def _check_duration(duration: float) -> None:
    from auctionhouse.errors import InvalidRequest

    if not 0.5 <= duration <= 3600:
        raise InvalidRequest("--duration must be between 0.5 and 3600 seconds")


def _db(db: Path | None, prefix: str) -> Path:
    if db is not None:
        return db
    return Path(tempfile.mkdtemp(prefix=f"auctionhouse-{prefix}-")) / "house.db"


def evolved_strategies(seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A bidder (FPSB) and a seller (English) strategy, evolved now by the simulator (a short
    run: about a tenth of a second) and handed to agents like an ``evolve --save`` file."""
    from auctionhouse.sim.evolve import evolve
    from auctionhouse.sim.strategy_file import strategy_to_dict
    from auctionhouse.sim.thesis import ThesisConfig

    def small(scenario: str, method: str) -> ThesisConfig:
        return ThesisConfig(
            scenario=scenario, method=method, population=20, generations=30, auctions=50, seed=seed
        )

    bidder = evolve(small("bidder", "fpsb")).strategy()
    seller = evolve(small("seller", "english")).strategy()
    return strategy_to_dict(bidder), strategy_to_dict(seller)


@demo_app.callback()
def demo(
    ctx: typer.Context,
    db: DbOption = None,
    duration: DurationOption = 8.0,
    seed: SeedOption = None,
    web: Annotated[
        bool, typer.Option("--web", help="Keep the house up afterwards (for the web page).")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Port of the house (0: a free one).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Sellers list items in all four methods; bidder agents with mixed strategies bid over the
    network with signed bids; live view, results, and the audit of the ledger."""
    if ctx.invoked_subcommand is not None:
        return
    _check_duration(duration)
    seed = secrets.randbelow(10**6) if seed is None else seed
    db = _db(db, "demo")
    out = console()
    from auctionhouse.agents.scenarios import main_cast

    evolved_bidder, evolved_seller = evolved_strategies(seed)
    cast = main_cast(
        duration=duration, seed=seed, evolved_bidder=evolved_bidder, evolved_seller=evolved_seller
    )
    server = HouseServer(db, demo_house_config(bid_verification_required=True), port=port)
    url = server.start()
    try:
        if not as_json:
            out.print(_cell(f"house at {url} (ledger {db}), seed {seed}"))
        scenario = asyncio.run(
            run_cast(url, cast, out=None if as_json else out, timeout=duration * 4 + 30)
        )
        code = finish(scenario, out, as_json, {"house": url, "db": str(db)})
        if web:
            note = console(stderr=True) if as_json else out
            note.print(_cell(f"the house stays up at {url} (web page: {url}/); Ctrl-C to stop"))
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        server.stop()
    code = max(code, audit_line(db, out, as_json))
    raise typer.Exit(code)


@demo_app.command("agents")
def demo_agents(
    db: DbOption = None,
    duration: DurationOption = 8.0,
    seed: SeedOption = None,
    as_json: JsonOption = False,
) -> None:
    """Three bidding agents in five auctions at once, on a strict house: an auction needs 3
    bidders to sell, lasts 30 seconds unless its rules say otherwise, and takes signed bids
    only. Alice (budget 1500.00), Bob (1200.00) and Charlie (2000.00) all watch the clock and
    raise their limits as each auction nears its close; Alice values items at the market,
    Bob pays a premium, Charlie keeps a discount."""
    from auctionhouse.agents.scenarios import seed000_cast

    _check_duration(duration)
    seed = 0 if seed is None else seed  # the default run ends the same way every time
    db = _db(db, "seed000")
    out = console()
    config = demo_house_config(
        min_bidders=3, bid_timeout=30, max_concurrent_auctions=10, bid_verification_required=True
    )
    with HouseServer(db, config) as server:
        if not as_json:
            out.print(
                f"house at {server.url}: min_bidders=3, bid_timeout=30, "
                "max_concurrent_auctions=10, bid_verification_required=True"
            )
        scenario = asyncio.run(
            run_cast(
                server.url,
                seed000_cast(duration=duration, seed=seed),
                out=None if as_json else out,
                timeout=duration * 4 + 30,
            )
        )
        code = finish(
            scenario, out, as_json, {"house": server.url, "db": str(db), "min_bidders": 3}
        )
    raise typer.Exit(code)


@demo_app.command("holonic")
def demo_holonic(
    quiet: Annotated[
        float, typer.Option("--quiet", help="Seconds without a bid that close the auction.")
    ] = 10.0,
    seed: SeedOption = None,
    bidders: Annotated[int, typer.Option("--bidders", help="Bidders the auctioneer spawns.")] = 3,
) -> None:
    """An auctioneer agent starts its own bidders and runs an English auction from 50.00;
    each bidder raises by up to 50.00 at a time, up to a secret maximum between 100 and 1000."""
    from auctionhouse.agents.holonic import run_holonic
    from auctionhouse.agents.runtime import Runtime
    from auctionhouse.errors import InvalidRequest
    from auctionhouse.house import AuctionHouse

    if not 0 < quiet <= 3600:
        raise InvalidRequest("--quiet must be a number of seconds in (0, 3600]")
    if not 0 <= bidders <= 100:
        raise InvalidRequest("--bidders must be between 0 and 100")
    seed = secrets.randbelow(10**6) if seed is None else seed
    print(f"seed {seed}: auctioneer + {bidders} bidders, quiet period {quiet:g} s", flush=True)
    house = AuctionHouse.in_memory(config=demo_house_config())

    def say(line: str) -> None:  # agents' lines quote names: text only
        print(safe_text(line), flush=True)

    async def main() -> None:
        async with Runtime(seed=seed) as runtime:
            result = await run_holonic(runtime, house, bidders=bidders, quiet=quiet, say=say)
            for name, maximum in sorted(result.maxima.items()):
                say(f"  {name}: secret maximum {money(maximum)}")
            say(f"  {result.bids} bids accepted")
            for address, what in runtime.lifecycle:
                if what == "stopped":
                    say(f"  {address} stopped")

    try:
        asyncio.run(main())
    finally:
        house.close()


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
