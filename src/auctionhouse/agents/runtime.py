"""The agent runtime: lifecycle, mailboxes, timers, holons (DESIGN.md section 6, seed 001).

An :class:`Agent` lives in a :class:`Runtime`. Everything that happens to it (its start, every
event sent to it, every timer firing, its stop) goes through **one mailbox** and is handled one
at a time by one task, so a timer and an event handler never run at once: seed 001's
``synchronized`` blocks are not needed, the race cannot happen.

Holons (seed 001): an agent spawns members in its own inner context (``ctx.spawn``). The parent
talks to its members with ``ctx.wake(event)``; a member talks to its context with
``ctx.emit(event)`` (the parent and the other members hear it) or to its parent only with
``ctx.emit(event, scope=ctx.parent)``. Stopping an agent stops its members first (deepest first),
then the agent itself; a parent hears ``MemberStopped`` as each member goes, and
``ctx.has_members`` tells it whether any is left.

Time comes from an injected clock. With ``manual=True`` (tests, on a ``FakeClock``) timers fire
only inside :meth:`Runtime.advance`, which moves the clock from one due timer to the next and
lets every mailbox drain in between: a ten-second quiet period is tested in milliseconds. Without
it a driver task sleeps until the next due timer on the real clock.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from auctionhouse.errors import AuctionhouseError, ConfigError
from auctionhouse.house.clock import Clock, SystemClock
from auctionhouse.money import warm_up

log = logging.getLogger("auctionhouse.agents")

Address = str
Scope = Address | Iterable[Address] | Callable[[Address], bool] | None
Handler = Callable[[], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Stop:
    """Asks an agent to stop (its members stop first)."""


@dataclass(frozen=True, slots=True)
class MemberStopped:
    """Told to a parent when one of its members has stopped."""

    address: Address


@dataclass(frozen=True, slots=True)
class _Start:
    pass


@dataclass(frozen=True, slots=True)
class _Fire:
    timer: Timer


@dataclass(frozen=True, slots=True)
class _Deliver:
    event: object
    source: Address | None


class Timer:
    """A one-shot (``in``) or periodic (``every``) task of one agent; ``cancel()`` stops it."""

    __slots__ = ("_runtime", "action", "active", "agent", "due", "name", "period")

    def __init__(
        self,
        runtime: Runtime,
        agent: Address,
        due: float,
        period: float | None,
        action: Handler,
        name: str,
    ) -> None:
        self._runtime = runtime
        self.agent = agent
        self.due = due
        self.period = period
        self.action = action
        self.active = True
        self.name = name

    def cancel(self) -> None:
        self.active = False

    def __repr__(self) -> str:
        return f"Timer({self.name!r}, agent={self.agent!r}, due={self.due}, period={self.period})"


class Agent:
    """Base class: override the ``on_*`` methods (plain or ``async``).

    ``on_start(ctx)`` runs first, ``on_event(ctx, event, source)`` for every event delivered,
    ``on_stop(ctx)`` last (after every member has stopped). ``source`` is the sender's address
    (None for events from outside the runtime, e.g. the market).
    """

    name: str = "agent"

    def on_start(self, ctx: Context) -> Awaitable[None] | None:
        return None

    def on_event(
        self, ctx: Context, event: object, source: Address | None
    ) -> Awaitable[None] | None:
        return None

    def on_stop(self, ctx: Context) -> Awaitable[None] | None:
        return None


@dataclass(eq=False)
class _Slot:
    """The runtime's record of one live agent."""

    agent: Agent
    address: Address
    parent: Address | None
    ctx: Context
    mailbox: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    members: list[Address] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    busy: bool = False
    stopping: bool = False
    done: asyncio.Future[None] | None = None


