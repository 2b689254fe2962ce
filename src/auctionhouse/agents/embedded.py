"""The in-process adapter of the :class:`~auctionhouse.agents.market.Market` port.

:class:`EmbeddedHouse` wraps one ``AuctionHouse`` (sync: tests on a ``FakeClock``) or one
``HouseService`` (its async shell: commands queued, group-committed, timers run by the service)
and fans the house's durable events out to the agents watching each auction.
:meth:`EmbeddedHouse.market` gives each agent its own :class:`EmbeddedMarket`, bound to its
account and its Ed25519 bid key: embedded bids are signed and checked exactly like remote ones.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from nacl.signing import SigningKey

from auctionhouse.agents.market import Listener, MarketUpdate, SignedBid
from auctionhouse.auction import AuctionState, Event, public_event, public_view
from auctionhouse.house import AuctionHouse
from auctionhouse.house.service import HouseService
from auctionhouse.house.signing import bid_message, sign
from auctionhouse.house.verifier import place_bid_command

T = TypeVar("T")


class EmbeddedHouse:
    def __init__(self, house: AuctionHouse | HouseService) -> None:
        self.service = house if isinstance(house, HouseService) else None
        self._sync_house = house if isinstance(house, AuctionHouse) else None
        self._watchers: dict[str, list[Listener]] = {}
        self._everything: list[Listener] = []
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def house(self) -> AuctionHouse:
        if self.service is not None:
            return self.service.house
        assert self._sync_house is not None
        return self._sync_house

    async def call(self, command: Callable[[AuctionHouse], T]) -> T:
        """Run a write command: through the service's queue, or directly on a sync house."""
        if self.service is not None:
            return await self.service.call(command)
        return command(self.house)

    async def open_account(self, name: str, password: str, key: SigningKey | None = None) -> str:
        """Create (or reuse) account ``name`` with ``key``'s public half; returns its id."""
        public = key.verify_key.encode().hex() if key is not None else None

        def make(house: AuctionHouse) -> str:
            if house.accounts.exists(name):
                if public is not None:
                    house.register_key(name, public)
                return name
            return house.create_account(name, password, public_key=public).id

        if self.service is not None:
            return await self.service.run_blocking(make)
        return make(self.house)

    def market(self, account: str, key: SigningKey | None = None) -> EmbeddedMarket:
        return EmbeddedMarket(self, account, key)

    # -- fan-out of durable events ----------------------------------------------------------

    def _ensure_subscribed(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.house.subscribe(self._on_event)

    def _on_event(self, event: Event, state: AuctionState) -> None:
        aid = event.auction_id
        listeners = [*self._watchers.get(aid, ()), *self._everything]
        if not listeners:
            return
        now = self.house.clock.now()
        update = MarketUpdate(
            auction_id=aid,
            seq=event.seq,
            event=public_event(event, state.method, state.outcome is not None),
            view=public_view(state, now),
            server_time=now,
        )
        for listener in listeners:
            listener(update)

    def watch(self, auction_ids: list[str] | str, listener: Listener) -> None:
        self._ensure_subscribed()
        if auction_ids == "*":
            self._everything.append(listener)
            return
        for aid in auction_ids:
            self._watchers.setdefault(aid, []).append(listener)

    def unwatch(self, auction_ids: list[str], listener: Listener) -> None:
        for aid in auction_ids:
            watchers = self._watchers.get(aid, [])
            if listener in watchers:
                watchers.remove(listener)
            if not watchers:
                self._watchers.pop(aid, None)
        if listener in self._everything and not auction_ids:
            self._everything.remove(listener)


class EmbeddedMarket:
    """One agent's market on an embedded house."""

    def __init__(self, hub: EmbeddedHouse, account: str, key: SigningKey | None) -> None:
        self.hub = hub
        self.account = account
        self.key = key
        self._nonce = itertools.count(time.time_ns() // 1000)

    def now(self) -> float:
        return self.hub.house.clock.now()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def auctions(
        self, state: str | None = None, bidder: str | None = None
    ) -> list[dict[str, Any]]:
        return self.hub.house.list_auctions(
            state=state, bidder=bidder, limit=500, viewer=self.account
        )

    async def view(self, auction_id: str) -> dict[str, Any]:
        return self.hub.house.view(auction_id, viewer=self.account)

    async def create_auction(
        self, item: str, method: str, rules: dict[str, Any], description: str = ""
    ) -> dict[str, Any]:
        account = self.account
        return await self.hub.call(
            lambda h: h.create_auction(account, item, method, dict(rules), description=description)
        )

    async def cancel(self, auction_id: str, reason: str = "") -> dict[str, Any]:
        account = self.account
        return await self.hub.call(lambda h: h.cancel_auction(account, auction_id, reason))

    async def sign_bid(
        self, auction_id: str, amount: int, proxy_max: int | None = None
    ) -> SignedBid:
        if self.key is None:
            return SignedBid(auction_id, amount, proxy_max, None, None, None)
        nonce = max(next(self._nonce), time.time_ns() // 1000)
        self._nonce = itertools.count(nonce + 1)
        ts = round(self.now(), 3)
        message = bid_message(auction_id, self.account, amount, nonce, ts, proxy_max)
        return SignedBid(auction_id, amount, proxy_max, nonce, ts, sign(self.key, message))

    async def send_bid(self, bid: SignedBid) -> dict[str, Any]:
        # The same command as the server's faces: a signed bid's signature is verified ahead,
        # in a batch, by the service's verifier (house/verifier.py), like a remote bidder's.
        return await self.hub.call(
            place_bid_command(
                self.account,
                bid.auction_id,
                bid.amount,
                proxy_max=bid.proxy_max,
                nonce=bid.nonce,
                ts=bid.ts,
                signature=bid.signature,
            )
        )

    async def watch(self, auction_ids: list[str] | str, listener: Listener) -> None:
        self.hub.watch(auction_ids, listener)

    async def unwatch(self, auction_ids: list[str], listener: Listener) -> None:
        self.hub.unwatch(auction_ids, listener)
