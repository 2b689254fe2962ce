"""Mandates, agent bids, the audit and the trip log, in-process on a FakeClock (seed 004)."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from auctionhouse.agents.embedded import EmbeddedHouse
from auctionhouse.agents.market import SignedBid
from auctionhouse.auction import BidPlaced
from auctionhouse.errors import (
    ConfigError,
    InvalidMandate,
    MandateExpired,
    OverMandate,
    QuotaExceeded,
)
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig
from auctionhouse.house.agent_policy import AgentPolicy
from auctionhouse.ledger.audit import audit_store
from auctionhouse.ledger.encoding import canonical_bytes, decode_event, reference_canonical_bytes
from auctionhouse.ledger.keys import HouseKey
from auctionhouse.ledger.mandate import mandate_digest, owner_account, parse_mandate
from auctionhouse.mobile.host import check_strategy
from auctionhouse.mobile.market import MandateMarket
from auctionhouse.mobile.owner import build_mandate, read_owner_document
from auctionhouse.mobile.travel import TRIP_CONTEXT, entry_hash, unsigned, verify_log
from auctionhouse.server.config import load_config

T0 = 1_000_000.0
PASSWORD = "mobile-unit-password"


def a_mandate(tmp_path: Path, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "home": "http://127.0.0.1:9",
        "key_file": str(tmp_path / "owner.pem"),
        "create_key": True,
        "item": "antique*",
        "site_cap": 5_000,
        "budget": 8_000,
        "return_in": 60,
    }
    data.update(fields)
    mandate, _ = build_mandate(data, now=T0)
    return mandate


@pytest.fixture
def house() -> AuctionHouse:
    house = AuctionHouse.in_memory(config=HouseConfig.for_tests(), clock=FakeClock(T0))
    house.create_account("seller", PASSWORD)
    house.create_auction("seller", "Antique desk", "english", {"duration": 300})
    return house


def owner(house: AuctionHouse, mandate: dict[str, Any]) -> str:
    return house.accounts.create_key_account(
        owner_account(mandate["owner_key"]), mandate["owner_key"], now=T0
    ).id


def ref(mandate: dict[str, Any]) -> tuple[str, str]:
    m = parse_mandate(mandate)
    return m.digest, m.text()


def bids(house: AuctionHouse) -> list[BidPlaced]:
    return [e for e in house.ledger.events() if isinstance(e, BidPlaced)]


# -- the encoding keeps every earlier event's bytes ------------------------------------------


def test_a_bid_without_a_mandate_encodes_as_before_and_one_with_it_round_trips() -> None:
    plain = BidPlaced("1", 2, T0, "ann", 100, 100, "ann")
    assert b"mandate" not in canonical_bytes(plain)
    assert canonical_bytes(plain) == reference_canonical_bytes(plain)
    assert decode_event(canonical_bytes(plain)) == plain
    agent = BidPlaced("1", 3, T0, "@ab", 200, 200, "@ab", mandate="d" * 64, mandate_doc='{"v":1}')
    body = canonical_bytes(agent)
    assert body == reference_canonical_bytes(agent)
    assert decode_event(body) == agent


# -- the house checks every agent bid against its mandate ------------------------------------


def test_agent_bids_carry_the_mandate_and_file_it_once(house: AuctionHouse, tmp_path: Path) -> None:
    mandate = a_mandate(tmp_path)
    account = owner(house, mandate)
    house.place_bid(account, "1", 1_000, mandate=ref(mandate))
    house.place_bid(account, "1", 2_000, proxy_max=5_000, mandate=ref(mandate))
    first, second = bids(house)[-2:]
    assert first.mandate == second.mandate == mandate_digest(mandate)
    assert json.loads(first.mandate_doc or "") == mandate and second.mandate_doc is None
    assert audit_store(house.ledger.store, house.ledger.public_hex).ok


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"amount": 5_001}, OverMandate),  # above the per-site cap
        ({"proxy_max": 9_000}, OverMandate),  # a proxy maximum above it too
        ({"bidder": "seller2"}, OverMandate),  # someone else's account
        ({"digest": "0" * 64}, InvalidMandate),  # the text does not hash to the digest
        ({"tamper": True}, InvalidMandate),  # a changed mandate, digest recomputed
        ({"late": True}, MandateExpired),  # after return-by
    ],
)
def test_a_bid_outside_the_mandate_is_refused_and_nothing_is_written(
    house: AuctionHouse, tmp_path: Path, change: dict[str, Any], error: type[Exception]
) -> None:
    mandate = a_mandate(tmp_path)
    account = owner(house, mandate)
    house.create_account("seller2", PASSWORD)
    digest, text = ref(mandate)
    if change.get("tamper"):
        forged = copy.deepcopy(mandate)
        forged["site_cap"] = 1_000_000
        digest, text = mandate_digest(forged), json.dumps(forged)
    if "digest" in change:
        digest = change["digest"]
    if change.get("late"):
        assert isinstance(house.clock, FakeClock)
        house.clock.advance(61)
    before = house.ledger.store.count()
    with pytest.raises(error):
        house.place_bid(
            change.get("bidder", account),
            "1",
            change.get("amount", 1_000),
            proxy_max=change.get("proxy_max"),
            mandate=(digest, text),
        )
    assert house.ledger.store.count() == before


def test_the_audit_checks_every_agent_bid_against_its_signed_mandate(
    house: AuctionHouse, tmp_path: Path
) -> None:
    mandate = a_mandate(tmp_path)
    account = owner(house, mandate)
    house.place_bid(account, "1", 1_000, mandate=ref(mandate))
    seq = house.state("1").seq
    digest = mandate_digest(mandate)
    forged = [
        # above the cap, under the filed mandate (written past the house's check)
        BidPlaced("1", seq + 1, T0, account, 6_000, 6_000, account, mandate=digest),
        # an owner-key account bidding without any mandate
        BidPlaced("1", seq + 2, T0, account, 6_100, 6_100, account),
        # a mandate digest never filed in this chain
        BidPlaced("1", seq + 3, T0, account, 6_200, 6_200, account, mandate="e" * 64),
    ]
    house.ledger.append(forged)
    report = audit_store(house.ledger.store, house.ledger.public_hex)
    flagged = {f.seq: f.kind for f in report.findings}
    assert flagged == {seq + 1: "mandate", seq + 2: "mandate", seq + 3: "mandate"}


def test_an_owner_key_account_cannot_be_taken_by_another_key(
    house: AuctionHouse, tmp_path: Path
) -> None:
    mandate = a_mandate(tmp_path)
    account = owner(house, mandate)
    assert owner(house, mandate) == account  # a second visit finds it
    with pytest.raises(Exception, match="another key"):
        house.accounts.create_key_account(account, "ab" * 32, now=T0)
    with pytest.raises(Exception, match="name must be"):
        house.create_account(account, PASSWORD)  # no person may register an '@' name


# -- the site's quotas -----------------------------------------------------------------------


def test_a_site_limits_bids_and_money_per_agent(house: AuctionHouse, tmp_path: Path) -> None:
    mandate = a_mandate(tmp_path)
    owner(house, mandate)
    market = MandateMarket(
        EmbeddedHouse(house), parse_mandate(mandate), max_bids=1, max_money=3_000
    )

    async def go() -> None:
        with pytest.raises(OverMandate):
            await market.send_bid(SignedBid("1", 3_500, None, None, None, None))
        await market.send_bid(SignedBid("1", 1_000, None, None, None, None))
        with pytest.raises(QuotaExceeded):
            await market.send_bid(SignedBid("1", 2_000, None, None, None, None))

    asyncio.run(go())
    assert [b.amount for b in bids(house)] == [1_000]


# -- mandates and owner documents ------------------------------------------------------------


def test_an_owner_document_embeds_the_chromosome_and_sites_open_no_files(
    tmp_path: Path,
) -> None:
    erin = Path(__file__).resolve().parents[2] / "examples" / "agents" / "erin-evolved.toml"
    evolved = read_owner_document(erin)["strategy"]["params"]["evolved"]
    chromosome = tmp_path / "bidder.json"
    chromosome.write_text(json.dumps(evolved))
    mandate = a_mandate(
        tmp_path, strategy={"name": "fuzzy-genetic", "params": {"file": str(chromosome)}}
    )
    assert mandate["strategy"]["params"]["evolved"]["chromosomes"] == evolved["chromosomes"]
    assert "file" not in mandate["strategy"]["params"]
    check_strategy(parse_mandate(mandate))
    with_file = a_mandate(tmp_path, strategy={"name": "truthful"})
    with_file["strategy"]["params"] = {"file": "/etc/passwd"}
    with pytest.raises(InvalidMandate, match="opens no files"):
        check_strategy(parse_mandate_resigned(tmp_path, with_file))


def parse_mandate_resigned(tmp_path: Path, mandate: dict[str, Any]) -> Any:
    from auctionhouse.client.keys import BidKey
    from auctionhouse.mobile.owner import sign_mandate

    return sign_mandate(mandate, BidKey.load(tmp_path / "owner.pem"))


def test_bad_owner_documents_name_their_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="colour: unknown field"):
        a_mandate(tmp_path, colour="red")
    with pytest.raises(ConfigError, match="return_in"):
        a_mandate(tmp_path, return_in=-1)
    with pytest.raises(ConfigError, match="site_cap"):
        a_mandate(tmp_path, site_cap=0)
    with pytest.raises(ConfigError, match="strategy"):
        a_mandate(tmp_path, strategy={"name": "psychic"})


def test_the_agents_policy_is_read_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "house.toml"
    config.write_text('[agents]\naccept = "allow-list"\nallow = ["' + "ab" * 32 + '"]\n')
    policy = load_config(config_file=config, env={}).agents
    assert policy.accepts("ab" * 32) and not policy.accepts("cd" * 32)
    assert AgentPolicy().accepts("cd" * 32) and not AgentPolicy(accept="none").accepts("ab" * 32)
    for bad in ('accept = "maybe"', "max_agents = 0", "visit_seconds = -1", "colour = 1"):
        config.write_text(f"[agents]\n{bad}\n")
        with pytest.raises(ConfigError, match="agents"):
            load_config(config_file=config, env={})


# -- the trip log ----------------------------------------------------------------------------


def signed_log(key: HouseKey, anchor: str, count: int) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = []
    for n in range(count):
        entry = {
            "n": n,
            "prev": entry_hash(log[-1]) if log else anchor,
            "site": "http://s",
            "what": "x",
            "detail": {"i": n},
            "site_key": key.public_hex,
        }
        entry["sig"] = key.sign(TRIP_CONTEXT + unsigned(entry))
        log.append(entry)
    return log


def test_the_trip_log_names_an_edited_a_reordered_and_a_cut_log() -> None:
    key, anchor = HouseKey.generate(), "a" * 64
    log = signed_log(key, anchor, 5)
    assert verify_log(anchor, log) == []
    edited = copy.deepcopy(log)
    edited[2]["detail"]["i"] = 99
    assert {(p.n, p.kind) for p in verify_log(anchor, edited)} >= {(2, "edited")}
    swapped = [log[0], log[2], log[1], log[3], log[4]]
    assert {p.kind for p in verify_log(anchor, swapped)} == {"edited"}
    reported = [{"n": 5, "hash": entry_hash(log[4]), "site": "http://s"}]
    assert verify_log(anchor, log, reported) == []
    cut = verify_log(anchor, log[:3], reported)
    assert [(p.kind, p.n) for p in cut] == [("cut", 4)]
    assert verify_log("b" * 64, log)[0].kind == "edited"  # transplanted onto another mandate


def test_home_takes_an_agent_back_once(tmp_path: Path) -> None:
    from auctionhouse.errors import Conflict
    from auctionhouse.mobile.records import HomeRecords
    from auctionhouse.mobile.travel import new_travel

    mandate = parse_mandate(a_mandate(tmp_path))
    records = HomeRecords(tmp_path / "home.agents")
    records.launch(mandate, T0)
    travel = {**new_travel(()), "state": "HOME", "hop": 2}
    records.returned(mandate, {"mandate": mandate.raw, "travel": travel}, T0 + 5)
    forged = {**travel, "hop": 9, "log": []}
    with pytest.raises(Conflict):
        records.returned(mandate, {"mandate": mandate.raw, "travel": forged}, T0 + 6)
    records.close()
    again = HomeRecords(tmp_path / "home.agents")  # the record survives a restart
    assert again.view(mandate.agent, T0 + 7, 30)["status"] == "home"
    assert again.log(mandate.agent)["travel"]["hop"] == 2
    again.close()


def test_a_site_reads_what_the_agent_spent_from_the_signed_log_not_the_travel_state() -> None:
    from auctionhouse.mobile.travel import spent_in_log

    key = HouseKey.generate()
    log = signed_log(key, "a" * 64, 4)
    log[1]["what"], log[1]["detail"] = "won", {"auction": "7", "price": 2_500}
    log[2]["what"], log[2]["detail"] = "left_open", {"auction": "8", "committed": 700}
    log[3]["what"], log[3]["detail"] = "won", {"auction": "9", "price": True}  # not an amount
    assert spent_in_log(log) == 3_200
    assert spent_in_log([]) == 0


def test_home_takes_a_signed_progress_batch_and_only_what_it_understands(tmp_path: Path) -> None:
    from auctionhouse.errors import InvalidRequest
    from auctionhouse.mobile.records import HomeRecords
    from auctionhouse.mobile.travel import PROGRESS_CONTEXT

    mandate = parse_mandate(a_mandate(tmp_path))
    records = HomeRecords()
    records.launch(mandate, T0)
    key = HouseKey.generate()
    good = {"agent": mandate.agent, "hop": 2, "state": "BIDDING", "what": "bid", "detail": {}}
    messages = [
        good,
        {**good, "agent": "someone-else-entirely"},  # not an agent of this house
        {**good, "hop": "2"},  # not a hop
        {**good, "state": "<script>"},  # not a state
    ]
    batch = {"site": "http://s", "messages": messages, "site_key": key.public_hex}
    batch["sig"] = key.sign(PROGRESS_CONTEXT + unsigned(batch))
    assert records.progress_batch(batch) == 3  # three about its agent, of which one is usable
    view = records.view(mandate.agent, T0, 30)
    assert (view["state"], view["where"], view["hop"]) == ("BIDDING", "http://s", 2)
    assert len(view["progress"]) == 1 and view["bids"] == [{"site": "http://s"}]
    forged = {**batch, "messages": [{**good, "hop": 9}]}
    with pytest.raises(InvalidRequest):
        records.progress_batch(forged)
    assert records.view(mandate.agent, T0, 30)["hop"] == 2


def test_homes_record_follows_the_trip_not_the_arrival_order_of_progress_messages(
    tmp_path: Path,
) -> None:
    """The site an agent leaves posts ``handed`` (MOVING, hop 6) after the next site signed
    the receipt; the next site's BIDDING (hop 6) can reach home first (it did under load)."""
    from auctionhouse.mobile.records import HomeRecords

    mandate = parse_mandate(a_mandate(tmp_path))
    records = HomeRecords()
    records.launch(mandate, T0)

    def message(site: str, hop: int, n: int, state: str, what: str, **detail: Any) -> dict:
        head = {"n": n, "hash": "f" * 64}
        return {"agent": mandate.agent, "site": site, "site_key": "k", "hop": hop, "head": head,
                "state": state, "what": what, "detail": detail}  # fmt: skip

    def shown() -> tuple[str, str, int]:
        view = records.view(mandate.agent, T0, 30)
        return view["state"], view["where"], view["hop"]

    records.add_progress([message("http://s3", 5, 14, "COOPERATING", "visited")])
    records.add_progress([message("http://s1", 6, 19, "COOPERATING", "visited")])
    records.add_progress([message("http://s1", 6, 20, "BIDDING", "bidding", auction="7")])
    assert shown() == ("BIDDING", "http://s1", 6)
    late = message("http://s3", 6, 17, "MOVING", "handed", to="http://s1")
    records.add_progress([late])  # the leaving site's report, heard last
    assert shown() == ("BIDDING", "http://s1", 6)
    records.add_progress([message("http://s1", 7, 22, "COMPLETING", "going_home")])
    assert shown() == ("COMPLETING", "http://s1", 7)
    assert len(records.view(mandate.agent, T0, 30)["progress"]) == 5  # every one is kept
    # In arrival order that is trip order, the handed message moves the record on as before.
    other = parse_mandate(a_mandate(tmp_path, item="other*"))
    records.launch(other, T0)
    records.add_progress([{**late, "agent": other.agent}])
    view = records.view(other.agent, T0, 30)
    assert (view["state"], view["where"], view["hop"]) == ("MOVING", "http://s1", 6)
    assert "head_n" not in view


def test_a_log_entry_that_is_not_canonical_json_is_flagged_not_fatal() -> None:
    key, anchor = HouseKey.generate(), "a" * 64
    log = signed_log(key, anchor, 3)
    log[1]["detail"]["i"] = float("nan")  # what a rogue site's JSON may carry
    problems = verify_log(anchor, log, [{"n": 3, "hash": entry_hash(log[2]), "site": "s"}])
    assert {(p.n, p.kind) for p in problems} == {(1, "edited"), (2, "edited")}
