"""Bidder and seller agents against an embedded house on a FakeClock: every method, budgets,
re-bids, Dutch accepts, and seed 002's rules (a winner who left still wins; a seller cannot stop
a running auction)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agents_helpers import T0, World, bids_by, run, world

from auctionhouse.agents.bidder import Want
from auctionhouse.agents.selling import Listing

VALUES = {"alice": 15_000, "bob": 12_000, "charlie": 20_000, "dana": 9_000}


async def english(w: World, strategy: str) -> tuple[str, dict[str, object]]:
    seller = await w.seller(
        [Listing("clock", "english", 10_000, rules={"duration": 60, "min_increment": 500})]
    )
    for name, value in VALUES.items():
        await w.bidder(name, strategy, budget=100_000, value=value)
    await w.rt.advance(61)
    (aid,) = seller.auctions
    assert seller.results[aid].result is not None
    return aid, w.house.view(aid)


def test_english_proxy_bidders_highest_maximum_wins_at_second_maximum_plus_increment() -> None:
    async def main() -> None:
        w = world()
        async with w.rt:
            aid, view = await english(w, "truthful")
            result = view["result"]
            assert result["winner"] == "charlie"
            assert 15_000 <= result["price"] <= 15_000 + 500
            for name in VALUES:  # a proxy bidder bids once and lets the house bid for it
                assert len(bids_by(w.house, aid, name)) <= 1
            assert not w.rt.failures

    run(main())


def test_english_increment_bidders_rebid_when_outbid() -> None:
    async def main() -> None:
        w = world()
        async with w.rt:
            aid, view = await english(w, "market-value")
            result = view["result"]
            assert result["winner"] == "charlie"
            assert result["price"] <= 15_000 + 500
            assert len(bids_by(w.house, aid, "alice")) > 3  # outbid again and again: re-bids
            assert all(b <= VALUES["alice"] for b in bids_by(w.house, aid, "alice"))

    run(main())


def test_dutch_equilibrium_bidders_accept_at_their_shaded_value() -> None:
    async def main() -> None:
        w = world()
        async with w.rt:
            listing = Listing(
                "rug",
                "dutch",
                10_000,
                rules={"decrement": 1_000, "tick_seconds": 1.0},
                starting_price=30_000,
            )
            seller = await w.seller([listing])
            for name, value in VALUES.items():
                await w.bidder(
                    name, "equilibrium", budget=100_000, value=value, params={"bidders": 4}
                )
            await w.rt.advance(40)
            (aid,) = seller.auctions
            result = w.house.view(aid)["result"]
            assert result["winner"] == "charlie"
            # charlie accepts at 3/4 x 20000 = 15000: the first clock price at or below it
            assert result["price"] == 15_000
            assert sum(len(bids_by(w.house, aid, n)) for n in VALUES) == 1

    run(main())


def test_sealed_bids_fpsb_and_vickrey() -> None:
    async def main() -> None:
        w = world()
        async with w.rt:
            seller = await w.seller(
                [
                    Listing("painting", "fpsb", 10_000, rules={"expected_bids": 4, "duration": 60}),
                    Listing("stamp", "vickrey", 10_000, rules={"duration": 60}),
                ]
            )
            for name, value in VALUES.items():
                await w.bidder(
                    name, "equilibrium", budget=100_000, value=value, params={"bidders": 4}
                )
            await w.rt.advance(61)
            fpsb, vickrey = seller.auctions
            assert w.house.view(fpsb)["result"]["winner"] == "charlie"
            assert w.house.view(fpsb)["result"]["price"] == 15_000  # pays its shaded bid
            assert w.house.view(vickrey)["result"]["winner"] == "charlie"
            assert w.house.view(vickrey)["result"]["price"] == 15_000  # alice's truthful bid
            for name in VALUES:  # exactly one sealed bid each, never a second
                assert len(bids_by(w.house, fpsb, name)) == 1
                assert len(bids_by(w.house, vickrey, name)) == 1

    run(main())


def test_budget_is_enforced_across_auctions() -> None:
    async def main() -> None:
        w = world()
        async with w.rt:
            seller = await w.seller(
                [
                    Listing(
                        "lamp A", "english", 10_000, rules={"duration": 30, "min_increment": 500}
                    ),
                    Listing(
                        "lamp B", "english", 10_000, rules={"duration": 30, "min_increment": 500}
                    ),
                ]
            )
            lamps = [Want("lamp*", 12_000)]
            thrifty = await w.bidder("thrifty", "truthful", budget=15_000, wants=lamps)
            await w.bidder("rival", "truthful", budget=100_000, wants=[Want("lamp*", 10_000)])
            await w.rt.advance(31)
            won = [w.house.view(a)["result"] for a in seller.auctions]
            mine = [r for r in won if r["winner"] == "thrifty"]
            assert len(mine) == 1 and sum(r["price"] for r in mine) <= 15_000
            # its maxima in flight never added up past its budget
            maxima = [w.house.state(a).maxima.get("thrifty", 0) for a in seller.auctions]
            assert sum(maxima) <= 15_000
            assert thrifty.committed() <= 15_000

    run(main())


def test_a_bidder_that_left_while_leading_still_wins_and_is_told_on_return() -> None:
    async def main() -> None:
        w = world()
        async with w.rt:
            seller = await w.seller([Listing("vase", "english", 10_000, rules={"duration": 30})])
            (aid,) = seller.auctions
            await w.bidder("alice", "truthful", budget=50_000, value=20_000)
            assert w.house.view(aid)["leader"] == "alice"
            w.rt.stop("alice")
            await w.rt.wait_stopped("alice", 5)
            await w.bidder("bob", "market-value", budget=50_000, value=12_000)
            await w.rt.advance(31)
            assert w.house.view(aid)["result"]["winner"] == "alice"
            back = await w.bidder("alice", "truthful", budget=50_000, value=20_000)
            told = [r for r in back.reports if r.kind == "won_while_away"]
            assert [r.auction_id for r in told] == [aid]
            assert "vase" in told[0].message

    run(main())


def test_a_seller_cannot_stop_a_running_auction() -> None:
    async def main() -> None:
        w = world()
        async with w.rt:
            seller = await w.seller(
                [
                    Listing("quiet lot", "english", 10_000, rules={"duration": 30}),
                    Listing("busy lot", "english", 10_000, rules={"duration": 30}),
                ]
            )
            quiet, busy = seller.auctions
            await w.bidder("bob", "truthful", budget=50_000, wants=[Want("busy*", 12_000)])
            assert w.house.view(busy)["bid_count"] == 1
            refused = await seller.try_cancel(busy, "changed my mind")
            assert refused["error"]["code"] == "cannot_cancel"
            cancelled = await seller.try_cancel(quiet, "before any bid")
            assert cancelled["result"]["outcome"] == "cancelled"
            await w.rt.advance(31)
            assert w.house.view(busy)["result"]["winner"] == "bob"
            assert seller.done

    run(main())


def test_bidders_joining_later_discover_new_auctions_from_events() -> None:
    async def main() -> None:
        w = world()
        async with w.rt:
            alice = await w.bidder("alice", "truthful", budget=50_000, value=20_000)
            assert not alice.tracked
            seller = await w.seller(
                [Listing("late lot", "vickrey", 10_000, rules={"duration": 10})]
            )
            (aid,) = seller.auctions
            assert aid in alice.tracked and bids_by(w.house, aid, "alice") == [20_000]
            await w.rt.advance(11)
            assert [r.kind for r in alice.reports if r.auction_id == aid][-1] == "won"
            assert w.clock.now() == T0 + 11

    run(main())


def test_the_seed_000_cast_runs_in_process_on_the_house_service(tmp_path: Path) -> None:
    """The same agents and scenario as ``demo agents``, on an embedded house: its async
    service (queue, group commit, timers) on an SQLite file, on the real clock."""
    from nacl.signing import SigningKey

    from auctionhouse.agents.embedded import EmbeddedHouse
    from auctionhouse.agents.runtime import Runtime
    from auctionhouse.agents.scenarios import Scenario, seed000_cast
    from auctionhouse.house import AuctionHouse, HouseConfig
    from auctionhouse.house.service import HouseService

    config = HouseConfig.for_tests(
        min_bidders=3, bid_timeout=30, max_concurrent_auctions=10, bid_verification_required=True
    )
    service = HouseService(lambda: AuctionHouse.open(tmp_path / "house.db", config=config))

    async def main() -> Scenario:
        await service.start()
        hub = EmbeddedHouse(service)

        async def market_for(name: str) -> Any:
            key = SigningKey.generate()
            await hub.open_account(name, "embedded-password", key)
            return hub.market(name, key)

        try:
            async with Runtime(seed=3) as rt:
                scenario = Scenario(rt, seed000_cast(duration=1.5, seed=3), market_for)
                await scenario.start(30)
                await scenario.wait_done(30)
                assert not rt.failures
                return scenario
        finally:
            await service.stop()

    scenario = run(main())
    summary = scenario.summary()
    assert len(summary["auctions"]) == 5 and all(a["outcome"] for a in summary["auctions"])
    assert any(a["outcome"] == "sold" for a in summary["auctions"])
    for bidder in summary["bidders"].values():
        assert bidder["spent"] <= bidder["budget"]


def test_a_sealed_auction_that_opens_later_gets_its_bids_once_open() -> None:
    """No event announces an opening: the bidders' poll must see the clock pass opens_at."""

    async def main() -> None:
        w = world()
        async with w.rt:
            rules = {"opens_at": T0 + 5, "duration": 60}
            seller = await w.seller([Listing("clock", "fpsb", 10_000, rules=rules)])
            (aid,) = seller.auctions
            await w.bidder("alice", "truthful", budget=100_000, value=VALUES["alice"])
            await w.rt.advance(4)
            assert bids_by(w.house, aid, "alice") == []  # not open yet
            await w.rt.advance(2)
            assert bids_by(w.house, aid, "alice") == [VALUES["alice"]]

    run(main())


