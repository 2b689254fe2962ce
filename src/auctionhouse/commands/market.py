"""The ``market`` verbs (docs/markets.md): ``create``, ``list``, ``order``, ``cancel``, ``book``,
``trades``, ``watch``, ``close``. Like the auction verbs they talk to ``--house`` through the sync
SDK as the logged-in account; orders and cancels are signed with the account's key (``auctionhouse
login`` keeps its file). Prices are typed as decimals of the house's currency (``1.20``) and
shown formatted in its locale, like the auction verbs' amounts (decision 0022); quantities are
whole units.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from auctionhouse.client.text import safe_text
from auctionhouse.commands.client import (
    AccountOpt,
    HouseOpt,
    JsonOpt,
    _act,
    _answer,
    _client,
    _house_money,
    _money,
    _print_json,
    parse_seconds,
)
from auctionhouse.errors import InvalidRequest
from auctionhouse.money import DEFAULT_CURRENCY, parse_amount

MarketArg = Annotated[str, typer.Argument(metavar="MARKET", help="A market id (m1, m2...).")]


def create(
    name: Annotated[str, typer.Argument(help="What is traded.")],
    kind: Annotated[str, typer.Option("--kind", help="cda (continuous) or call.")] = "cda",
    call_interval: Annotated[
        str | None, typer.Option("--call-interval", help="A call market's period (30s, 1m).")
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Close after this long (1h, 90m).")
    ] = None,
    max_price: Annotated[
        str | None, typer.Option("--max-price", help="The highest price an order may name (12.50).")
    ] = None,
    max_quantity: Annotated[int | None, typer.Option("--max-quantity")] = None,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Open a double-auction market that you own."""
    if kind not in ("cda", "call"):
        raise InvalidRequest("--kind must be cda or call")
    with _client(house, account, login=True) as client:
        view = client.create_market(
            name,
            kind,  # type: ignore[arg-type]
            max_price=parse_amount(max_price, _currency(client), field="--max-price")
            if max_price is not None
            else None,
            max_quantity=max_quantity,
            call_interval=parse_seconds("--call-interval", call_interval)
            if call_interval
            else None,
            duration=parse_seconds("--duration", duration) if duration else None,
        )
    _answer(view, json_out, lambda v: f"market {v['id']} open: {v['name']} ({v['kind']})")


