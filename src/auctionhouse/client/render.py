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
from auctionhouse.money import DEFAULT_CURRENCY, DEFAULT_LOCALE, format_amount
from auctionhouse.times import local_time

Json = dict[str, Any]
MAX_BIDS_SHOWN = 10

# The locale amounts are shown in: the house's (``GET /house``), set once by the CLI.
_locale = DEFAULT_LOCALE


def use_locale(locale: str) -> None:
    """Show amounts in ``locale`` (the house's, from ``GET /api/v1/house``) from now on."""
    global _locale
    _locale = locale


def cell(value: object, *, multiline: bool = False) -> str:
    """Untrusted text for a Rich cell, title or line: shown as text, never as markup."""
    return safe_text(value, markup=True, multiline=multiline)


def money(value: object, currency: str | None = None) -> str:
    """Minor units for people, with Babel's ``format_currency`` in the house's locale
    (``1050`` EUR -> ``€10.50``); ``None`` -> ``-``."""
    return format_amount(value, currency or DEFAULT_CURRENCY, _locale)


def currency_of(view: Json) -> str:
    """The currency a view's amounts are in (views carry it; older houses: the default)."""
    code = view.get("currency") or (view.get("rules") or {}).get("currency")
    return code if isinstance(code, str) else DEFAULT_CURRENCY


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
    """Epoch seconds as a local date and time (``2030-01-31 18:00:00 CET``)."""
    return local_time(epoch)


def increment_lines(rules: Json, currency: str) -> list[str]:
    """An English auction's increment in words: flat, by price band (a line a band), or a
    percentage of the price."""
    flat = money(rules.get("min_increment", 1), currency)
    table = rules.get("increment_table")
    if isinstance(table, list) and table:
        lines = []
        for band in table:
            step = money(band.get("increment"), currency)
            below = band.get("below")
            where = f"under {money(below, currency)}" if below else "above"
            lines.append(f"increment {where}: +{step}")
        if table[-1].get("below"):
            lines.append(f"increment above: +{money(table[-1].get('increment'), currency)}")
        if rules.get("min_increment", 1) > 1:
            lines.append(f"(and at least {flat})")
        return lines
    pct = rules.get("increment_percent")
    if pct:
        return [f"increment {pct:g}% of the price (at least {flat})"]
    return [f"minimum increment {flat}"]


def rules_lines(view: Json) -> list[str]:
    """The public rules that apply, one short line each."""
    rules = view.get("rules") or {}
    method = view.get("method")
    cur = currency_of(view)
    out = []
    if method == "dutch":
        out.append(
            f"clock from {money(rules.get('starting_price'), cur)},"
            f" -{money(rules.get('decrement'), cur)} every {rules.get('tick_seconds')} s,"
            f" down to {money(rules.get('floor_price') or 1, cur)}"
        )
    elif method == "english":
        out.append(f"starting price {money(rules.get('starting_price'), cur)}")
    else:
        out.append(f"minimum bid {money(rules.get('starting_price'), cur)}")
    if method == "english":
        out.extend(increment_lines(rules, cur))
        if rules.get("bids_are_maxima"):
            out.append("every bid is a maximum (the house bids only what is needed)")
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
    cur = currency_of(view)
    out = []
    if method in ("fpsb", "vickrey") and view.get("result") is None:
        out.append(f"sealed bids: {view.get('bid_count', 0)} in (amounts hidden until close)")
    elif method == "dutch" and view.get("result") is None:
        price = tick_price if tick_price is not None else view.get("price")
        out.append(f"clock price {money(price, cur)}")
        tick = (view.get("rules") or {}).get("tick_seconds")
        opens = view.get("opens_at")
        if state == "open" and tick and opens is not None:
            left = tick - ((now - opens) % tick)
            out.append(f"next tick in {countdown(left)}")
    elif view.get("result") is None:
        out.append(f"price {money(view.get('price'), cur)}  leader {view.get('leader') or '-'}")
        out.append(f"bids {view.get('bid_count', 0)} from {view.get('bidder_count', 0)} bidders")
    if method == "english" and view.get("min_next_bid") is not None and view.get("result") is None:
        out.append(f"next bid at least {money(view['min_next_bid'], cur)}")
    if state == "scheduled":
        opens = view.get("opens_at") or now
        out.append(f"opens in {countdown(opens - now)} (at {when(opens)})")
    elif state == "paused":
        out.append("paused by the house")
    elif view.get("result") is None:
        due = view.get("close_due_at") or view.get("closes_at")
        out.append(
            f"closes in {countdown(due - now)} (at {when(due)})"
            if due
            else "closes on the bid count"
        )
    return out


