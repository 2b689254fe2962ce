"""The pure parts of the SDK and the CLI: house clock, URLs, durations, rules, credentials."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from auctionhouse.client import ServerClock, normalize_house
from auctionhouse.client.profile import Credentials, Profile, default_key_path, house_slug
from auctionhouse.client.socket import ws_url
from auctionhouse.commands.client import (
    build_rules,
    parse_increment_table,
    parse_seconds,
    parse_time,
)
from auctionhouse.errors import ConfigError, InvalidAmount, InvalidRequest, Unauthorized


class Local:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_clock_takes_the_midpoint_of_the_shortest_round_trip() -> None:
    local = Local(100.0)
    clock = ServerClock(local)
    clock.sample(sent=100.0, server_now=150.2, received=100.4)  # rtt 0.4: offset 50.0
    assert clock.offset == pytest.approx(50.0)
    clock.sample(sent=101.0, server_now=152.0, received=102.0)  # worse rtt: ignored
    assert clock.offset == pytest.approx(50.0)
    clock.sample(sent=103.0, server_now=153.15, received=103.1)  # better: offset 50.1
    assert clock.offset == pytest.approx(50.1)
    local.t = 110.0
    assert clock.now() == pytest.approx(160.1)
    assert clock.remaining(170.1) == pytest.approx(10.0)
    assert clock.remaining(100.0) == 0.0


def test_pushed_time_ahead_of_the_estimate_moves_it() -> None:
    local = Local(100.0)
    clock = ServerClock(local)
    clock.sample(100.0, 150.0, 100.0)
    clock.observe(149.0)  # behind (sent earlier): a lower bound we already satisfy
    assert clock.offset == pytest.approx(50.0)
    clock.observe(150.5)
    assert clock.offset == pytest.approx(50.5)


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://h:1/", "http://h:1"),
        ("https://a.b", "https://a.b"),
    ],
)
def test_house_urls(given: str, url: str) -> None:
    assert normalize_house(given) == url


@pytest.mark.parametrize("bad", ["ftp://x", "http://", "http://a b"])
def test_bad_house_urls(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        normalize_house(bad)


def test_ws_url() -> None:
    assert ws_url("http://h:8") == "ws://h:8/api/v1/ws"
    assert ws_url("https://h") == "wss://h/api/v1/ws"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("0.5", 0.5), ("2d", 172800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_seconds("--duration", text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "0", "-3", "1h-"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidRequest, match="--duration"):
        parse_seconds("--duration", text)


def test_times() -> None:
    assert parse_time("--closes-at", "1700000000") == 1_700_000_000
    assert (
        parse_time("--closes-at", "2030-01-31T18:00:00+00:00")
        == dt.datetime(2030, 1, 31, 18, tzinfo=dt.UTC).timestamp()
    )
    with pytest.raises(InvalidRequest, match="--closes-at"):
        parse_time("--closes-at", "whenever it suits")


def _rules(**given: object) -> dict[str, object]:
    base: dict[str, object] = dict(_BASE)
    base.update(given)
    return build_rules(**base)  # type: ignore[arg-type]


_BASE: dict[str, object] = dict(
    start_price=None,
    reserve=None,
    increment=None,
    decrement=None,
    tick=None,
    duration=None,
    closes_at=None,
    opens_at=None,
    quiet=None,
    soft_close=None,
    expected_bids=None,
    min_bidders=None,
    max_bidders=None,
    signed=False,
)


def test_rules_from_options() -> None:
    assert _rules() == {}
    assert _rules(
        start_price="1", increment="0.05", duration="2m", soft_close="30,10,1m", signed=True
    ) == {
        "starting_price": 100,
        "min_increment": 5,
        "duration": 120,
        "soft_close": {"window": 30, "extension": 10, "cap": 60},
        "signed_bids": True,
    }
    assert _rules(decrement="0.10", tick="0.5") == {"decrement": 10, "tick_seconds": 0.5}
    with pytest.raises(InvalidRequest, match="not both"):
        _rules(duration="1m", closes_at="1700000000")
    with pytest.raises(InvalidRequest, match="soft-close"):
        _rules(soft_close="30,10")


def test_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUCTIONHOUSE_CONFIG_DIR", str(tmp_path / "cfg"))
    creds = Credentials()
    house = "http://127.0.0.1:8000"
    assert creds.get(house) is None
    with pytest.raises(Unauthorized, match="auctionhouse login"):
        creds.require(house)
    creds.save(Profile(house, "alice", "t1", "/k/alice.pem", 99.0))
    creds.save(Profile(house, "bob", "t2", None))
    assert creds.path.stat().st_mode & 0o777 == 0o600
    assert creds.require(house).account == "bob"
    assert creds.require(house, "alice") == Profile(house, "alice", "t1", "/k/alice.pem", 99.0)
    creds.save(Profile(house, "alice", "t3", None), make_current=False)
    assert Credentials().require(house).account == "bob"
    assert (
        default_key_path(house, "alice")
        == tmp_path / "cfg" / "keys" / "127.0.0.1_8000" / "alice.pem"
    )
    assert house_slug("https://x.org:443/") == "x.org_443"
    os.chmod(creds.path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        Credentials().get(house)


NOW = dt.datetime(2030, 1, 31, 9, 15).astimezone().timestamp()  # a Thursday, local time


@pytest.mark.parametrize(
    ("text", "after"),
    [("2m", 120), ("1h30m", 5400), ("in 2m", 120), ("+90s", 90), ("now", 0), ("in 2 hours", 7200)],
)
def test_times_from_now(text: str, after: float) -> None:
    assert parse_time("--opens-at", text, NOW) == pytest.approx(NOW + after, abs=1)


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("tomorrow 18:00", dt.datetime(2030, 2, 1, 18, 0)),
        ("18:00", dt.datetime(2030, 1, 31, 18, 0)),
        ("31 Jan 2030 18:00", dt.datetime(2030, 1, 31, 18, 0)),
        ("2030-02-03T07:30", dt.datetime(2030, 2, 3, 7, 30)),
        ("friday 9am", dt.datetime(2030, 2, 1, 9, 0)),
    ],
)
def test_times_in_words_are_local_times(text: str, local: dt.datetime) -> None:
    assert parse_time("--closes-at", text, NOW) == local.astimezone().timestamp()


@pytest.mark.parametrize("text", ["", "whenever", "2 potatoes", "next blue moon"])
def test_unreadable_times_say_what_they_take(text: str) -> None:
    with pytest.raises(InvalidRequest, match="--closes-at takes a time like 2m, 1h30m"):
        parse_time("--closes-at", text, NOW)


def test_amount_options_are_decimals_of_the_currency() -> None:
    assert _rules(start_price="10.50", reserve="12", floor=None) == {
        "starting_price": 1050,
        "reserve_price": 1200,
    }
    assert build_rules(**{**_BASE, "start_price": "1250"}, currency="JPY") == {  # type: ignore[arg-type]
        "starting_price": 1250
    }
    with pytest.raises(InvalidAmount, match="more decimals than JPY has"):
        build_rules(**{**_BASE, "start_price": "12.5"}, currency="JPY")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount, match=r"--increment 0\.005 has more decimals than EUR"):
        _rules(increment="0.005")


def test_increment_tables_from_the_command_line() -> None:
    assert parse_increment_table("1:0.05, 5:0.25,*:0.50", "EUR") == [
        {"below": 100, "increment": 5},
        {"below": 500, "increment": 25},
        {"increment": 50},
    ]
    assert _rules(increment_table="100:5", increment_percent=2.5, bids_are_maxima=True) == {
        "increment_table": [{"below": 10000, "increment": 500}],
        "increment_percent": 2.5,
        "bids_are_maxima": True,
    }
    with pytest.raises(InvalidRequest, match="BELOW:INCREMENT"):
        parse_increment_table("1-0.05", "EUR")
    with pytest.raises(InvalidAmount, match="--increment-table increment"):
        parse_increment_table("1:0.055", "EUR")
