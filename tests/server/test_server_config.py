"""ServerConfig: flags > AUCTIONHOUSE_* variables > TOML file > defaults; bad values are one
ConfigError line (exit 2 from the CLI)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import http_helpers
from auctionhouse.errors import ConfigError
from auctionhouse.server.config import ServerConfig, default_db_path, load_config


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "house.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    config = load_config(env={})
    assert (config.host, config.port) == ("127.0.0.1", 8000)
    assert config.db == default_db_path() and config.db.name == "house.db"
    assert config.key_path == Path(f"{config.db}.key")
    assert config.house.skew_seconds == 30.0


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        'host = "0.0.0.0"\nport = 9001\nlog_level = "debug"\ndb = "from-file.db"\n'
        "[house]\nskew_seconds = 5\nmin_bidders = 2\n",
    )
    env = {
        "AUCTIONHOUSE_PORT": "9002",
        "AUCTIONHOUSE_HOUSE_SKEW_SECONDS": "7.5",
        "AUCTIONHOUSE_HOUSE": "http://elsewhere",  # the client's variable: not ours, ignored
    }
    config = load_config({"port": 9003, "host": None}, config_file=path, env=env)
    assert config.port == 9003  # flag
    assert config.host == "0.0.0.0"  # file (the flag was not given)
    assert config.log_level == "debug"
    assert config.db == Path("from-file.db")
    assert config.house.skew_seconds == 7.5  # env over file
    assert config.house.min_bidders == 2  # file
    assert load_config(config_file=path, env=env).port == 9002  # env over file
    env["AUCTIONHOUSE_CONFIG"] = str(path)
    assert load_config(env=env).host == "0.0.0.0"  # the file named by the environment


@pytest.mark.parametrize(
    ("text", "env", "flags", "needle"),
    [
        ("port = 'x'\n", {}, {}, "port must be an integer"),
        ("port = 70000\n", {}, {}, "port must be an integer from 0 to 65535"),
        ("colour = 'red'\n", {}, {}, "unknown setting 'colour'"),
        ("[house]\nwhatever = 1\n", {}, {}, "unknown house setting 'whatever'"),
        ("[house]\nskew_seconds = -1\n", {}, {}, "skew_seconds must be positive"),
        ("house = 3\n", {}, {}, "[house] must be a table"),
        ("port = [\n", {}, {}, "not valid TOML"),
        ("", {"AUCTIONHOUSE_PORT": "eighty"}, {}, "AUCTIONHOUSE_PORT: port must be an integer"),
        ("", {"AUCTIONHOUSE_PROXY_HEADERS": "maybe"}, {}, "proxy_headers must be true or false"),
        ("", {"AUCTIONHOUSE_HOUSE_BID_TIMEOUT": "nan"}, {}, "bid_timeout must be a number"),
        ("", {}, {"log_level": "loud"}, "log_level must be one of"),
        ("", {}, {"ws_send_queue": 0}, "ws_send_queue must be an integer"),
        ("header_timeout = 0\n", {}, {}, "header_timeout must be a number >= 0.01"),
        ("", {"AUCTIONHOUSE_SEND_TIMEOUT": "inf"}, {}, "send_timeout must be a number"),
        ("", {}, {"max_connections_per_address": -1}, "max_connections_per_address must be"),
        ("", {}, {"ws_send_buffer_bytes": 10}, "ws_send_buffer_bytes must be an integer"),
    ],
)
def test_bad_values_are_config_errors(
    tmp_path: Path, text: str, env: dict[str, str], flags: dict[str, object], needle: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(flags, config_file=toml(tmp_path, text), env=env)
    assert needle in err.value.message
    assert "\n" not in err.value.message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(config_file=tmp_path / "nope.toml", env={})


def test_booleans_and_paths_from_the_environment() -> None:
    config = load_config(env={"AUCTIONHOUSE_PROXY_HEADERS": "yes", "AUCTIONHOUSE_DB": "~/h.db"})
    assert config.proxy_headers is True and config.db == Path("~/h.db").expanduser()


def test_connection_limits_have_defaults_and_come_from_toml_and_environment(
    tmp_path: Path,
) -> None:
    default = ServerConfig()
    assert (default.max_connections, default.max_connections_per_address) == (4096, 256)
    assert (default.header_timeout, default.keep_alive_timeout, default.send_timeout) == (
        10.0,
        5.0,
        20.0,
    )
    path = toml(tmp_path, "header_timeout = 2\nmax_connections = 10\n")
    env = {"AUCTIONHOUSE_KEEP_ALIVE_TIMEOUT": "0.5", "AUCTIONHOUSE_MAX_CONNECTIONS": "20"}
    config = load_config({"ws_close_grace": 3.0}, config_file=path, env=env)
    assert config.header_timeout == 2.0 and config.keep_alive_timeout == 0.5
    assert config.max_connections == 20 and config.ws_close_grace == 3.0


def test_config_is_frozen() -> None:
    config = ServerConfig()
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]


def test_cli_reports_a_bad_value_in_one_line(tmp_path: Path) -> None:
    path = toml(tmp_path, "[house]\nmin_bidders = 0\n")
    result = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: config_error: min_bidders must be positive"


def test_currency_and_locale_from_flags_over_env_over_file(tmp_path: Path) -> None:
    path = toml(tmp_path, '[house]\ncurrency = "JPY"\nlocale = "ja_JP"\n')
    env = {"AUCTIONHOUSE_HOUSE_CURRENCY": "usd"}  # as typed: taken as USD
    config = load_config(config_file=path, env=env)
    assert (config.house.currency, config.house.locale) == ("USD", "ja_JP")
    config = load_config(
        config_file=path, env=env, house_flags={"currency": "CHF", "locale": "de_CH"}
    )
    assert (config.house.currency, config.house.locale) == ("CHF", "de_CH")
    config = load_config(config_file=path, env={}, house_flags={"currency": None})
    assert config.house.currency == "JPY"  # a flag not given leaves the file's


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (
            ["--currency", "XYZ"],
            "error: unknown_currency: currency 'XYZ' is not an ISO 4217 currency"
            " (EUR, USD, GBP, JPY, CHF...)",
        ),
        (
            ["--currency", "euro"],
            "error: unknown_currency: currency must be an ISO 4217 code like EUR or USD,"
            " not 'EURO'",
        ),
        (
            ["--locale", "xx_QQ"],
            "error: unknown_locale: locale 'xx_QQ' is not a known locale"
            " (en, en_US, de_DE, fr_CH, ja_JP...)",
        ),
    ],
)
def test_serve_refuses_an_unknown_currency_or_locale(
    tmp_path: Path, flags: list[str], line: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "auctionhouse", "serve", "--db", str(tmp_path / "h.db"), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == line
    assert not (tmp_path / "h.db").exists()  # refused before anything was written


def test_serve_sells_in_the_currency_and_locale_of_its_flags(tmp_path: Path) -> None:
    """``serve --currency JPY --locale de_DE``: the house says so, and auctions are in yen."""
    import httpx

    from serve_process import clean_env, free_port

    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "auctionhouse", "serve", "--db", str(tmp_path / "h.db")),
            *("--port", str(port), "--currency", "JPY", "--locale", "de_DE"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=clean_env(),
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        house = None
        deadline = time.monotonic() + 60
        while house is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                house = http_helpers.get(f"{url}/house", timeout=1.0).json()
            except httpx.HTTPError:
                time.sleep(0.05)  # polling a starting server, bounded by the deadline
        assert house is not None, (tmp_path / "serve.log").read_text()[-2000:]
        assert (house["currency"], house["currency_digits"], house["locale"]) == (
            "JPY",
            0,
            "de_DE",
        )
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
