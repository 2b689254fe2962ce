"""The pure parts of the SDK and the CLI: house clock, URLs, durations, rules, credentials."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from auctionhouse.client import ServerClock, normalize_house
from auctionhouse.client.profile import Credentials, Profile, default_key_path, house_slug
from auctionhouse.client.socket import ws_url
from auctionhouse.commands.client import build_rules, parse_seconds, parse_time
from auctionhouse.errors import ConfigError, InvalidRequest, Unauthorized


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
        parse_time("--closes-at", "tomorrow")


def _rules(**given: object) -> dict[str, object]:
    base: dict[str, object] = dict(
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
    base.update(given)
    return build_rules(**base)  # type: ignore[arg-type]


def test_rules_from_options() -> None:
    assert _rules() == {}
    assert _rules(
        start_price=100, increment=5, duration="2m", soft_close="30,10,1m", signed=True
    ) == {
        "starting_price": 100,
        "min_increment": 5,
        "duration": 120,
        "soft_close": {"window": 30, "extension": 10, "cap": 60},
        "signed_bids": True,
    }
    assert _rules(decrement=10, tick="0.5") == {"decrement": 10, "tick_seconds": 0.5}
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