class Context:
    """What an agent can do: its capacities (seed 001's Lifecycle, Behaviors, Schedules...)."""

    def __init__(self, runtime: Runtime, address: Address, parent: Address | None, seed: int):
        self.runtime = runtime
        self.address = address
        self.parent = parent
        self.rng = agent_rng(seed, address)

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def now(self) -> float:
        return self.runtime.clock.now()

    # -- holons -----------------------------------------------------------------------------

    def spawn(self, agent: Agent, name: str | None = None) -> Address:
        """Create ``agent`` as a member of this agent's inner context."""
        return self.runtime.spawn(agent, name=name, parent=self.address)

    @property
    def members(self) -> list[Address]:
        return list(self.runtime._slot(self.address).members)

    @property
    def has_members(self) -> bool:
        return bool(self.runtime._slot(self.address).members)

    def wake(self, event: object) -> None:
        """Send ``event`` to every member of this agent's inner context (parent -> members)."""
        for member in self.members:
            self.runtime.send(member, event, source=self.address)

    def emit(self, event: object, scope: Scope = None) -> None:
        """Send ``event`` into the context this agent lives in: its parent and the other members
        (the other top-level agents for a top-level agent), narrowed by ``scope``: an address,
        addresses, or a predicate. ``scope=ctx.parent`` reaches the parent only (seed 001)."""
        if self.parent is not None:
            space = [self.parent, *self.runtime._slot(self.parent).members]
        else:
            space = list(self.runtime._roots)
        for target in space:
            if target != self.address and _in_scope(target, scope):
                self.runtime.send(target, event, source=self.address)

    def send(self, to: Address, event: object) -> None:
        """Send ``event`` to one agent by address."""
        self.runtime.send(to, event, source=self.address)

    # -- lifecycle and schedules ------------------------------------------------------------

    def stop(self) -> None:
        """Stop this agent (seed 001's ``killMe``): its members first, then itself."""
        self.runtime.stop(self.address)

    def in_(self, delay: float, action: Handler, name: str = "in") -> Timer:
        """Run ``action`` once, ``delay`` seconds from now, through this agent's mailbox."""
        return self.runtime._add_timer(self.address, delay, None, action, name)

    def every(
        self, period: float, action: Handler, *, first: float | None = None, name: str = "every"
    ) -> Timer:
        """Run ``action`` every ``period`` seconds (the first time after ``first``, default
        ``period``), through this agent's mailbox."""
        if period <= 0:
            raise ConfigError("a periodic task needs a positive period")
        delay = period if first is None else first
        return self.runtime._add_timer(self.address, delay, period, action, name)


