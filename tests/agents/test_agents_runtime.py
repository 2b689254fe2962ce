"""The agent runtime: mailboxes serialize timers and handlers, holons scope events, members stop
before their parent, timers run on the injected clock (a FakeClock: milliseconds per test)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from auctionhouse.agents.runtime import Address, Agent, Context, MemberStopped, Runtime
from auctionhouse.errors import ConfigError
from auctionhouse.house import FakeClock

T0 = 1_000_000.0


class Recorder(Agent):
    """Records what it hears; optionally spawns members; optionally works slowly."""

    def __init__(self, members: int = 0, depth: int = 1) -> None:
        self.members_to_spawn = members
        self.depth = depth
        self.heard: list[tuple[object, Address | None]] = []
        self.fired: list[tuple[str, float]] = []
        self.members_at_stop: list[Address] | None = None

    def on_start(self, ctx: Context) -> None:
        if self.depth > 0:
            for i in range(self.members_to_spawn):
                ctx.spawn(Recorder(self.members_to_spawn, self.depth - 1), name=f"m{i}")

    def on_event(self, ctx: Context, event: object, source: Address | None) -> None:
        if not isinstance(event, MemberStopped):
            self.heard.append((event, source))

    def on_stop(self, ctx: Context) -> None:
        self.members_at_stop = ctx.members


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_timers_fire_in_due_order_at_their_own_time_on_a_fake_clock() -> None:
    async def main() -> list[tuple[str, float]]:
        clock = FakeClock(T0)
        async with Runtime(clock, manual=True) as rt:
            agent = Recorder()
            address = rt.spawn(agent, name="a")
            await rt.idle()
            ctx = rt._slot(address).ctx
            ctx.in_(5, lambda: agent.fired.append(("in5", clock.now())))
            every = ctx.every(2, lambda: agent.fired.append(("every2", clock.now())))
            ctx.in_(0.5, lambda: agent.fired.append(("in0.5", clock.now())))
            await rt.advance(7)
            every.cancel()
            await rt.advance(10)
            return agent.fired

    fired = run(main())
    assert fired == [
        ("in0.5", T0 + 0.5),
        ("every2", T0 + 2),
        ("every2", T0 + 4),
        ("in5", T0 + 5),
        ("every2", T0 + 6),
    ]


class Busy(Agent):
    """A handler that awaits in the middle of its work, and a timer touching the same state."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []
        self.counter = 0

    def on_start(self, ctx: Context) -> None:
        ctx.every(0.001, self.tick)

    async def tick(self) -> None:
        self.log.append(("tick-start", self.counter))
        self.counter += 1
        self.log.append(("tick-end", self.counter))

    async def on_event(self, ctx: Context, event: object, source: Address | None) -> None:
        self.log.append(("event-start", self.counter))
        before = self.counter
        for _ in range(5):
            await asyncio.sleep(0.002)  # real work that yields: a timer falls due meanwhile
        assert self.counter == before, "a timer ran inside the handler"
        self.log.append(("event-end", self.counter))


def test_timers_and_handlers_never_interleave_on_the_real_clock() -> None:
    async def main() -> Busy:
        async with Runtime() as rt:
            agent = Busy()
            rt.spawn(agent, name="busy")
            for _ in range(5):
                rt.send("busy", "work")
            deadline = asyncio.get_running_loop().time() + 30
            while sum(1 for k, _ in agent.log if k == "event-end") < 5:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.01)
            assert not rt.failures
        return agent

    agent = run(main())
    kinds = [k for k, _ in agent.log]
    assert kinds.count("tick-start") >= 5  # the timer did run between the events
    for i in range(0, len(kinds), 2):
        start, end = kinds[i], kinds[i + 1]
        assert start.endswith("-start") and end == start.replace("start", "end")


def test_scoped_emit_reaches_the_parent_only_and_wake_reaches_every_member() -> None:
    async def main() -> tuple[Recorder, list[Recorder]]:
        async with Runtime(FakeClock(T0), manual=True) as rt:
            parent = Recorder(members=3)
            rt.spawn(parent, name="auctioneer")
            outsider = Recorder()
            rt.spawn(outsider, name="outsider")
            await rt.idle()
            members = [rt.agent(f"auctioneer/m{i}") for i in range(3)]
            ctx_parent = rt._slot("auctioneer").ctx
            ctx_m0 = rt._slot("auctioneer/m0").ctx
            ctx_parent.wake("price 50")
            ctx_m0.emit("bid 60", scope=ctx_m0.parent)
            ctx_m0.emit("hello all")
            await rt.idle()
            assert not outsider.heard
            return parent, members  # type: ignore[return-value]

    parent, members = run(main())
    assert parent.heard == [("bid 60", "auctioneer/m0"), ("hello all", "auctioneer/m0")]
    assert members[0].heard == [("price 50", "auctioneer")]
    for m in members[1:]:
        assert m.heard == [("price 50", "auctioneer"), ("hello all", "auctioneer/m0")]


def test_members_stop_before_their_parent_deepest_first() -> None:
    async def main() -> tuple[list[tuple[str, str]], Recorder]:
        async with Runtime(FakeClock(T0), manual=True) as rt:
            root = Recorder(members=2, depth=2)
            rt.spawn(root, name="root")
            await rt.idle()
            assert len(rt.addresses) == 1 + 2 + 4
            rt.stop("root")
            await rt.wait_stopped("root", 5)
            assert rt.addresses == []
            return rt.lifecycle, root

    lifecycle, root = run(main())
    stopped = [a for a, what in lifecycle if what == "stopped"]
    assert stopped[-1] == "root"
    for address in stopped:
        for later in stopped[stopped.index(address) + 1 :]:
            assert not later.startswith(address + "/"), f"{later} stopped after its parent"
    assert root.members_at_stop == []


def test_a_stopped_agent_hears_nothing_more_and_its_timers_die() -> None:
    async def main() -> Recorder:
        async with Runtime(FakeClock(T0), manual=True) as rt:
            agent = Recorder()
            rt.spawn(agent, name="a")
            await rt.idle()
            ctx = rt._slot("a").ctx
            ctx.every(1, lambda: agent.fired.append(("t", 0)))
            await rt.advance(2.5)
            rt.stop("a")
            await rt.wait_stopped("a", 5)
            assert not rt.send("a", "late")
            await rt.advance(5)
            return agent

    agent = run(main())
    assert len(agent.fired) == 2


def test_same_seed_same_randomness_per_agent() -> None:
    async def draws(seed: int) -> dict[str, list[float]]:
        async with Runtime(FakeClock(T0), manual=True, seed=seed) as rt:
            rt.spawn(Recorder(members=2), name="p")
            await rt.idle()
            return {a: list(rt._slot(a).ctx.rng.random(3)) for a in sorted(rt.addresses)}

    a, b, c = run(draws(7)), run(draws(7)), run(draws(8))
    assert a == b and a != c
    assert a["p/m0"] != a["p/m1"]


def test_names_are_unique_and_advance_needs_a_manual_runtime() -> None:
    async def main() -> None:
        async with Runtime(FakeClock(T0)) as rt:
            rt.spawn(Recorder(), name="x")
            with pytest.raises(ConfigError):
                rt.spawn(Recorder(), name="x")
            with pytest.raises(ConfigError):
                await rt.advance(1)

    run(main())
