"""Rich renderables of auctions for people: the ``show`` panel, the ``list`` table, the live view.

Everything shown comes from the public view and public events (the house already hides reserve
prices, proxy maxima and sealed amounts); countdowns use the house clock estimate. Rich loads
only when these functions run. Every value from the house (item names, descriptions, account
names, even ids) is written by other people: it reaches Rich only through ``cell`` (``safe_text``
with markup escaped), so ``[/red]`` prints as text and ESC never reaches the terminal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from auctionhouse.client.text import safe_text

Json = dict[str, Any]
MAX_BIDS_SHOWN = 10


def cell(value: object, *, multiline: bool = False) -> str:
    """Untrusted text for a Rich cell, title or line: shown as text, never as markup."""
    return safe_text(value, markup=True, multiline=multiline)


def money(value: object) -> str:
    return "-" if value is None else f"{value}"


def countdown(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def rules_lines(view: Json) -> list[str]:
    """The public rules that apply, one short line each."""
    rules = view.get("rules") or {}
    method = view.get("method")
    out = []
    if method == "dutch":
        out.append(
            f"clock from {money(rules.get('starting_price'))}, -{money(rules.get('decrement'))}"
            f" every {rules.get('tick_seconds')} s, down to {money(rules.get('floor_price') or 1)}"
        )
    elif method == "english":
        out.append(f"starting price {money(rules.get('starting_price'))}")
    else:
        out.append(f"minimum bid {money(rules.get('starting_price'))}")
    if method == "english":
        out.append(f"minimum increment {money(rules.get('min_increment'))}")
        if rules.get("quiet_seconds"):
            out.append(f"closes after {rules['quiet_seconds']} s without a bid")
        soft = rules.get("soft_close")
        if soft:
            out.append(
                f"soft close: a bid in the last {soft['window']} s adds {soft['extension']} s"
                f" (at most {soft['cap']} s)"
            )
    if rules.get("has_reserve"):
        met = view.get("reserve_met")
        out.append(
            "reserve: " + ("met" if met is True else "not met" if met is False else "hidden")
        )
    if rules.get("expected_bids"):
        out.append(f"closes when {rules['expected_bids']} bids are in")
    bidders = f"bidders: at least {rules.get('min_bidders', 1)}"
    if rules.get("max_bidders"):
        bidders += f", at most {rules['max_bidders']}"
    out.append(bidders)
    if rules.get("signed_bids"):
        out.append("signed bids only")
    return out


def price_lines(view: Json, now: float, tick_price: int | None = None) -> list[str]:
    method, state = view.get("method"), view.get("state")
    out = []
    if method in ("fpsb", "vickrey") and view.get("result") is None:
        out.append(f"sealed bids: {view.get('bid_count', 0)} in (amounts hidden until close)")
    elif method == "dutch" and view.get("result") is None:
        price = tick_price if tick_price is not None else view.get("price")
        out.append(f"clock price {money(price)}")
        tick = (view.get("rules") or {}).get("tick_seconds")
        opens = view.get("opens_at")
        if state == "open" and tick and opens is not None:
            left = tick - ((now - opens) % tick)
            out.append(f"next tick in {countdown(left)}")
    elif view.get("result") is None:
        out.append(f"price {money(view.get('price'))}  leader {view.get('leader') or '-'}")
        out.append(f"bids {view.get('bid_count', 0)} from {view.get('bidder_count', 0)} bidders")
    if method == "english" and view.get("min_next_bid") is not None and view.get("result") is None:
        out.append(f"next bid at least {money(view['min_next_bid'])}")
    if state == "scheduled":
        out.append(f"opens in {countdown((view.get('opens_at') or now) - now)}")
    elif state == "paused":
        out.append("paused by the house")
    elif view.get("result") is None:
        due = view.get("close_due_at") or view.get("closes_at")
        out.append(f"closes in {countdown(due - now)}" if due else "closes on the bid count")
    return out


def result_line(view: Json) -> str | None:
    result = view.get("result")
    if not result:
        return None
    outcome = result.get("outcome")
    if outcome == "sold":
        return f"SOLD to {result.get('winner')} for {money(result.get('price'))}"
    return {
        "no_bids": "closed: no bids",
        "reserve_not_met": "closed: reserve not met",
        "too_few_bidders": "closed: too few bidders",
        "cancelled": "cancelled",
    }.get(str(outcome), f"closed: {outcome}")


def you_lines(you: object) -> list[str]:
    """What the house tells only you: your bids, your proxy maximum, your own reserve."""
    if not isinstance(you, dict):
        return []
    out = []
    if you.get("is_seller"):
        reserve = you.get("reserve_price")
        out.append("you sell this" + (f"; your reserve is {reserve}" if reserve else ""))
    if you.get("bids"):
        out.append("your bids " + ", ".join(money(b) for b in you["bids"]))
    if you.get("max") is not None:
        out.append(f"your proxy maximum {money(you['max'])}")
    if you.get("won"):
        out.append("you won")
    elif you.get("leading"):
        out.append("you lead")
    return out


def bid_lines(events: Iterable[Json]) -> list[str]:
    bids = [e for e in events if e.get("type") == "BidPlaced" and "amount" in e]
    lines = []
    for e in bids:
        if e.get("amount") is None:  # a proxy bid or a leader's raise: its maximum is secret
            line = f"#{e['seq']}  {e.get('bidder')}  (proxy)"
        else:
            line = f"#{e['seq']}  {e.get('bidder')}  {money(e.get('amount'))}"
        if e.get("price") is not None and e.get("price") != e.get("amount"):
            line += f"  (price {money(e['price'])})"
        lines.append(line)
    return lines[-MAX_BIDS_SHOWN:]


def auction_panel(
    view: Json, events: Iterable[Json], now: float, tick_price: int | None = None
) -> Any:
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    item = view.get("item") or {}
    item = item if isinstance(item, dict) else {}
    grid.add_row("item", cell(item.get("name", "")))
    if item.get("description"):
        grid.add_row("", cell(item["description"], multiline=True))
    photos = item.get("photos")
    if isinstance(photos, list) and photos:  # where to see them, on the house's address
        paths = "\n".join(f"/api/v1/photos/{p}" for p in photos if isinstance(p, str))
        grid.add_row("photos", cell(paths, multiline=True))
    grid.add_row("method", cell(f"{view.get('method')}   seller {view.get('seller')}"))
    grid.add_row("state", cell(view.get("state")))
    grid.add_row("rules", cell("\n".join(rules_lines(view)), multiline=True))
    current = price_lines(view, now, tick_price)
    if current:
        grid.add_row("now", cell("\n".join(current), multiline=True))
    mine = you_lines(view.get("you"))
    if mine:
        grid.add_row("you", cell("\n".join(mine), multiline=True))
    bids = bid_lines(events)
    if bids:
        grid.add_row("bids", cell("\n".join(bids), multiline=True))
    result = result_line(view)
    if result:
        closed_at = when(view["result"].get("closed_at"))
        grid.add_row("result", f"[bold]{cell(result)}[/bold]  at {cell(closed_at)}")
    return Panel(grid, title=f"auction {cell(view.get('id'))}", expand=False)


def auction_table(auctions: list[Json], now: float) -> Any:
    from rich.table import Table

    table = Table(title="auctions")
    for name, justify in (
        ("id", "right"),
        ("item", "left"),
        ("method", "left"),
        ("state", "left"),
        ("price", "right"),
        ("bids", "right"),
        ("closes in", "right"),
        ("result", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for view in auctions:
        due = view.get("close_due_at") or view.get("closes_at")
        item = view.get("item") or {}
        table.add_row(
            cell(view.get("id")),
            cell(item.get("name", "") if isinstance(item, dict) else ""),
            cell(view.get("method")),
            cell(view.get("state")),
            cell(money(view.get("price"))),
            cell(view.get("bid_count", 0)),
            countdown(due - now) if due and view.get("result") is None else "-",
            cell(result_line(view) or ""),
        )
    return table


class LiveAuction:
    """The watched auction: folds pushed messages; renders itself at the current house time."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.view: Json | None = None
        self.events: list[Json] = []
        self.tick_price: int | None = None

    def update(self, message: Json) -> None:
        kind = message.get("type")
        view = message.get("view")
        if view:
            # A live event's view leaves out the item's description: keep the snapshot's.
            if self.view is not None and "description" not in (view.get("item") or {}):
                view = {**view, "item": self.view.get("item") or view.get("item")}
            self.view = view
            self.tick_price = None
        if kind == "event" and isinstance(message.get("event"), dict):
            self.events.append(message["event"])
        elif kind == "tick" and isinstance(message.get("price"), int):
            self.tick_price = message["price"]

    @property
    def closed(self) -> bool:
        return self.view is not None and self.view.get("result") is not None

    def __rich__(self) -> Any:
        if self.view is None:
            return "waiting for the house..."
        return auction_panel(self.view, self.events, self.now(), self.tick_price)