TABLE = [{"below": 10_000, "increment": 500}, {"below": 13_000, "increment": 1_000}]
TABLE.append({"increment": 2_500})


def _planned_as_the_rules_say(house: Any, aid: str) -> None:
    """Every bid of the auction met the least next bid by its own increments at that moment,
    and every increment bidder's bid was exactly it (they bid the minimum)."""
    from auctionhouse.auction import AuctionState, BidPlaced, apply, least_next_bid

    state: AuctionState | None = None
    for event in house._events[aid]:  # the full log, as the house applied it
        if isinstance(event, BidPlaced) and state is not None:
            least = least_next_bid(state.rules, state.price, state.leader is not None)
            assert event.amount >= least, (event, least)
            if event.bidder != "bob":  # bob is the proxy bidder; the others bid the minimum
                assert event.amount == least, (event, least)
        state = apply(state, event)


@pytest.mark.parametrize(
    "increments",
    [{"increment_table": TABLE}, {"increment_percent": 8}],
    ids=["table", "percentage"],
)
def test_increment_bidders_plan_with_the_auctions_own_increments(
    increments: dict[str, Any],
) -> None:
    """An increment table or a percentage, not the flat min_increment: the bidders' next bids
    are the least the rules take, none is refused as too low, and the price ends within one
    increment (of the rules) above the loser's limit."""

    async def main() -> None:
        w = world()
        async with w.rt:
            rules = {"duration": 60, "min_increment": 100, **increments}
            seller = await w.seller([Listing("clock", "english", 5_000, rules=rules)])
            bidders = {
                "alice": await w.bidder("alice", "market-value", budget=50_000, value=16_000),
                "bob": await w.bidder("bob", "truthful", budget=50_000, value=12_000),
                "cat": await w.bidder("cat", "conservative", budget=50_000, value=14_000),
            }
            await w.rt.advance(61)
            (aid,) = seller.auctions
            result = w.house.view(aid)["result"]
            assert result["winner"] == "alice"
            _planned_as_the_rules_say(w.house, aid)
            for name, agent in bidders.items():
                assert agent.refusals["bid_too_low"] == 0, (name, agent.refusals)
            state = w.house.state(aid)
            second = 12_000  # bob's limit; cat stops at 14,000 x 0.85 = 11,900
            assert second < result["price"] <= second + state.rules.increment_at(second)
            assert not w.rt.failures

    run(main())


