"""The secrecy property of issue 9 as one scenario, run in-process (hypothesis, FakeClock) and
against a live server (real HTTP and WebSocket).

A scenario creates random auctions of all four methods, each with a *twin*: the same public rules
without a reserve, given the same bids. It bids (plain and proxy bids, leaders' raises, sealed
bids), then reads everything another account (``eve``) and an anonymous client can: views, event
logs, WebSocket frames, list filters, bidders' reputations, ``/metrics``, error answers, close
times and countdowns. It asserts:

- no secret (a reserve, a proxy maximum or raised maximum, a sealed amount) appears as text in
  anything read before the close, unless the auction's own price has reached it (an English
  price is capped at the leader's maximum: that is the price, not a leak);
- *who* bid in an open sealed auction shows nowhere: not in its views, events or frames, not in
  the ``bidder`` list filter, not in the bidders' public reputation counts;
- the secret reserve changes nothing public but the yes/no ``reserve_met`` (and ``has_reserve``):
  every public view of an auction equals its twin's, close times and countdowns included.

Secret amounts are drawn from ``MARKERS``: distinctive numbers with distinct residues mod 100,
while every public amount is a multiple of 100 away from a public price, so no public number can
equal a secret by chance.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server_helpers import Api

METHODS = ("english", "dutch", "fpsb", "vickrey")
BIDDERS = ("zqann", "zqbob", "zqcat")
OTHER = "zqeve"
SELLER = "zqseller"
MARKERS = [3_000_000 + 13_000 * i + r for i, r in enumerate(range(11, 99, 3))]


TIMES = ("opens_at", "closes_at", "close_due_at")


def public_of(view: dict[str, Any], exact: bool) -> dict[str, Any]:
    """A view without what may differ between an auction and its twin; its times relative to
    its creation (on a live server the twin is created a moment earlier). Not ``exact`` (a real
    clock: the two are read a moment apart), a Dutch clock price may be one step apart."""
    out = {k: v for k, v in view.items() if k not in ("id", "reserve_met", "you")}
    out["rules"] = {k: v for k, v in view["rules"].items() if k != "has_reserve"}
    born = view["created_at"]
    for where in (out, out["rules"]):
        for name in TIMES:
            if isinstance(where.get(name), int | float):
                where[name] = round(where[name] - born, 2)
    out.pop("created_at")
    if not exact and view["method"] == "dutch" and view["result"] is None:
        out.pop("price")
        out.pop("min_next_bid")
    return out


@dataclass
class English:
    """The leader rule and proxy pricing, as the issue states them: the test's own oracle."""

    start: int
    increment: int
    leader: str | None = None
    price: int = 0
    maxima: dict[str, int] = field(default_factory=dict)

    def min_next(self) -> int:
        return self.start if self.leader is None else self.price + self.increment

    def bid(self, bidder: str, amount: int, proxy: int | None) -> bool:
        mine = proxy if proxy is not None else amount
        if amount < self.min_next():
            return False
        if self.leader is None:
            self.leader, self.price = bidder, amount
        elif bidder == self.leader:
            if mine <= self.maxima[bidder]:
                return False
        else:
            top = self.maxima[self.leader]
            if mine > top:
                raised = min(mine, top + self.increment)
                self.price = amount if proxy is None else max(amount, raised)
                self.leader = bidder
            else:
                self.price = min(top, mine + self.increment)
        self.maxima[bidder] = max(self.maxima.get(bidder, 0), mine)
        return True


@dataclass
class Lot:
    method: str
    ids: tuple[str, str]  # (with the reserve, the twin without)
    reserve: int | None
    model: English | None = None
    sealed_bidders: set[str] = field(default_factory=set)
    secrets: set[int] = field(default_factory=set)
    public_prices: set[int] = field(default_factory=set)
    done: bool = False  # closed (a Dutch accept)