def list_markets(
    state: Annotated[str | None, typer.Option("--state", help="open or closed.")] = None,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List markets, newest first."""
    if state not in (None, "open", "closed"):
        raise InvalidRequest("--state must be open or closed")
    with _client(house, account, login=False) as client:
        _currency(client)
        markets = client.markets(state=state)["markets"]
    if json_out:
        _print_json(markets)
        return
    for m in markets:
        print(
            safe_text(
                f"{m['id']:>6} {m['state']:<6} {m['kind']:<4} bid {_p(m['best_bid'])}"
                f" ask {_p(m['best_ask'])} last {_p(m['last_price'])} volume {m['volume']}"
                f"  {m['name']}"
            )
        )


def order(
    market: MarketArg,
    side: Annotated[str, typer.Argument(help="buy or sell.")],
    price: Annotated[
        str, typer.Argument(help="Limit price per unit in the house's currency (1.20).")
    ],
    quantity: Annotated[int, typer.Argument(help="Units.")] = 1,
    ws: Annotated[bool, typer.Option("--ws", help="Send over the WebSocket.")] = False,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Place a signed limit order; prints its trades and what rests."""
    if side not in ("buy", "sell"):
        raise InvalidRequest("SIDE must be buy or sell")
    with _client(house, account, login=True) as client:
        minor = parse_amount(price, _currency(client), field="price")
        ack = client.order(market, side, minor, quantity, via="ws" if ws else "http")  # type: ignore[arg-type]
    _answer(ack, json_out, order_lines)


def order_lines(ack: dict[str, Any]) -> list[str]:
    """An order's acknowledgement for people: accepted, its trades, what rests."""
    lines = [f"order {ack['order_id']} accepted in market {ack['market']} (seq {ack['seq']})"]
    for t in ack["trades"]:
        lines.append(
            f"  traded {t['quantity']} at {_p(t['price'])} ({t['buyer']} <- {t['seller']})"
        )
    for order_id in ack["self_trade_cancels"]:
        lines.append(f"  your order {order_id} was cancelled (it would have traded with this one)")
    lines.append(f"  resting: {ack['remaining']}")
    return lines


def cancel(
    market: MarketArg,
    order_id: Annotated[int, typer.Argument(metavar="ORDER", help="The order id.")],
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Cancel the unfilled rest of your order (signed)."""
    _act(
        house,
        account,
        json_out,
        lambda c: c.cancel_order(market, order_id),
        lambda a: f"order {order_id} cancelled ({a['cancelled']} units)",
    )


def book(
    market: MarketArg,
    depth: Annotated[int, typer.Option("--depth", help="Levels a side.")] = 10,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the market's order book (depth) and its last trades."""
    with _client(house, account, login=False) as client:
        _currency(client)
        view = client.market(market, depth)
        trades = client.trades(market, max(0, view["trades"] - 10))["trades"]
    _answer(
        {"market": view, "trades": trades},
        json_out,
        lambda a: render_book(a["market"], a["trades"]),
    )


def render_book(view: dict[str, Any], trades: list[dict[str, Any]]) -> list[str]:
    """The book as lines: asks above (highest first), bids below, then the last trades (a
    list: each line is made safe on its own, a newline in the market's name stays escaped)."""
    lines = [f"market {view['id']} ({view['kind']}, {view['state']}): {view['name']}"]
    lines.append(f"{'price':>12} {'quantity':>10} {'orders':>7}")
    for price, qty, count in reversed(view["book"]["asks"]):
        lines.append(f"{_p(price):>12} {qty:>10} {count:>7}  ask")
    lines.append(f"{'-' * 12} last {_p(view['last_price'])}, volume {view['volume']}")
    for price, qty, count in view["book"]["bids"]:
        lines.append(f"{_p(price):>12} {qty:>10} {count:>7}  bid")
    if trades:
        lines.append("last trades:")
        for t in trades:
            lines.append(f"  #{t['trade_id']} {t['quantity']} at {_p(t['price'])}")
    return lines


def trades(
    market: MarketArg,
    after: Annotated[int, typer.Option("--after", help="Trades after this trade id.")] = 0,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List a market's trades."""
    with _client(house, account, login=False) as client:
        _currency(client)
        found = client.trades(market, after, 1000)["trades"]
    if json_out:
        _print_json(found)
        return
    for t in found:
        print(
            safe_text(
                f"#{t['trade_id']} {t['quantity']} at {_p(t['price'])}"
                f" {t['buyer']} <- {t['seller']}"
            )
        )


def watch(
    market: MarketArg,
    give_up: Annotated[
        float, typer.Option("--give-up", help="Seconds to keep reconnecting to a lost house.")
    ] = 60.0,
    count: Annotated[
        int | None, typer.Option("--count", help="Stop after this many live events.")
    ] = None,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON message per line.")] = False,
) -> None:
    """Follow a market live: the book, then every order, cancel and trade."""
    if give_up <= 0:
        raise InvalidRequest("--give-up must be positive")
    seen = 0
    with _client(house, account, login=False) as client:
        _currency(client)
        for message in client.watch_market(market, give_up_after=give_up):
            if json_out:
                print(json.dumps(message, sort_keys=True), flush=True)
            elif message["type"] == "market":
                for row in render_book(message["view"], message["trades"][-10:]):
                    print(safe_text(row), flush=True)
            else:
                print(safe_text(_event_line(message)), flush=True)
            if message["type"] == "market_event":
                seen += 1
                if message["event"]["type"] == "MarketClosed" or (
                    count is not None and seen >= count
                ):
                    return


def _event_line(message: dict[str, Any]) -> str:
    e = message["event"]
    book = message["book"]
    top = f"[bid {_p(book['bids'][0][0] if book['bids'] else None)}"
    top += f" ask {_p(book['asks'][0][0] if book['asks'] else None)}]"
    kind = e["type"]
    if kind == "OrderPlaced":
        text = f"order {e['order_id']}: {e['side']} {e['quantity']} at {_p(e['price'])}"
    elif kind == "Trade":
        text = f"trade {e['quantity']} at {_p(e['price'])} ({e['buyer']} <- {e['seller']})"
    elif kind == "OrderCancelled":
        text = f"order {e['order_id']} cancelled ({e['reason']}, {e['remaining']} units)"
    elif kind == "CallCleared":
        text = f"call {e['period']} cleared at {_p(e['price'])}, volume {e['volume']}"
    else:
        text = kind
    return f"seq {message['seq']} {text} {top}"


def close(
    market: MarketArg,
    reason: Annotated[str, typer.Option("--reason")] = "",
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Close your market (resting orders are cancelled; a call market clears once more)."""
    _act(
        house,
        account,
        json_out,
        lambda c: c.close_market(market, reason),
        lambda v: f"market {v['id']} closed",
    )


def traders(
    market: MarketArg,
    trader: Annotated[
        list[str],
        typer.Option(
            "--trader",
            help="STRATEGY:SIDE:LIMIT[:UNITS[:COUNT]], e.g. zic:buy:1.20:2:5 (repeatable).",
        ),
    ],
    run_for: Annotated[str, typer.Option("--for", help="How long to trade (30s, 5m).")] = "60s",
    period: Annotated[float, typer.Option("--period", help="Seconds between quotes.")] = 0.5,
    prefix: Annotated[str, typer.Option("--prefix", help="Account names' prefix.")] = "trader",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="The traders' password from stdin.")
    ] = False,
    house: HouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run registered traders (zic, ziu, zip, gvwy, shvr, snpr) live in a market: each gets a
    new account and key, trades one unit at a time, and the run prints profits and efficiency."""
    import asyncio

    from auctionhouse.agents.live_traders import TraderSpec, run_traders
    from auctionhouse.commands.client import _house, _password

    with _client(house, None, login=False) as client:
        currency = _currency(client)
    specs: list[TraderSpec] = []
    for text in trader:
        parts = text.split(":")
        if not 3 <= len(parts) <= 5 or parts[1] not in ("buy", "sell"):
            raise InvalidRequest(f"--trader {text!r}: use STRATEGY:SIDE:LIMIT[:UNITS[:COUNT]]")
        limit = parse_amount(parts[2], currency, field=f"--trader {text!r} LIMIT")
        try:
            units, count = (int(x) for x in ([*parts[3:], "1", "1"])[:2])
        except ValueError:
            raise InvalidRequest(f"--trader {text!r}: UNITS and COUNT are whole numbers") from None
        for _ in range(count):
            name = f"{prefix}-{len(specs) + 1}-{parts[0]}-{parts[1]}"
            specs.append(TraderSpec(name, parts[0], parts[1], limit, units))
    password = _password(password_stdin, confirm=False)
    report = asyncio.run(
        run_traders(
            _house(house),
            market,
            specs,
            password=password,
            run_for=parse_seconds("--for", run_for),
            period=period,
            seed=seed,
        )
    )
    if json_out:
        _print_json(report.to_dict())
        return
    for t in report.traders:
        print(
            safe_text(
                f"{t.name:<28} {t.strategy:<5} {t.side:<4} limit {_p(t.limit):>9}"
                f" traded {t.traded}/{t.units} profit {_p(t.profit)}"
            )
        )
    eff = report.efficiency
    print(
        f"{report.trades} trades, surplus {_p(report.surplus)} of {_p(report.max_surplus)}"
        + (f" (allocative efficiency {eff:.1%})" if eff is not None else "")
    )


_HOUSE = {"currency": DEFAULT_CURRENCY}


def _currency(client: Any) -> str:
    """The house's currency (``GET /house``), remembered for this command's output."""
    _HOUSE["currency"] = str(_house_money(client).get("currency") or DEFAULT_CURRENCY)
    return _HOUSE["currency"]


def _p(value: int | None) -> str:
    """A price in minor units as the house's currency shows it ("-" for none)."""
    return "-" if value is None else _money(value, _HOUSE["currency"])


def register(app: typer.Typer) -> None:
    """Add ``auctionhouse market ...``."""
    market = typer.Typer(
        help="Double-auction markets: create, list, order, cancel, book, trades, watch, close,"
        " traders.",
        no_args_is_help=True,
    )
    market.command("create")(create)
    market.command("list")(list_markets)
    market.command("order")(order)
    market.command("cancel")(cancel)
    market.command("book")(book)
    market.command("trades")(trades)
    market.command("watch")(watch)
    market.command("close")(close)
    market.command("traders")(traders)
    app.add_typer(market, name="market")
