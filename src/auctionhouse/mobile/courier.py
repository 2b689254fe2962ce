"""The courier of a site: agents and progress messages to other sites, batched per destination.

One HTTP request per agent move and per progress message made a busy site spend its time in
HTTP and in its connection pool (httpcore scans its queue of waiting requests for every
connection it frees, so a thousand agents in flight cost quadratic time), not in the agents.
The courier is group commit for the wire (as ``HouseService`` is for the ledger): each
destination has one queue and at most one request in flight; while it is out, what arrives
waits and then goes in the next request, together.

- :meth:`Courier.deliver` hands an agent document to a site: one document goes as
  ``POST /api/v1/agents`` (what every site and tool speaks), several as
  ``POST /api/v1/agents/batch`` ``{"agents": [...]}``, answered ``{"results": [{"status",
  "body"}, ...]}`` in the same order; a site that does not know the batch route (404/405) gets
  them one by one from then on. Each caller gets its own document's status and answer, or the
  transport error that hit the request.
- :meth:`Courier.tell` queues a progress message for an agent's home; the site signs each
  batch once (``{"site", "messages", "at", "site_key", "sig"}`` under ``PROGRESS_CONTEXT``) and
  posts it to ``POST /api/v1/agents/progress``; the returned future says when home answered
  (an agent waits for it before moving on). A lost batch is counted, never fatal to a trip.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from auctionhouse.mobile.travel import PROGRESS_CONTEXT

MAX_BATCH = 200
"""Documents or messages in one request at most."""
MAX_BATCH_BYTES = 512 * 1024
"""Bytes of documents in one request at most (a house takes bodies up to 1 MiB)."""


@dataclass
class _Queue:
    items: deque[tuple[bytes, asyncio.Future[tuple[int, Any]]]] = field(default_factory=deque)
    busy: bool = False


class Courier:
    def __init__(
        self,
        http: httpx.AsyncClient,
        sign: Callable[[bytes, dict[str, Any]], dict[str, Any]],
        counts: Counter[str],
        site: Callable[[], str],
    ) -> None:
        self.http = http
        self.sign = sign
        self.counts = counts
        self.site = site
        self._moves: dict[str, _Queue] = {}
        self._told: dict[str, list[tuple[dict[str, Any], asyncio.Future[bool]]]] = {}
        self._telling: set[str] = set()
        self._single: set[str] = set()  # sites without the batch route
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- agents -------------------------------------------------------------------------------

    async def deliver(self, site: str, document: dict[str, Any]) -> tuple[int, Any]:
        """POST ``document`` to ``site`` (batched with others going there): its HTTP status and
        answer. Raises the ``httpx`` error that hit the request carrying it."""
        future: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
        queue = self._moves.setdefault(site, _Queue())
        queue.items.append((json.dumps(document, separators=(",", ":")).encode(), future))
        if not queue.busy:
            queue.busy = True
            self._spawn(self._drain(site, queue))
        return await future

    async def _drain(self, site: str, queue: _Queue) -> None:
        try:
            while queue.items:
                batch: list[tuple[bytes, asyncio.Future[tuple[int, Any]]]] = []
                size = 0
                while queue.items and len(batch) < MAX_BATCH:
                    body = queue.items[0][0]
                    if batch and size + len(body) > MAX_BATCH_BYTES:
                        break
                    batch.append(queue.items.popleft())
                    size += len(body)
                await self._send(site, batch)
        finally:
            queue.busy = False
            if not queue.items:
                self._moves.pop(site, None)

    async def _send(
        self, site: str, batch: list[tuple[bytes, asyncio.Future[tuple[int, Any]]]]
    ) -> None:
        try:
            if len(batch) > 1 and site not in self._single:
                body = b'{"agents":[' + b",".join(b for b, _ in batch) + b"]}"
                response = await self._post(f"{site}/api/v1/agents/batch", body)
                if response.status_code in (404, 405):
                    self._single.add(site)
                else:
                    self.counts["batches"] += 1
                    _settle_batch(batch, response)
                    return
            answers = await asyncio.gather(
                *(self._post(f"{site}/api/v1/agents", b) for b, _ in batch),
                return_exceptions=True,
            )
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result((answer.status_code, _json(answer)))
        except Exception as exc:  # the request failed: every document in it hears why
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _post(self, url: str, body: bytes) -> httpx.Response:
        headers = {"content-type": "application/json"}
        return await self.http.post(url, content=body, headers=headers)

    # -- progress -----------------------------------------------------------------------------

    def tell(self, home: str, message: dict[str, Any]) -> asyncio.Future[bool]:
        """Queue ``message`` (unsigned) for ``home``; it goes in the next signed batch. The
        future says, once that batch is answered, whether home took it."""
        told: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._told.setdefault(home, []).append((message, told))
        if home not in self._telling:
            self._telling.add(home)
            self._spawn(self._tell_all(home))
        return told

    async def _tell_all(self, home: str) -> None:
        try:
            while self._told.get(home):
                messages = self._told.pop(home)
                for start in range(0, len(messages), MAX_BATCH):
                    await self._tell(home, messages[start : start + MAX_BATCH])
        finally:
            self._telling.discard(home)

    async def _tell(
        self, home: str, told: list[tuple[dict[str, Any], asyncio.Future[bool]]]
    ) -> None:
        messages = [message for message, _ in told]
        batch = self.sign(PROGRESS_CONTEXT, {"site": self.site(), "messages": messages})
        taken = False
        try:
            response = await self.http.post(f"{home}/api/v1/agents/progress", json=batch)
            taken = response.status_code < 400
            if not taken:
                self.counts["progress_refused"] += len(messages)
        except httpx.HTTPError:
            self.counts["progress_lost"] += len(messages)
        finally:
            for _, future in told:
                if not future.done():
                    future.set_result(taken)


def _settle_batch(
    batch: list[tuple[bytes, asyncio.Future[tuple[int, Any]]]], response: httpx.Response
) -> None:
    answer = _json(response)
    results = answer.get("results") if isinstance(answer, dict) else None
    if response.status_code != 200 or not isinstance(results, list) or len(results) != len(batch):
        for _, future in batch:  # the whole batch refused (busy, too big, ...): each hears it
            if not future.done():
                future.set_result((response.status_code, answer))
        return
    for (_, future), result in zip(batch, results, strict=True):
        ok = isinstance(result, dict) and isinstance(result.get("status"), int)
        if not future.done():
            future.set_result((result["status"], result.get("body")) if ok else (502, result))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"status": response.status_code}