class Scenario:
    """Drives one scenario through ``api`` (a sync HTTP client of the house) and reads what the
    public can read. ``frames`` gives the WebSocket frames seen so far by an anonymous watcher of
    every auction and by ``eve``; ``advance`` moves house time (a no-op on a live server)."""

    def __init__(
        self,
        api: Api,
        frames: Callable[[], list[str]],
        advance: Callable[[float], None],
        draw: Callable[[Any], Any],
        exact: bool = True,
    ) -> None:
        self.api = api
        self.exact = exact  # house time stands still between reads (a FakeClock)
        self.frames = frames
        self.advance = advance
        self.draw = draw
        self.lots: list[Lot] = []
        self.unused = list(MARKERS)
        self.read: list[str] = []  # every public text read before the close
        self.counted: dict[str, set[str]] = {b: set() for b in BIDDERS}  # public auctions
        self.bids: dict[str, int] = dict.fromkeys(BIDDERS, 0)

    # ------------------------------------------------------------------ drawing

    def marker(self, above: int) -> int | None:
        from hypothesis import strategies as st

        choices = [m for m in self.unused if m > above]
        if not choices:
            return None
        value: int = self.draw(st.sampled_from(choices))
        self.unused.remove(value)
        return value

    def sell(self, method: str) -> None:
        from hypothesis import strategies as st

        reserve = self.marker(0) if self.draw(st.booleans()) else None
        if method == "english":
            rules: dict[str, Any] = {
                "starting_price": self.draw(st.sampled_from([100, 500])),
                "min_increment": self.draw(st.sampled_from([100, 200])),
                "duration": 600,
            }
        elif method == "dutch":
            rules = {
                "starting_price": 4_000_000,
                "decrement": self.draw(st.sampled_from([100_000, 250_000])),
                "tick_seconds": 1,
            }
        else:
            rules = {"duration": 600, "starting_price": 100}
            if self.draw(st.booleans()):
                rules["expected_bids"] = len(BIDDERS) + 1  # never reached: it stays open
        twin = self.api.sell(SELLER, method, **rules)["id"]
        secret = self.api.sell(SELLER, method, **rules, reserve_price=reserve or 0)["id"]
        lot = Lot(method, (secret, twin), reserve)
        if reserve is not None:
            lot.secrets.add(reserve)
        if method == "english":
            lot.model = English(rules["starting_price"], rules["min_increment"])
        self.lots.append(lot)

    def bid_both(self, lot: Lot, bidder: str, amount: int, proxy: int | None = None) -> int:
        extra = {} if proxy is None else {"proxy_max": proxy}
        codes = []
        for aid in lot.ids:
            r = self.api.bid(bidder, aid, amount, **extra)
            codes.append(r.status_code)
        assert codes[0] == codes[1], (lot.method, codes)
        return codes[0]

    def step(self) -> None:
        from hypothesis import strategies as st

        open_lots = [lot for lot in self.lots if not lot.done and lot.method != "dutch"]
        if not open_lots:
            return
        lot = self.draw(st.sampled_from(open_lots))
        bidder = self.draw(st.sampled_from(BIDDERS))
        if lot.model is not None:
            self.english_step(lot, bidder)
        elif bidder not in lot.sealed_bidders:
            amount = self.marker(0)
            if amount is None:
                return
            lot.secrets.add(amount)
            assert self.bid_both(lot, bidder, amount) == 201
            lot.sealed_bidders.add(bidder)
        self.advance(self.draw(st.sampled_from([0.0, 0.3, 1.7])))

    def english_step(self, lot: Lot, bidder: str) -> None:
        from hypothesis import strategies as st

        model = lot.model
        assert model is not None
        least = model.min_next()
        kind = self.draw(st.sampled_from(["plain", "proxy", "raise"]))
        proxy: int | None = None
        if kind == "plain":
            amount = least + 100 * self.draw(st.integers(0, 3))
        elif kind == "proxy":  # its amount the least allowed, or its maximum itself
            proxy = self.marker(least - 1)
            if proxy is None:
                return
            amount = self.draw(st.sampled_from([least, proxy]))
        else:  # a leader's raise of its own maximum (plain or proxy); anyone else: plain max
            top = model.maxima.get(bidder, 0)
            raised = self.marker(max(top, least - 1))
            if raised is None:
                return
            if self.draw(st.booleans()):  # issue 9's input: amount and maximum alike
                amount, proxy = self.draw(st.sampled_from([least, raised])), raised
            else:
                amount = raised
        if proxy is not None:
            lot.secrets.add(proxy)
        if kind == "raise" and proxy is None and bidder == model.leader:
            lot.secrets.add(amount)  # a leader's plain raise: its new maximum
        # (anyone else's plain bid is public as made)
        accepted = model.bid(bidder, amount, proxy)
        code = self.bid_both(lot, bidder, amount, proxy)
        assert (code == 201) == accepted, (amount, proxy, code, model)
        if accepted:
            self.counted[bidder].add(lot.ids[0])
            self.bids[bidder] += 1
        view = self.api.view(lot.ids[0])
        assert (view["price"], view["leader"]) == (model.price, model.leader)
        lot.public_prices.add(model.price)

    # ------------------------------------------------------------------ reading

    def look(self) -> None:
        """Read every public surface now (anonymous and eve), keep the text, check the twins."""
        api = self.api
        for lot in self.lots:
            views = []
            for aid in lot.ids:
                for who in (None, OTHER):
                    view = api.view(aid, who)
                    view.pop("you", None)
                    views.append(view)
                    self.read.append(json.dumps(view))
                self.read.append(json.dumps(api.events(aid)))
            # The reserve changes nothing public but reserve_met: close times, countdowns,
            # prices and states are the twin's.
            assert public_of(views[0], self.exact) == public_of(views[2], self.exact), (
                public_of(views[0], self.exact),
                public_of(views[2], self.exact),
            )
            if lot.method in ("fpsb", "vickrey") and not lot.done:
                text = json.dumps(views[0]) + json.dumps(api.events(lot.ids[0]))
                for bidder in lot.sealed_bidders:
                    assert bidder not in text, (lot.method, bidder)
        listed = api.client.get("/api/v1/auctions", params={"limit": 500})
        self.read.append(listed.text)
        for bidder in BIDDERS:
            for who in (None, OTHER):
                headers = api.auth(who) if who else {}
                r = api.client.get(
                    "/api/v1/auctions", params={"bidder": bidder, "limit": 500}, headers=headers
                )
                shown = {a["id"] for a in r.json()["auctions"]}
                self.read.append(r.text)
                for lot in self.lots:
                    if bidder in lot.sealed_bidders and not lot.done:
                        assert lot.ids[0] not in shown, (bidder, lot.method)
            reputation = api.client.get(f"/api/v1/accounts/{bidder}/reputation").json()
            self.read.append(json.dumps(reputation))
            # Only bids the public may know of (none in an open sealed auction) are counted:
            # every English bid, twice (the auction and its twin).
            assert reputation["bids"] == self.bids[bidder] * 2, (bidder, reputation)
            assert reputation["strikes"] == 0
        self.read.append(api.client.get("/metrics").text)
        for lot in self.lots:  # refusals told to another account and to nobody
            for aid in lot.ids:
                self.read.append(api.bid(OTHER, aid, 1).text)
                anonymous = api.client.post(f"/api/v1/auctions/{aid}/bids", json={"amount": 1})
                self.read.append(anonymous.text)

    def leaks(self, texts: list[str], *, closed: bool) -> list[tuple[str, int, str]]:
        found = []
        for lot in self.lots:
            allowed = set(lot.public_prices)
            if closed:
                if lot.method in ("fpsb", "vickrey"):
                    continue  # sealed bids are revealed at the close
                if lot.method == "english":
                    allowed.add(lot.reserve or 0)  # a winner may pay exactly the reserve
            for secret in lot.secrets - allowed:
                pattern = re.compile(rf"(?<!\d){secret}(?!\d)")
                for text in texts:
                    hit = pattern.search(text)
                    if hit:
                        context = text[max(0, hit.start() - 300) : hit.end() + 100]
                        found.append((lot.method, secret, context))
                        break
        return found

    def run(self, steps: int, methods: list[str], watch: Callable[[], None]) -> None:
        """Accounts, ``watch()`` (the watchers connect), the auctions, the bids; then read
        everything and look for secrets."""
        for name in (SELLER, *BIDDERS, OTHER):
            self.api.account(name)
        watch()
        for method in methods:
            self.sell(method)
        for i in range(steps):
            self.step()
            if i % 4 == 3:
                self.look()
        self.look()
        wait_for_frames(self)
        found = self.leaks(self.read + self.frames(), closed=False)
        assert found == [], found

    def close_all(self, wait: Callable[[], None]) -> None:
        """Dutch accepts (maybe below the reserve), then every close; ``wait`` lets the house's
        timers close what is due. The reserve of a Dutch auction and every proxy maximum stay
        secret after the close too, and every closed view is frozen at its outcome."""
        from hypothesis import strategies as st

        for lot in self.lots:
            if lot.method == "dutch" and self.draw(st.booleans()):
                price = self.api.view(lot.ids[0])["price"]
                assert self.bid_both(lot, self.draw(st.sampled_from(BIDDERS)), price) == 201
                lot.done = True
        wait()
        texts = []
        for lot in self.lots:
            for aid in lot.ids:
                view = self.api.view(aid, OTHER)
                assert view["state"] == "closed" and view["result"] is not None, view
                assert view["price"] == view["result"]["price"], view
                assert view["leader"] == view["result"]["winner"], view
                assert view["min_next_bid"] is None and view["close_due_at"] is None, view
                texts += [json.dumps(view), json.dumps(self.api.events(aid))]
        wait_for_frames(self)
        found = self.leaks(texts + self.frames(), closed=True)
        assert found == [], found


def wait_for_frames(scenario: Scenario, timeout: float = 10.0) -> None:
    """Until the watchers' frames have caught up with every auction's last seq (bounded)."""
    want = {aid: scenario.api.view(aid)["seq"] for lot in scenario.lots for aid in lot.ids}
    deadline = time.monotonic() + timeout
    while True:
        seen: dict[str, int] = {}
        for frame in scenario.frames():
            message = json.loads(frame)
            if message.get("type") in ("event", "snapshot"):
                aid = message["auction"]
                seq = message.get("seq") or message["view"]["seq"]
                seen[aid] = max(seen.get(aid, 0), seq)
        if all(seen.get(aid, 0) >= seq for aid, seq in want.items()):
            return
        assert time.monotonic() < deadline, ("frames never caught up", want, seen)
        time.sleep(0.01)
