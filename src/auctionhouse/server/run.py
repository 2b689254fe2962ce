"""Run the app under uvicorn: uvloop + httptools when present, graceful SIGTERM, one
``listening on http://HOST:PORT`` line on stdout once the socket is bound (port 0 picks one)."""

from __future__ import annotations

import gc
import math
import signal
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

from auctionhouse.client.text import install_safe_logging
from auctionhouse.errors import ConfigError, TamperDetected
from auctionhouse.ledger.location import redact
from auctionhouse.server.config import ServerConfig

GC_YOUNG = 20_000  # allocations between young collections (the default is 700)


def check_database(config: ServerConfig) -> None:
    """Fail early, in one line, when the database file cannot be opened."""
    from auctionhouse.house.accounts import create_private_file

    if config.database_url is not None:  # psycopg installed, the server answers, we may write
        from auctionhouse.ledger.postgres import PostgresStore

        PostgresStore(config.database_url).close()
        return
    if config.read_only:  # never create a file to inspect: the house says if it is missing
        return
    try:
        config.db.parent.mkdir(parents=True, exist_ok=True)
        create_private_file(config.db)  # password hashes inside: never readable by others
        sqlite3.connect(config.db).close()
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"cannot open the house database {config.db}: {exc}") from None


def connection_guard(config: ServerConfig) -> Any:
    from auctionhouse.server.protocols import ConnectionGuard

    return ConnectionGuard(
        max_total=config.max_connections,
        max_per_address=config.max_connections_per_address,
        header_timeout=config.header_timeout,
        keep_alive_timeout=config.keep_alive_timeout,
        ws_handshake_timeout=config.ws_handshake_timeout,
        ws_close_grace=config.ws_close_grace,
        send_timeout=config.send_timeout,
        max_header_bytes=config.max_header_bytes,
    )


def uvicorn_config(config: ServerConfig, app: Any) -> Any:
    """uvicorn's settings, with our protocol classes (server/protocols.py: connection caps,
    head, idle, handshake and write-stall timeouts, which uvicorn lacks or applies too late)."""
    import uvicorn

    from auctionhouse.server.protocols import protocols
    from auctionhouse.server.redact import install_log_redaction

    http, ws = protocols(connection_guard(config))
    settings = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=config.log_level in ("debug", "trace"),
        ws_max_size=config.ws_max_message_bytes,
        ws_per_message_deflate=config.ws_compression,
        proxy_headers=config.proxy_headers,
        forwarded_allow_ips=config.forwarded_allow_ips,
        timeout_graceful_shutdown=max(1, round(config.graceful_seconds)),
        http=http,
        ws=ws,
        timeout_keep_alive=max(1, math.ceil(config.keep_alive_timeout)),  # ours: GuardedHttp
        server_header=False,
    )
    install_log_redaction()  # after uvicorn.Config has set up its loggers and handlers
    return settings


def tune_gc() -> None:
    """The house keeps every auction in memory, so the heap only grows; a full collection
    scans all of it (100 ms and more). Freeze what the start built (the recovered ledger: the
    cycle collector never scans it again; refcounting still frees it) and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, 50, 50)


def house_server(uv_config: Any, banner: str | None = None) -> Any:
    """A uvicorn server whose SIGTERM stop exits 0 (drained and checkpointed) and that prints
    ``listening on http://HOST:PORT`` (then ``banner``) once it listens; its log lines pass
    through the secret-redacting filter. Used by ``serve`` and ``peer``."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM:
                # A drained, checkpointed stop on SIGTERM is a success: exit 0, not -15.
                self._captured_signals.remove(sig)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                for server in self.servers:
                    for sock in server.sockets:
                        host, port = sock.getsockname()[:2]
                        print(f"listening on http://{host}:{port}", flush=True)
                if banner:
                    print(banner, flush=True)

    server = Server(uv_config)  # configures uvicorn's loggers
    install_safe_logging("uvicorn", "uvicorn.error", "uvicorn.access", "auctionhouse")
    return server


def run_server(
    config: ServerConfig, build_app: Callable[[ServerConfig], Any] | None = None
) -> None:
    """Serve ``build_app(config)`` (default ``create_app``; ``auctionhouse serve`` passes the
    app with the mobile agent host, ``mobile.app.create_site_app``)."""

    from auctionhouse.server.app import create_app

    check_database(config)

    app = (build_app or create_app)(config)
    # Recover and verify the ledger first: a ledger that fails raises TamperDetected (or
    # HouseKeyMissing), which the CLI prints as one line with a non-zero exit; the shared house
    # of several instances too (its snapshot, house/shared.py).
    if config.read_only and config.database_url is not None:
        raise ConfigError("read_only serves a house's SQLite file, not a shared house")
    shared = config.database_url is not None
    db = redact(config.database_url) if config.database_url is not None else str(config.db)
    try:
        house = app.state.server.open_house_now()
    except TamperDetected as exc:
        look = "" if shared else "; serve --read-only serves it for inspection"
        raise TamperDetected(
            f"{exc.message}; refusing to serve {db} (auctionhouse audit --db {db} lists every"
            f" finding{look})"
        ) from None
    if config.read_only:
        failing = f"; it fails verification: {house.problems[0]}" if house.problems else ""
        print(f"read-only: serving {config.db}, nothing is written{failing}", flush=True)
    server = house_server(uvicorn_config(config, app))
    app.state.server.on_started = tune_gc
    server.run()
    if not server.started:
        sys.exit(1)
