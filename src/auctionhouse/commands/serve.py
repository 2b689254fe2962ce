"""``auctionhouse serve`` (the HTTP + WebSocket house) and ``auctionhouse admin create``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from auctionhouse.errors import ConfigError, InvalidRequest

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="A TOML file of settings (server keys at the top, house settings in \\[house]).",
        dir_okay=False,
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="The house's SQLite file (default: in the user data directory), or a"
        " postgresql://USER@HOST/DB URL: several instances share one PostgreSQL database.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    admin = typer.Typer(help="House administration on the database file itself.")
    admin.command("create")(admin_create)
    app.add_typer(admin, name="admin")


def serve(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (0 picks a free one).")] = None,
    config: ConfigOption = None,
    log_level: Annotated[
        str | None, typer.Option(help="critical, error, warning, info, debug, trace.")
    ] = None,
    max_connections: Annotated[
        int | None, typer.Option(help="Open connections at once (0: no limit).")
    ] = None,
    read_only: Annotated[
        bool | None,
        typer.Option(
            "--read-only",
            help="Serve the ledger for inspection: write nothing, refuse every write, and serve"
            " it even when it fails verification.",
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            help="The ISO 4217 code every amount is in (EUR, USD, JPY...; default EUR).",
        ),
    ] = None,
    locale: Annotated[
        str | None,
        typer.Option(help="The locale amounts are shown in (en, en_US, de_DE, ja_JP...)."),
    ] = None,
) -> None:
    """Run the house: REST + WebSocket API, web page, /metrics. Stops cleanly on SIGTERM.

    The ledger is verified while it is replayed; one that fails (an edited, deleted or
    reordered event, a bad seal, checkpoint or account row, a damaged file) is refused with
    one line naming auction and seq, and exit 2. Settings: flags > AUCTIONHOUSE_* variables >
    the --config file > defaults (docs/configuration.md).
    """
    from auctionhouse.mobile.app import create_site_app
    from auctionhouse.server.config import db_flags, load_config
    from auctionhouse.server.run import run_server

    settings = load_config(
        {
            **db_flags(db),
            "host": host,
            "port": port,
            "log_level": log_level,
            "max_connections": max_connections,
            "read_only": read_only,
        },
        config_file=config,
        house_flags={"currency": currency, "locale": locale},
    )
    run_server(settings, create_site_app)


def admin_create(
    name: Annotated[str, typer.Argument(help="The admin account's name.")],
    db: DbOption = None,
    config: ConfigOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an admin account directly in the house's database file."""
    from auctionhouse.house.accounts import AccountStore
    from auctionhouse.house.clock import SystemClock
    from auctionhouse.house.house import house_key
    from auctionhouse.ledger import Ledger, SQLiteStore
    from auctionhouse.server.config import db_flags, load_config

    settings = load_config(db_flags(db), config_file=config)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise InvalidRequest("the password is empty")
    house = settings.house
    ledger = None
    store: AccountStore
    if settings.database_url is not None:  # the shared house's accounts live in PostgreSQL
        from auctionhouse.house.shared import SharedAccountStore
        from auctionhouse.ledger.location import redact

        where = redact(settings.database_url)
        store = SharedAccountStore(
            settings.database_url,
            time_cost=house.argon2_time_cost,
            memory_kib=house.argon2_memory_kib,
        )
    else:
        path = settings.db
        where = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {path.parent}: {exc.strerror}") from None
        # The row is sealed by the house key (created here for a house that has recorded
        # nothing, like a first start; a house with records and no key: HouseKeyMissing).
        ledger_store = SQLiteStore(path)
        try:
            key = house_key(ledger_store, settings.key_path, read_only=False)
            ledger = Ledger(ledger_store, key)
        except BaseException:
            ledger_store.close()
            raise
        try:
            store = AccountStore(
                path,
                time_cost=house.argon2_time_cost,
                memory_kib=house.argon2_memory_kib,
                signer=ledger,
            )
        except BaseException:
            ledger.close()
            raise
    try:
        account = store.create(name, password, now=SystemClock().now(), role="admin")
    finally:
        store.close()
        if ledger is not None:
            ledger.close()
    typer.echo(f"admin {account.id} created in {where}")