def result_line(view: Json) -> str | None:
    result = view.get("result")
    if not result:
        return None
    outcome = result.get("outcome")
    if outcome == "sold":
        return f"SOLD to {result.get('winner')} for {money(result.get('price'), currency_of(view))}"
    return {
        "no_bids": "closed: no bids",
        "reserve_not_met": "closed: reserve not met",
        "too_few_bidders": "closed: too few bidders",
        "cancelled": "cancelled",
    }.get(str(outcome), f"closed: {outcome}")


def you_lines(you: object, view: Json | None = None) -> list[str]:
    """What the house tells only you: your bids, your proxy maximum, your own reserve, and
    where you stand (you lead, outbid, you won, you did not win)."""
    if not isinstance(you, dict):
        return []
    cur = currency_of(view or {})
    out = []
    if you.get("is_seller"):
        reserve = you.get("reserve_price")
        out.append(
            "you sell this" + (f"; your reserve is {money(reserve, cur)}" if reserve else "")
        )
    if you.get("bids"):
        out.append("your bids " + ", ".join(money(b, cur) for b in you["bids"]))
    if you.get("max") is not None:
        out.append(f"your maximum {money(you['max'], cur)}")
    status = standing(you, view)
    if status:
        out.append(status)
    return out


def standing(you: object, view: Json | None) -> str | None:
    """Your part in one word or three: ``you won``, ``you lead``, ``outbid``, ``you did not
    win``, ``your bid is in`` (sealed, before close), or None when you have not bid."""
    if not isinstance(you, dict):
        return None
    if you.get("won"):
        return "you won"
    if not you.get("bids"):
        return None
    closed = view is not None and view.get("result") is not None
    if closed or you.get("won") is False:
        return "you did not win"
    if you.get("leading"):
        return "you lead"
    if you.get("leading") is False:
        return "outbid"
    return "your bid is in"


def bid_lines(
    events: Iterable[Json], currency: str = DEFAULT_CURRENCY, method: str | None = None
) -> list[str]:
    """The bid history, saying who really moved the price: when a bid met a higher proxy
    maximum, the line says whose maximum answered and at what price."""
    lines = []
    price: object = None
    for e in events:
        if e.get("type") != "BidPlaced" or "amount" not in e:
            continue
        seq, who, amount = e.get("seq"), e.get("bidder"), e.get("amount")
        leader, new_price = e.get("leader"), e.get("price")
        bid = money(amount, currency) if amount is not None else "up to a secret maximum"
        if method == "dutch":
            line = f"{who} took it at {money(new_price, currency)}"
        elif "price" not in e or method in ("fpsb", "vickrey"):  # sealed, revealed at close
            line = f"{who} {money(amount, currency)}"
        elif leader == who and amount is None and new_price == price:
            line = f"{who} raised their maximum (price stays {money(price, currency)})"
        elif leader == who:
            line = f"{who} bid {bid}: {who} leads at {money(new_price, currency)}"
        else:
            line = (
                f"{who} bid {bid}; {leader}'s maximum answered:"
                f" {leader} leads at {money(new_price, currency)}"
            )
        price = new_price
        lines.append(f"#{seq}  {line}")
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
    mine = you_lines(view.get("you"), view)
    if mine:
        grid.add_row("you", cell("\n".join(mine), multiline=True))
    bids = bid_lines(events, currency_of(view), view.get("method"))
    if bids:
        grid.add_row("bids", cell("\n".join(bids), multiline=True))
    result = result_line(view)
    if result:
        closed_at = when(view["result"].get("closed_at"))
        grid.add_row("result", f"[bold]{cell(result)}[/bold]  at {cell(closed_at)}")
    return Panel(grid, title=f"auction {cell(view.get('id'))}", expand=False)