def test_a_view_says_the_least_next_bid_by_the_auctions_increments() -> None:
    from auctionhouse.agents.market import MarketView

    def view(rules: dict[str, Any]) -> MarketView:
        raw = {"id": "1", "method": "english", "state": "open", "rules": rules}
        return MarketView.from_api(raw, seen_at=T0)

    table = view({"starting_price": 5_000, "min_increment": 100, "increment_table": TABLE})
    assert table.least_next_bid(None, None) == 5_000  # nobody leads: the starting price
    assert table.least_next_bid(9_999, "bob") == 9_999 + 500
    assert table.least_next_bid(12_000, "bob") == 12_000 + 1_000
    assert table.least_next_bid(20_000, "bob") == 20_000 + 2_500
    percent = view({"starting_price": 5_000, "min_increment": 100, "increment_percent": 8})
    assert percent.least_next_bid(10_000, "bob") == 10_800
    assert percent.least_next_bid(1_000, "bob") == 1_100  # the flat 100 is more than 8%
    flat = view({"starting_price": 5_000, "min_increment": 250})
    assert flat.least_next_bid(10_000, "bob") == 10_250


@pytest.mark.parametrize(
    ("increments", "least"),
    [({"increment_table": TABLE}, 9_800 + 500), ({"increment_percent": 8}, 9_800 + 784)],
    ids=["table", "percentage"],
)
def test_an_ack_moves_the_least_next_bid_by_the_auctions_increments(
    increments: dict[str, Any], least: int
) -> None:
    """A bid's ack can say another's proxy maximum answered it (the update follows): until
    the update comes, the bidder plans with the least next bid by the auction's own rules, not
    the minimum before its bid nor the flat min_increment."""
    from auctionhouse.agents.bidder import BidderAgent, Tracked
    from auctionhouse.agents.bidding import make_strategy
    from auctionhouse.agents.market import MarketView

    async def main() -> None:
        w = world()
        async with w.rt:
            rules = {"starting_price": 5_000, "duration": 60, "min_increment": 100, **increments}
            await w.hub.open_account("seller", "agents-test-password")
            view = w.house.create_auction("seller", "clock", "english", rules)
            agent = BidderAgent(
                "alice", w.hub.market("alice"), make_strategy("market-value"), budget=50_000
            )
            tracked = Tracked(MarketView.from_api(view, seen_at=T0, me="alice"), 16_000)
            assert tracked.view.min_next_bid == 5_000
            agent._apply_ack(tracked, {"leader": "bob", "price": 9_800, "bid_count": 2, "seq": 3})
            assert (tracked.view.leader, tracked.view.price) == ("bob", 9_800)
            assert tracked.view.min_next_bid == least

    run(main())
