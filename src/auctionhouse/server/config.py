"""ServerConfig: the server's settings, typed, frozen and checked once (STYLE.md rule 11).

Built by ``load_config`` from, in order of precedence: command-line flags, ``AUCTIONHOUSE_*``
environment variables, a TOML file, defaults. The house's own settings (``HouseConfig``) sit in
the TOML file's ``[house]`` table and in ``AUCTIONHOUSE_HOUSE_<SETTING>`` variables. Every bad
value is one ``ConfigError`` naming where it came from. See docs/configuration.md.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from auctionhouse.errors import ConfigError
from auctionhouse.house.agent_policy import AgentPolicy
from auctionhouse.house.config import HouseConfig
from auctionhouse.ledger.location import is_postgres_url

ENV_PREFIX = "AUCTIONHOUSE_"
HOUSE_ENV_PREFIX = "AUCTIONHOUSE_HOUSE_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def default_db_path() -> Path:
    """The SQLite file in the user's data directory (platformdirs)."""
    from platformdirs import user_data_path

    return user_data_path("auctionhouse") / "house.db"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    # The house's SQLite file; its signing key is FILE.key next to it unless key_file is set.
    db: Path = field(default_factory=default_db_path)
    key_file: Path | None = None
    # Serve the ledger for inspection only: nothing is written, every write is refused
    # (read_only); a ledger that fails verification is served anyway, its failures logged.
    read_only: bool = False
    # A PostgreSQL URL (postgresql://...): the shared house of several instances, in place of db.
    database_url: str | None = None
    log_level: str = "info"
    # Seconds a SIGTERM waits for open connections before it closes them.
    graceful_seconds: float = 10.0
    # Trust X-Forwarded-For from these proxy addresses (comma-separated) when proxy_headers is on.
    proxy_headers: bool = False
    forwarded_allow_ips: str = "127.0.0.1"
    # WebSocket: messages and bytes queued per connection before a slow reader is dropped
    # (close 4008); largest frame a client may send.
    ws_send_queue: int = 4096
    ws_send_buffer_bytes: int = 1 << 20
    ws_max_message_bytes: int = 65_536
    # WebSocket connections one account may hold at once (a quota).
    ws_connections_per_account: int = 32
    # A shared house (database_url): instances count that quota together; a killed instance's
    # connections stop counting this many seconds after its last renewal (house/shared_leases.py).
    ws_lease_seconds: float = 15.0
    # permessage-deflate compression of WebSocket frames: saves bandwidth, costs CPU per frame.
    ws_compression: bool = False
    # Most open connections (HTTP and WebSocket) in all and from one client address (0: no
    # limit); a connection beyond either is closed at once (server/protocols.py).
    max_connections: int = 4096
    max_connections_per_address: int = 256
    # Seconds a client may take to send a request's line and headers (from its connection or
    # the end of its previous response); an idle keep-alive connection's life; a WebSocket
    # upgrade's time to finish its handshake.
    header_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    ws_handshake_timeout: float = 10.0
    # Seconds a dropped WebSocket client has to read up to the close frame before it is cut.
    ws_close_grace: float = 10.0
    # Largest request line + headers (431 beyond).
    max_header_bytes: int = 65_536
    # Seconds one send may wait for a client that does not read before it is disconnected
    # (WebSocket: close 4008; HTTP: the connection is cut).
    send_timeout: float = 20.0
    # Encoded catch-up pages (events after a WebSocket subscribe) shared by all connections.
    catch_up_cache_bytes: int = 32 << 20
    # Password (argon2) worker threads for returning logins (an address that logged into the
    # account before; 0: one less than the cores, 1 to 4); all other logins, sign-ups and
    # password changes share one more thread of their own (server/passwords.py).
    password_workers: int = 0
    # Logins waiting for a password worker, per lane, before more are refused (503 overloaded).
    login_max_waiting: int = 256
    # A throttled login (429 login_throttled) is answered after min(Retry-After, this many
    # seconds), so a guessing client cannot turn refusals into a flood (0: answer at once);
    # at most login_tarpit_max such answers are held at once, the rest are answered at once.
    login_tarpit_seconds: float = 1.0
    login_tarpit_max: int = 1024
    # Bid handling latency histogram buckets are fixed; this is the window of bids_per_second.
    stats_window_seconds: float = 10.0
    house: HouseConfig = field(default_factory=HouseConfig)
    # Visiting mobile agents (seed 004): the [agents] table (house/agent_policy.py).
    agents: AgentPolicy = field(default_factory=AgentPolicy)

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError("host must be a host name or address")
        _check_int("port", self.port, 0, 65_535)
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        _check_number("graceful_seconds", self.graceful_seconds, minimum=0.0)
        _check_number("stats_window_seconds", self.stats_window_seconds, minimum=1.0)
        _check_int("ws_send_queue", self.ws_send_queue, 1, 10_000_000)
        _check_int("ws_max_message_bytes", self.ws_max_message_bytes, 256, 64 * 2**20)
        _check_int("ws_connections_per_account", self.ws_connections_per_account, 1, 10**6)
        _check_int("max_connections", self.max_connections, 0, 10**7)
        _check_int("max_connections_per_address", self.max_connections_per_address, 0, 10**7)
        _check_int("max_header_bytes", self.max_header_bytes, 1024, 2**24)
        _check_int("ws_send_buffer_bytes", self.ws_send_buffer_bytes, 4096, 2**34)
        _check_int("catch_up_cache_bytes", self.catch_up_cache_bytes, 0, 2**36)
        for name in (
            "header_timeout",
            "keep_alive_timeout",
            "ws_handshake_timeout",
            "ws_close_grace",
        ):
            _check_number(name, getattr(self, name), minimum=0.01)
        _check_number("send_timeout", self.send_timeout, minimum=0.1)
        _check_number("ws_lease_seconds", self.ws_lease_seconds, minimum=0.3)
        _check_int("password_workers", self.password_workers, 0, 64)
        _check_int("login_max_waiting", self.login_max_waiting, 1, 100_000)
        _check_number("login_tarpit_seconds", self.login_tarpit_seconds, minimum=0.0)
        _check_int("login_tarpit_max", self.login_tarpit_max, 0, 10**6)
        for name in ("proxy_headers", "ws_compression", "read_only"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false")
        if self.database_url is not None and not is_postgres_url(self.database_url):
            raise ConfigError("database_url must be a postgresql:// URL")
        if not isinstance(self.house, HouseConfig):
            raise ConfigError("house must be a [house] table of settings")

    @property
    def key_path(self) -> Path:
        if self.key_file is not None:
            return self.key_file
        if self.database_url is not None:  # every instance needs this same key (a copy)
            return self.db.parent / "postgres-house.key"
        return Path(f"{self.db}.key")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}")