def _table(title: str, *columns: str) -> Any:
    """A Rich table with ``columns`` (``name>``: right-justified)."""
    from rich.table import Table

    table = Table(title=title)
    for name in columns:
        table.add_column(name.rstrip(">"), justify="right" if name.endswith(">") else "left")
    return table


def list_price(view: Json) -> str:
    """The price column of a list, as the page shows it: the price, an open English auction's
    starting price before its first bid (lists sort by it), ``sealed`` for the secret bids of
    an open sealed auction."""
    cur = currency_of(view)
    price = view.get("price")
    if price is not None:
        return money(price, cur)
    if view.get("result") is None and view.get("state") != "closed":
        if view.get("method") in ("fpsb", "vickrey"):
            return "sealed"
        start = (view.get("rules") or {}).get("starting_price")
        if view.get("method") == "english" and start is not None:
            return money(start, cur)  # with 0 bids: where the bidding starts
    return "-"


def auction_table(auctions: list[Json], now: float) -> Any:

    table = _table("auctions", "id>", "item", "method", "state", "price>", "bids>")
    table.add_column("closes in", justify="right")  # or "opens in ..." when scheduled
    table.add_column("result")
    for view in auctions:
        due = view.get("close_due_at") or view.get("closes_at")
        if view.get("state") == "scheduled" and view.get("opens_at"):
            timing = f"opens in {countdown(view['opens_at'] - now)}"
        elif due and view.get("result") is None:
            timing = countdown(due - now)
        else:
            timing = "-"
        item = view.get("item") or {}
        table.add_row(
            cell(view.get("id")),
            cell(item.get("name", "") if isinstance(item, dict) else ""),
            cell(view.get("method")),
            cell(view.get("state")),
            cell(list_price(view)),
            cell(view.get("bid_count", 0)),
            timing,
            cell(result_line(view) or ""),
        )
    return table


