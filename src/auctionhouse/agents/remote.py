"""The network adapter of the :class:`~auctionhouse.agents.market.Market` port.

:class:`RemoteMarket` is one agent's account on a house served by ``auctionhouse serve``, through
the SDK (``auctionhouse.client.AsyncClient``): it logs in (creating the account if asked),
registers its bid key, keeps the house clock, and watches auctions over the WebSocket with the
SDK's resumable ``watch`` (reconnects, resubscribes after the last seq seen, no gap, no
duplicate). A reconnection shows as the house sending snapshots again; the market then tells its
listeners ``Reconnected`` so that bidders check which of their bids landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Literal

from auctionhouse.agents.market import Listener, MarketUpdate, Reconnected, SignedBid
from auctionhouse.client import AsyncClient, BidKey
from auctionhouse.errors import AuctionhouseError, Conflict, NotFound, Unauthorized

log = logging.getLogger("auctionhouse.agents.remote")


class RemoteMarket:
    def __init__(
        self,
        house: str,
        account: str,
        password: str,
        *,
        key: BidKey | None = None,
        create_account: bool = False,
        timeout: float = 10.0,
        bid_via: Literal["http", "ws"] = "http",
    ) -> None:
        self.account = account
        self.bid_via: Literal["http", "ws"] = bid_via
        self.password = password
        self.key = key
        self.create_account = create_account
        self.client = AsyncClient(house, account=account, key=key, timeout=timeout)
        self._watches: list[tuple[list[str] | str, Listener, asyncio.Task[None]]] = []
        self._started = False

    @property
    def house(self) -> str:
        return self.client.house

    def now(self) -> float:
        return self.client.server_now()

    async def start(self) -> None:
        if self._started:
            return
        client = self.client
        try:
            await client.login(self.account, self.password)
        except (Unauthorized, NotFound):
            if not self.create_account:
                raise
            public = self.key.public_key if self.key is not None else None
            try:
                await client.create_account(self.account, self.password, public_key=public)
            except Conflict:  # the account exists: the password was what failed
                raise Unauthorized(
                    f"the account {self.account!r} exists at {self.house} and its password is"
                    " not the one in the agent document"
                ) from None
            await client.login(self.account, self.password)
        if self.key is not None:
            me = await client.me()
            if me.get("public_key") != self.key.public_key:
                await client.register_key()
        await client.sync_clock(3)
        self._started = True

    async def close(self) -> None:
        for _, _, task in self._watches:
            task.cancel()
        for _, _, task in self._watches:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watches.clear()
        await self.client.aclose()

    async def auctions(
        self, state: str | None = None, bidder: str | None = None
    ) -> list[dict[str, Any]]:
        page = await self.client.list_auctions(state=state, bidder=bidder, limit=500)
        return list(page.get("auctions", []))

    async def view(self, auction_id: str) -> dict[str, Any]:
        return await self.client.auction(auction_id)

    async def create_auction(
        self, item: str, method: str, rules: dict[str, Any], description: str = ""
    ) -> dict[str, Any]:
        return await self.client.create_auction(
            item, method, rules, description=description or None
        )

    async def cancel(self, auction_id: str, reason: str = "") -> dict[str, Any]:
        return await self.client.cancel(auction_id, reason or None)

    async def sign_bid(
        self, auction_id: str, amount: int, proxy_max: int | None = None
    ) -> SignedBid:
        if self.key is None:
            return SignedBid(auction_id, amount, proxy_max, None, None, None)
        sig = await self.client.signature(auction_id, amount, proxy_max)
        return SignedBid(auction_id, amount, proxy_max, sig["nonce"], sig["ts"], sig["signature"])

    async def send_bid(self, bid: SignedBid) -> dict[str, Any]:
        presigned = None
        if bid.signature is not None:
            presigned = {"nonce": bid.nonce, "ts": bid.ts, "signature": bid.signature}
        return await self.client.bid(
            bid.auction_id,
            bid.amount,
            proxy_max=bid.proxy_max,
            signed=bid.signature is not None,
            presigned=presigned,
            via=self.bid_via,
        )

    async def watch(self, auction_ids: list[str] | str, listener: Listener) -> None:
        if auction_ids != "*" and not auction_ids:
            return
        ready = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            self._pump(auction_ids, listener, ready), name=f"watch:{self.account}"
        )
        self._watches.append((auction_ids, listener, task))
        if auction_ids == "*":
            return  # no snapshot may come (no open auction); bidders also list what is open
        # Wait for the subscription to be in place (the first snapshot), so no event is missed.
        done, _ = await asyncio.wait(
            {ready, task}, timeout=self.client.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done and not ready.done():
            task.result()  # raises what stopped it
        if not done:  # the watcher keeps reconnecting; events will come once it is through
            log.warning("%s: watching %s has not started yet", self.account, self.house)

    async def unwatch(self, auction_ids: list[str], listener: Listener) -> None:
        keep = []
        for ids, who, task in self._watches:
            if who is listener and (ids == auction_ids or not auction_ids):
                task.cancel()
            else:
                keep.append((ids, who, task))
        self._watches = keep

    async def _pump(
        self, auction_ids: list[str] | str, listener: Listener, ready: asyncio.Future[None]
    ) -> None:
        snapshotted: set[str] = set()
        views: dict[str, dict[str, Any]] = {}
        stream = self.client.watch(auction_ids, give_up_after=None)
        try:
            async for message in stream:
                kind = message.get("type")
                aid = message.get("auction")
                if not ready.done() and kind in ("snapshot", "event", "subscribed"):
                    ready.set_result(None)
                if kind == "snapshot" and isinstance(aid, str):
                    snapshot = message.get("view")
                    if isinstance(snapshot, dict):
                        views[aid] = snapshot
                    if aid in snapshotted:
                        snapshotted.clear()
                        listener(Reconnected())
                    snapshotted.add(aid)
                    continue
                if kind != "event" or not isinstance(aid, str):
                    continue
                view = message.get("view") or views.get(aid)
                if view is None:  # a gap filled from the log: fetch the current view
                    view = await self.client.auction(aid)
                # Catch-up events carry no view (the snapshot before them has it).
                views[aid] = view
                listener(
                    MarketUpdate(
                        auction_id=aid,
                        seq=int(message["seq"]),
                        event=message.get("event") or {},
                        view=view,
                        server_time=float(message.get("server_time") or self.now()),
                    )
                )
        except AuctionhouseError as exc:
            log.warning("%s: watching stopped: %s", self.account, exc.message)
            raise