def _check_number(name: str, value: object, *, minimum: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ConfigError(f"{name} must be a number >= {minimum:g}")


# ---------------------------------------------------------------------- loading


_SERVER_FIELDS = {f.name: f for f in fields(ServerConfig) if f.name not in ("house", "agents")}
_HOUSE_FIELDS = {f.name: f for f in fields(HouseConfig)}


_EXPECTED = {
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "Path": "a path",
    "Path | None": "a path",
    "str | None": "a string",
}


def _coerce(name: str, kind: str, raw: object, where: str) -> object:
    """Turn a TOML value or an environment string into the field's type."""
    try:
        return _convert(kind, raw)
    except (TypeError, ValueError):
        expected = _EXPECTED.get(kind, kind)
        raise ConfigError(f"{where}: {name} must be {expected}, not {raw!r}") from None


def _convert(kind: str, raw: object) -> object:
    text = raw.strip() if isinstance(raw, str) else None
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if text is not None and text.lower() in ("1", "true", "yes", "on"):
            return True
        if text is not None and text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if isinstance(raw, bool) and kind in ("int", "float"):
        raise ValueError(raw)
    if kind == "int":
        if isinstance(raw, int):
            return raw
        if text is not None:
            return int(text)
        raise ValueError(raw)
    if kind == "float":
        if isinstance(raw, int | float):
            value = float(raw)
        elif text is not None:
            value = float(text)
        else:
            raise ValueError(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
        return value
    if text is None or not text:
        raise ValueError(raw)
    if kind in ("Path", "Path | None"):
        return Path(text).expanduser()
    return text


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _from_toml(data: Mapping[str, Any], path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    server: dict[str, Any] = {}
    house: dict[str, Any] = {}
    where = str(path)
    for key, value in data.items():
        if key == "house":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [house] must be a table of settings")
            for hkey, hvalue in value.items():
                if hkey not in _HOUSE_FIELDS:
                    raise ConfigError(f"{where}: unknown house setting {hkey!r}")
                kind = str(_HOUSE_FIELDS[hkey].type)
                house[hkey] = _coerce(hkey, kind, hvalue, f"{where} [house]")
        elif key == "agents":
            server["agents"] = AgentPolicy.from_mapping(value, f"{where} [agents]")
        elif key in _SERVER_FIELDS:
            server[key] = _coerce(key, str(_SERVER_FIELDS[key].type), value, where)
        else:
            raise ConfigError(f"{where}: unknown setting {key!r}")
    return server, house


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Known ``AUCTIONHOUSE_*`` names only: other tools (the client) share the prefix."""
    server: dict[str, Any] = {}
    house: dict[str, Any] = {}
    for name, f in _SERVER_FIELDS.items():
        var = ENV_PREFIX + name.upper()
        if var in env:
            server[name] = _coerce(name, str(f.type), env[var], var)
    for name, f in _HOUSE_FIELDS.items():
        var = HOUSE_ENV_PREFIX + name.upper()
        if var in env:
            house[name] = _coerce(name, str(f.type), env[var], var)
    return server, house


def load_config(
    flags: Mapping[str, Any] | None = None,
    *,
    config_file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    house_flags: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """flags > environment > TOML file > defaults. ``flags`` holds only values the user gave
    (None values are ignored), ``house_flags`` the same for house settings (``--currency``).
    The TOML file: ``config_file``, else ``AUCTIONHOUSE_CONFIG``."""
    env = os.environ if env is None else env
    path = config_file if config_file is not None else env.get(ENV_PREFIX + "CONFIG") or None
    server: dict[str, Any] = {}
    house: dict[str, Any] = {}
    if path is not None:
        toml_server, toml_house = _from_toml(_read_toml(Path(path).expanduser()), Path(path))
        server.update(toml_server)
        house.update(toml_house)
    env_server, env_house = _from_env(env)
    server.update(env_server)
    house.update(env_house)
    for name, value in (flags or {}).items():
        if value is None:
            continue
        if name not in _SERVER_FIELDS:
            raise ConfigError(f"unknown setting {name!r}")
        server[name] = value
    for name, value in (house_flags or {}).items():
        if value is not None:
            house[name] = value
    try:
        house_config = HouseConfig.from_mapping(house)
        return ServerConfig(**server, house=house_config)
    except TypeError as exc:  # pragma: no cover - guarded by the field checks above
        raise ConfigError(str(exc)) from None


def db_flags(db: str | None) -> dict[str, Any]:
    """The settings a ``--db`` value gives: a PostgreSQL URL or an SQLite file path."""
    if db is None:
        return {}
    if is_postgres_url(db):
        return {"database_url": db}
    return {"db": Path(db).expanduser()}


def with_house(config: ServerConfig, **house_changes: Any) -> ServerConfig:
    """A copy of ``config`` with some house settings changed (tests, benchmarks)."""
    return replace(config, house=replace(config.house, **house_changes))
