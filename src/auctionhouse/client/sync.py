"""Client: the blocking face of :class:`AsyncClient`, with no second copy of its logic.

A private event loop runs on a daemon thread; every method submits the async method of the same
name to that loop and waits for its result (exceptions come through unchanged). ``watch`` is a
plain iterator pulling the async iterator one message at a time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from auctionhouse.client.aio import AsyncClient, Json
from auctionhouse.client.clock import ServerClock
from auctionhouse.client.keys import BidKey

P = ParamSpec("P")
T = TypeVar("T")


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Client, P], T]:
    """The sync twin of an ``AsyncClient`` method: run it on the client's loop and wait."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self._async, *args, **kwargs))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class Client:
    """A blocking client; same arguments and methods as :class:`AsyncClient`."""

    def __init__(
        self,
        house: str | None = None,
        *,
        token: str | None = None,
        account: str | None = None,
        key: BidKey | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="auctionhouse-client", daemon=True
        )
        self._thread.start()

        async def build() -> AsyncClient:
            return AsyncClient(house, token=token, account=account, key=key, timeout=timeout)

        self._async = self._run(build())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            raise RuntimeError("this client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._async.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # State shared with the async client (one object, not a copy).
    @property
    def house(self) -> str:
        return self._async.house

    @property
    def token(self) -> str | None:
        return self._async.token

    @token.setter
    def token(self, value: str | None) -> None:
        self._async.token = value

    @property
    def account(self) -> str | None:
        return self._async.account

    @account.setter
    def account(self, value: str | None) -> None:
        self._async.account = value

    @property
    def key(self) -> BidKey | None:
        return self._async.key

    @key.setter
    def key(self, value: BidKey | None) -> None:
        self._async.key = value

    @property
    def clock(self) -> ServerClock:
        return self._async.clock

    def server_now(self) -> float:
        return self._async.server_now()

    time = _blocking(AsyncClient.time)
    sync_clock = _blocking(AsyncClient.sync_clock)
    house_info = _blocking(AsyncClient.house_info)
    create_account = _blocking(AsyncClient.create_account)
    login = _blocking(AsyncClient.login)
    logout = _blocking(AsyncClient.logout)
    change_password = _blocking(AsyncClient.change_password)
    me = _blocking(AsyncClient.me)
    register_key = _blocking(AsyncClient.register_key)
    reputation = _blocking(AsyncClient.reputation)
    list_auctions = _blocking(AsyncClient.list_auctions)
    create_auction = _blocking(AsyncClient.create_auction)
    upload_photo = _blocking(AsyncClient.upload_photo)
    photo = _blocking(AsyncClient.photo)
    auction = _blocking(AsyncClient.auction)
    events = _blocking(AsyncClient.events)
    events_page = _blocking(AsyncClient.events_page)
    cancel = _blocking(AsyncClient.cancel)
    pause = _blocking(AsyncClient.pause)
    resume = _blocking(AsyncClient.resume)
    admin_stats = _blocking(AsyncClient.admin_stats)
    metrics = _blocking(AsyncClient.metrics)
    bid = _blocking(AsyncClient.bid)
    signature = _blocking(AsyncClient.signature)
    # markets (docs/markets.md)
    create_market = _blocking(AsyncClient.create_market)
    markets = _blocking(AsyncClient.markets)
    market = _blocking(AsyncClient.market)
    book = _blocking(AsyncClient.book)
    trades = _blocking(AsyncClient.trades)
    market_events = _blocking(AsyncClient.market_events)
    my_orders = _blocking(AsyncClient.my_orders)
    close_market = _blocking(AsyncClient.close_market)
    order = _blocking(AsyncClient.order)
    cancel_order = _blocking(AsyncClient.cancel_order)

    def watch_market(self, market_id: str, *, give_up_after: float | None = 30.0) -> Iterator[Json]:
        """A blocking iterator over :meth:`AsyncClient.watch_market`."""
        return self._iterate(self._async.watch_market(market_id, give_up_after=give_up_after))

    def _iterate(self, stream: AsyncIterator[Json]) -> Iterator[Json]:
        async def step() -> tuple[bool, Json | None]:
            try:
                return True, await stream.__anext__()
            except StopAsyncIteration:
                return False, None

        try:
            while True:
                more, message = self._run(step())
                if not more or message is None:
                    return
                yield message
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None and not self._loop.is_closed():
                self._run(aclose())

    def watch(
        self,
        auctions: Iterable[str] | str,
        *,
        after: Mapping[str, int] | None = None,
        until_closed: bool = False,
        give_up_after: float | None = 30.0,
    ) -> Iterator[Json]:
        """A blocking iterator over :meth:`AsyncClient.watch`."""
        return self._iterate(
            self._async.watch(
                auctions, after=after, until_closed=until_closed, give_up_after=give_up_after
            )
        )