def agent_rng(seed: int, name: str) -> np.random.Generator:
    """The random generator of agent ``name`` under run seed ``seed`` (same seed, same draws)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _in_scope(target: Address, scope: Scope) -> bool:
    if scope is None:
        return True
    if isinstance(scope, str):
        return target == scope
    if callable(scope):
        return bool(scope(target))
    return target in set(scope)


async def _maybe_await(result: Awaitable[None] | None) -> None:
    if inspect.isawaitable(result):
        await result


class Runtime:
    """Hosts agents. Use it inside a running event loop; ``async with Runtime() as rt``."""

    def __init__(self, clock: Clock | None = None, *, manual: bool = False, seed: int = 0) -> None:
        self.clock: Clock = clock or SystemClock()
        warm_up()  # agents' log lines format money: load Babel's data before any clock runs
        self.manual = manual
        self.seed = seed
        self._slots: dict[Address, _Slot] = {}
        self._roots: list[Address] = []
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._names = itertools.count(1)
        self._wakeup: asyncio.Event | None = None
        self._driver: asyncio.Task[None] | None = None
        self._tickers: list[Callable[[], object]] = []
        # What happened, for people and tests: (address, "started"|"stopped"), and failures.
        self.lifecycle: list[tuple[Address, str]] = []
        self.failures: list[tuple[Address, BaseException]] = []

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # -- agents -----------------------------------------------------------------------------

    def spawn(
        self, agent: Agent, name: str | None = None, parent: Address | None = None
    ) -> Address:
        """Start ``agent`` (at top level, or as a member of ``parent``); returns its address."""
        local = name or getattr(agent, "name", None) or f"agent-{next(self._names)}"
        address = f"{parent}/{local}" if parent is not None else local
        if address in self._slots:
            raise ConfigError(f"an agent named {address!r} is running already")
        if parent is not None:
            owner = self._slot(parent)
            if owner.stopping:
                raise ConfigError(f"{parent!r} is stopping; it cannot take new members")
            owner.members.append(address)
        else:
            self._roots.append(address)
        slot = _Slot(agent, address, parent, Context(self, address, parent, self.seed))
        slot.done = asyncio.get_running_loop().create_future()
        self._slots[address] = slot
        slot.mailbox.put_nowait(_Start())
        slot.task = asyncio.create_task(self._run(slot), name=f"agent:{address}")
        return address

    def send(self, to: Address, event: object, source: Address | None = None) -> bool:
        """Put ``event`` in ``to``'s mailbox; False if no such agent is alive (dropped)."""
        slot = self._slots.get(to)
        if slot is None or slot.done is None or slot.done.done():
            return False
        slot.mailbox.put_nowait(_Deliver(event, source))
        return True

    def stop(self, address: Address) -> None:
        slot = self._slots.get(address)
        if slot is not None and not slot.stopping:
            slot.mailbox.put_nowait(Stop())

    def agent(self, address: Address) -> Agent:
        return self._slot(address).agent

    @property
    def addresses(self) -> list[Address]:
        return list(self._slots)

    async def wait_stopped(self, address: Address, timeout: float | None = None) -> None:
        slot = self._slots.get(address)
        if slot is None or slot.done is None:
            return
        await asyncio.wait_for(asyncio.shield(slot.done), timeout)

    async def shutdown(self) -> None:
        """Stop every agent (members before parents) and the timer driver."""
        roots = list(self._roots)
        for address in roots:
            self.stop(address)
        for address in roots:
            await self.wait_stopped(address)
        if self._driver is not None:
            self._driver.cancel()
            try:
                await self._driver
            except asyncio.CancelledError:
                pass
            self._driver = None

    def _slot(self, address: Address) -> _Slot:
        slot = self._slots.get(address)
        if slot is None:
            raise ConfigError(f"no agent {address!r} is running")
        return slot

    # -- the mailbox loop -------------------------------------------------------------------

    async def _run(self, slot: _Slot) -> None:
        agent, ctx = slot.agent, slot.ctx
        while True:
            item = await slot.mailbox.get()
            slot.busy = True
            try:
                if isinstance(item, Stop):
                    await self._stop_now(slot)
                    return
                if isinstance(item, _Start):
                    self.lifecycle.append((slot.address, "started"))
                    await _maybe_await(agent.on_start(ctx))
                elif isinstance(item, _Fire):
                    timer = item.timer
                    if timer.active:
                        if timer.period is None:
                            timer.active = False  # spent
                        await _maybe_await(timer.action())
                elif isinstance(item, _Deliver):
                    await _maybe_await(agent.on_event(ctx, item.event, item.source))
            except asyncio.CancelledError:
                raise
            except AuctionhouseError as exc:  # a refusal with a stable code: no traceback
                self.failures.append((slot.address, exc))
                log.info("agent %s: %s: %s", slot.address, exc.code, exc.message)
            except Exception as exc:
                self.failures.append((slot.address, exc))
                log.exception("agent %s failed handling %r", slot.address, item)
            finally:
                slot.busy = False
                slot.mailbox.task_done()

    async def _stop_now(self, slot: _Slot) -> None:
        slot.stopping = True
        for member in list(slot.members):
            self.stop(member)
        for member in list(slot.members):
            await self.wait_stopped(member)
        for timer in slot.timers:
            timer.cancel()
        try:
            await _maybe_await(slot.agent.on_stop(slot.ctx))
        except Exception as exc:
            self.failures.append((slot.address, exc))
            log.exception("agent %s failed stopping", slot.address)
        self.lifecycle.append((slot.address, "stopped"))
        if slot.parent is not None and slot.parent in self._slots:
            self._slots[slot.parent].members.remove(slot.address)
            self.send(slot.parent, MemberStopped(slot.address), source=slot.address)
        elif slot.address in self._roots:
            self._roots.remove(slot.address)
        del self._slots[slot.address]
        while not slot.mailbox.empty():  # what came after the stop is dropped
            slot.mailbox.get_nowait()
            slot.mailbox.task_done()
        assert slot.done is not None
        slot.done.set_result(None)

    # -- timers -----------------------------------------------------------------------------

    def _add_timer(
        self, address: Address, delay: float, period: float | None, action: Handler, name: str
    ) -> Timer:
        slot = self._slot(address)
        timer = Timer(self, address, self.clock.now() + max(0.0, delay), period, action, name)
        slot.timers.append(timer)
        self._push(timer)
        if not self.manual:
            self._ensure_driver()
            assert self._wakeup is not None
            self._wakeup.set()
        return timer

    def _push(self, timer: Timer) -> None:
        heapq.heappush(self._timers, (timer.due, next(self._order), timer))

    def next_due(self) -> float | None:
        while self._timers and not self._timers[0][2].active:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def _fire_due(self, now: float) -> int:
        """Put every timer due at ``now`` into its agent's mailbox, in due order."""
        fired = 0
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            slot = self._slots.get(timer.agent)
            if not timer.active or slot is None or slot.stopping:
                if slot is not None and timer in slot.timers:
                    slot.timers.remove(timer)
                continue
            slot.mailbox.put_nowait(_Fire(timer))
            fired += 1
            if timer.period is not None:
                timer.due += timer.period
                self._push(timer)
            else:
                slot.timers.remove(timer)
        return fired

    def _ensure_driver(self) -> None:
        if self._driver is None or self._driver.done():
            self._wakeup = asyncio.Event()
            self._driver = asyncio.create_task(self._drive(), name="agent-timers")

    async def _drive(self) -> None:
        assert self._wakeup is not None
        while True:
            due = self.next_due()
            delay = None if due is None else max(0.0, due - self.clock.now())
            self._wakeup.clear()
            if delay is None or delay > 0:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), delay)
                    continue  # a new timer may be earlier: look again
                except TimeoutError:
                    pass
            self._fire_due(self.clock.now())

    # -- manual time (tests) ----------------------------------------------------------------

    def on_clock(self, ticker: Callable[[], object]) -> None:
        """Call ``ticker()`` each time :meth:`advance` moves the clock (e.g. ``house.tick``)."""
        self._tickers.append(ticker)

    async def idle(self) -> None:
        """Wait until every mailbox is empty and no handler is running."""
        while True:
            for _ in range(3):
                await asyncio.sleep(0)
            pending = [s for s in self._slots.values() if s.busy or not s.mailbox.empty()]
            if not pending:
                return
            await asyncio.gather(*(s.mailbox.join() for s in pending))

    async def advance(self, seconds: float) -> None:
        """Manual mode: move the clock ``seconds`` ahead, firing every timer due on the way
        at its own time, and let all mailboxes drain after each step."""
        clock = self.clock
        set_time = getattr(clock, "set", None)
        if not self.manual or set_time is None:
            raise ConfigError("advance() needs a runtime with manual=True on a FakeClock")
        target = clock.now() + seconds
        await self.idle()
        while True:
            due = self.next_due()
            if due is None or due > target:
                break
            set_time(max(due, clock.now()))
            for ticker in self._tickers:
                ticker()
            self._fire_due(clock.now())
            await self.idle()
        set_time(target)
        for ticker in self._tickers:
            ticker()
        await self.idle()
