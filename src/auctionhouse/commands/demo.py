"""``auctionhouse demo``: one auction of each method, run for real on an embedded SQLite house.

The embedded demo drives an ``AuctionHouse`` in-process on a ledger file. Its bidders sign every
bid with their own Ed25519 keys (the house requires it), and time runs on a demo clock that the
script moves forward, so Dutch ticks and deadlines pass in an instant while every rule (soft
close, proxies, reserves, second prices) is applied exactly as in a live house. At the end the
ledger is audited like ``auctionhouse audit`` would.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from auctionhouse.commands.core import console, money

demo_app = typer.Typer(
    help="Run demonstrations: the main demo, and the seed scenarios.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@dataclass(frozen=True)
class Bidder:
    name: str
    value: int  # private value, minor units


BIDDERS = (
    Bidder("alice", 15_000),
    Bidder("bob", 12_000),
    Bidder("charlie", 20_000),
    Bidder("dana", 9_000),
)


@demo_app.callback()
def demo(
    ctx: typer.Context,
    db: Annotated[
        Path | None, typer.Option("--db", help="SQLite ledger file (default: a new temporary one).")
    ] = None,
) -> None:
    """Run one auction of each method with several bidders, print the results, audit the ledger."""
    if ctx.invoked_subcommand is not None:
        return
    code = run_embedded_demo(db)
    raise typer.Exit(code)


def run_embedded_demo(db: Path | None) -> int:
    from nacl.signing import SigningKey

    from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig, bid_message, sign
    from auctionhouse.ledger import audit_database

    out = console()
    if db is None:
        db = Path(tempfile.mkdtemp(prefix="auctionhouse-demo-")) / "demo.db"
    clock = FakeClock(time.time())
    config = HouseConfig(
        bid_verification_required=True, argon2_time_cost=2, argon2_memory_kib=19_456
    )
    house = AuctionHouse.open(db, config=config, clock=clock)
    keys: dict[str, SigningKey] = {}
    nonces: dict[str, int] = {}
    try:
        for name in ["seller", *(b.name for b in BIDDERS)]:
            keys[name] = SigningKey.generate()
            public = keys[name].verify_key.encode().hex()
            if house.accounts.exists(name):
                house.register_key(name, public)
            else:
                house.create_account(name, "demo-password", public_key=public)

        def bid(who: str, aid: str, amount: int, proxy_max: int | None = None) -> dict[str, Any]:
            nonces[who] = max(nonces.get(who, 0) + 1, time.time_ns() // 1000)
            ts = clock.now()
            signature = sign(keys[who], bid_message(aid, who, amount, nonces[who], ts, proxy_max))
            return house.place_bid(
                who, aid, amount, proxy_max=proxy_max, nonce=nonces[who], ts=ts, signature=signature
            )

        notes: dict[str, str] = {}
        # English: proxy bids up to each bidder's value; the house bids the least needed.
        eng = house.create_auction(
            "seller",
            "Antique clock",
            "english",
            {
                "starting_price": 5_000,
                "min_increment": 500,
                "reserve_price": 10_000,
                "duration": 120,
                "soft_close": {"window": 30, "extension": 30, "cap": 120},
            },
        )["id"]
        for b in BIDDERS:
            clock.advance(20)
            floor = house.view(eng)["min_next_bid"]
            if floor <= b.value:
                bid(b.name, eng, floor, proxy_max=b.value)
        notes[eng] = "proxy bids; pays second maximum + increment"
        # English with a reserve no one reaches.
        rare = house.create_auction(
            "seller",
            "Signed first edition",
            "english",
            {"starting_price": 1_000, "reserve_price": 50_000, "duration": 60},
        )["id"]
        bid("dana", rare, 1_000, proxy_max=9_000)
        notes[rare] = "secret reserve of 500.00"
        # Dutch: the clock falls 10.00 a second; each bidder accepts at its (n-1)/n shaded value.
        dutch = house.create_auction(
            "seller",
            "Persian rug",
            "dutch",
            {
                "starting_price": 30_000,
                "decrement": 1_000,
                "tick_seconds": 1,
                "reserve_price": 8_000,
            },
        )["id"]
        n = len(BIDDERS)
        while house.view(dutch)["result"] is None:
            price = house.view(dutch)["price"]
            taker = next((b for b in BIDDERS if b.value * (n - 1) // n >= price), None)
            if taker is not None:
                bid(taker.name, dutch, price)
                break
            clock.advance(1)
            house.tick()
        notes[dutch] = "first accept at the clock price"
        # First-price sealed bid: shaded bids, closes when the expected four bids are in.
        fpsb = house.create_auction(
            "seller", "Oil painting", "fpsb", {"expected_bids": n, "duration": 300}
        )["id"]
        for b in BIDDERS:
            clock.advance(5)
            bid(b.name, fpsb, b.value * (n - 1) // n)
        notes[fpsb] = "highest sealed bid pays its bid"
        # Vickrey: truthful sealed bids; the winner pays the second-highest bid.
        vick = house.create_auction(
            "seller", "Rare stamp", "vickrey", {"duration": 60, "reserve_price": 5_000}
        )["id"]
        for b in BIDDERS:
            clock.advance(5)
            bid(b.name, vick, b.value)
        notes[vick] = "highest sealed bid pays the second price"

        clock.advance(600)
        house.tick()
        rows = [house.view(aid) for aid in (eng, rare, dutch, fpsb, vick)]
    finally:
        house.close()

    from rich.table import Table

    table = Table(title="auctionhouse demo: one auction of each method")
    for column in ("method", "item", "winner", "price", "outcome", "how"):
        table.add_column(column, justify="right" if column == "price" else "left")
    for view in rows:
        result = view["result"]
        table.add_row(
            view["method"],
            view["item"]["name"],
            result["winner"] or "-",
            money(result["price"]),
            result["outcome"].replace("_", " "),
            notes[view["id"]],
        )
    out.print(table)
    out.print(
        "bidders' private values: " + ", ".join(f"{b.name} {money(b.value)}" for b in BIDDERS)
    )
    report = audit_database(db)
    if report.ok:
        out.print(
            f"[green]ledger verified[/green]: {report.auctions} auctions, {report.events} events, "
            f"every hash chain, seal and checkpoint intact ({db})"
        )
        out.print(f"check it yourself: auctionhouse audit --db {db}")
        return 0
    out.print(f"[red]ledger audit FAILED[/red] for {db}:")
    for finding in report.findings:
        out.print(
            f"  auction {finding.auction_id} seq {finding.seq}: {finding.kind}: {finding.message}"
        )
    return 1


@demo_app.command("holonic")
def demo_holonic(
    quiet: Annotated[
        float, typer.Option("--quiet", help="Seconds without a bid that close the auction.")
    ] = 10.0,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the agents' randomness.")
    ] = None,
    bidders: Annotated[int, typer.Option("--bidders", help="Bidders the auctioneer spawns.")] = 3,
) -> None:
    """Seed 001: an auctioneer holon spawns bidders in its own context and runs an English
    auction from 50.00; bidders raise by up to 50.00 under a secret maximum in [100, 1000)."""
    import asyncio
    import secrets

    from auctionhouse.agents.holonic import run_holonic
    from auctionhouse.agents.runtime import Runtime
    from auctionhouse.errors import InvalidRequest
    from auctionhouse.house import AuctionHouse, HouseConfig

    if not quiet > 0 or quiet > 3600:
        raise InvalidRequest("--quiet must be a number of seconds in (0, 3600]")
    if not 0 <= bidders <= 100:
        raise InvalidRequest("--bidders must be between 0 and 100")
    seed = secrets.randbelow(10**6) if seed is None else seed
    out = console()
    out.print(f"seed {seed}: auctioneer + {bidders} bidders, quiet period {quiet:g} s")
    config = HouseConfig(argon2_time_cost=1, argon2_memory_kib=1024)
    house = AuctionHouse.in_memory(config=config)

    def say(line: str) -> None:
        print(line, flush=True)

    async def main() -> None:
        async with Runtime(seed=seed) as runtime:
            result = await run_holonic(
                runtime,
                house,
                bidders=bidders,
                quiet=quiet,
                say=lambda line: print(line, flush=True),
            )
            for name, maximum in sorted(result.maxima.items()):
                print(f"  {name}: secret maximum {money(maximum)}")
            print(f"  {result.bids} bids accepted")
            for address, what in runtime.lifecycle:
                if what == "stopped":
                    print(f"  {address} stopped")

    try:
        asyncio.run(main())
    finally:
        house.close()


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