def account_table(me: Json, house: str, session_expires: float | None = None) -> Any:
    """``account show``: the account as a two-column table (never its token)."""
    from rich.table import Table

    table = Table(title=f"account {cell(me.get('id'))}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("house", cell(house))
    table.add_row("name", cell(me.get("id")))
    table.add_row("role", cell(me.get("role") or "user"))
    table.add_row("bid key", cell(me.get("public_key") or "none (unsigned bids only)"))
    if me.get("created_at"):
        table.add_row("created", cell(when(me["created_at"])))
    rep = me.get("reputation")
    if isinstance(rep, dict):
        score = rep.get("score")
        words = f"{score:.2f}" if isinstance(score, int | float) else "-"
        extras = ", ".join(
            f"{k.replace('_', ' ')} {v}"
            for k, v in sorted(rep.items())
            if k not in ("score", "account") and isinstance(v, int | float)
        )
        table.add_row("reputation", cell(words + (f" ({extras})" if extras else "")))
    if session_expires:
        table.add_row("session ends", cell(when(session_expires)))
    return table


def my_bids_table(views: list[Json], now: float) -> Any:
    """``my-bids``: the auctions you bid in, with your part in each (as the page's "My bids")."""

    table = _table("my bids", "id>", "item", "method", "state", "price>", "your maximum>")
    table.add_column("you")
    table.add_column("closes", justify="right")
    for view in views:
        you = view.get("you") or {}
        cur = currency_of(view)
        bids = you.get("bids") or []
        top = you.get("max") if you.get("max") is not None else (max(bids) if bids else None)
        due = view.get("close_due_at") or view.get("closes_at")
        item = view.get("item") or {}
        table.add_row(
            cell(view.get("id")),
            cell(item.get("name", "") if isinstance(item, dict) else ""),
            cell(view.get("method")),
            cell(view.get("state")),
            cell(money(view.get("price"), cur)),
            cell(money(top, cur)),
            cell(standing(you, view) or "-"),
            cell(result_line(view) or (f"in {countdown(due - now)}" if due else "-")),
        )
    return table


def change_line(message: Json, view: Json | None, you: Json | None) -> str | None:
    """One line for one pushed change (``watch`` when stdout is not a terminal), or None for a
    message that changes nothing a person follows."""
    kind = message.get("type")
    view = view or {}
    cur = currency_of(view)
    stamp = dt.datetime.fromtimestamp(
        float(message.get("server_time") or (message.get("event") or {}).get("at") or 0)
    ).strftime("%H:%M:%S")
    aid = message.get("auction") or view.get("id")
    mine = standing(you, view) if you else None
    tail = f" ({mine})" if mine else ""
    if kind == "tick":
        return f"{stamp} auction {aid}: clock price {money(message.get('price'), cur)}"
    if kind == "snapshot":
        now = price_lines(view, float(message.get("server_time") or 0))
        what = result_line(view) or "; ".join(now[:1]) or "-"
        item = (view.get("item") or {}).get("name") or ""
        return f"{stamp} auction {aid} ({item}): {view.get('state')}, {what}{tail}"
    event = message.get("event")
    if kind != "event" or not isinstance(event, dict):
        return None
    etype = event.get("type")
    if etype == "BidPlaced":
        history = bid_lines([event], cur, view.get("method"))
        what = history[0].split("  ", 1)[-1] if history else "a sealed bid is in"
    elif etype == "AuctionClosed":
        what = result_line({"result": {**event}, "currency": cur}) or "closed"
    elif etype == "DeadlineExtended":
        what = f"soft close: now closes at {when(event.get('closes_at'))}"
    elif etype == "AuctionPaused":
        what = "paused by the house"
    elif etype == "AuctionResumed":
        what = "resumed"
    elif etype == "AuctionCancelled":
        what = "cancelled"
    else:
        return None
    return f"{stamp} auction {aid}: {what}{tail}"


class LiveAuction:
    """The watched auction: folds pushed messages; renders itself at the current house time."""

    def __init__(
        self, now: Callable[[], float], me: str | None = None, you: Json | None = None
    ) -> None:
        self.now = now
        self.me = me
        # Your own part (the private view of GET /auctions/{id}), kept up to date from the
        # public events: your bids, whether you lead, whether you won.
        self.you: Json | None = dict(you) if isinstance(you, dict) else None
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
            self._follow_me(message["event"])
        elif kind == "tick" and isinstance(message.get("price"), int):
            self.tick_price = message["price"]
        if self.view is not None and self.you is not None:
            self.view = {**self.view, "you": self.you}

    def _follow_me(self, event: Json) -> None:
        if self.me is None or self.view is None:
            return
        you: Json = self.you if self.you is not None else {"bids": [], "is_seller": False}
        if event.get("type") == "BidPlaced" and event.get("bidder") == self.me:
            if isinstance(event.get("amount"), int):
                you["bids"] = [*list(you.get("bids") or []), event["amount"]]
            elif not you.get("bids"):
                you["bids"] = [event.get("price")]
        if self.view.get("method") != "fpsb" and self.view.get("method") != "vickrey":
            you["leading"] = self.view.get("leader") == self.me
        result = self.view.get("result")
        if result is not None:
            you["won"] = result.get("winner") == self.me
        self.you = you

    @property
    def closed(self) -> bool:
        return self.view is not None and self.view.get("result") is not None

    def __rich__(self) -> Any:
        if self.view is None:
            return "waiting for the house..."
        return auction_panel(self.view, self.events, self.now(), self.tick_price)
