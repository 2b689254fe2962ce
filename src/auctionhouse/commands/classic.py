"""``auctionhouse classic serve PORT`` and ``auctionhouse classic connect HOST PORT`` (seed 003).

PORT is taken as text and checked here, so a bad one is an ``error: invalid_request: ...`` line
(exit 2) like every other mistake, not a usage screen. docs/classic.md describes the protocol.
"""

from __future__ import annotations

from pathlib import Path

import typer

from auctionhouse.errors import InvalidRequest


def register(app: typer.Typer) -> None:
    """Add the ``classic`` sub-command with ``serve`` and ``connect``."""
    classic = typer.Typer(
        help="The classic line protocol of a socket-programming course: plain text lines over"
        " TCP (works with nc).",
        no_args_is_help=True,
    )
    classic.command("serve")(serve)
    classic.command("connect")(connect)
    app.add_typer(classic, name="classic")


def serve(
    port: str = typer.Argument(..., help="TCP port to listen on (0: any free port)."),
    db: Path | None = typer.Option(
        None, "--db", help="SQLite ledger file [default: classic.db in the user data dir]."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    idle_timeout: float = typer.Option(
        300.0, "--idle-timeout", help="Seconds a seller or buyer being waited on may stay silent."
    ),
    send_timeout: float = typer.Option(
        20.0, "--send-timeout", help="Seconds a client may leave the server's output unread."
    ),
    max_connections: int = typer.Option(
        128, "--max-connections", help="Connections at once; more are told to come back later."
    ),
) -> None:
    """Host classic auctions: the first client is the Seller, then #bids Buyers bid once each."""
    from auctionhouse.server.classic import ClassicLimits
    from auctionhouse.server.classic import serve as run_server

    limits = ClassicLimits(
        idle_seconds=idle_timeout, send_seconds=send_timeout, max_connections=max_connections
    )
    run_server(port, db, host, limits)


def connect(
    host: str = typer.Argument(..., help="The auctioneer's host name or address."),
    port: str = typer.Argument(..., help="The auctioneer's TCP port."),
) -> None:
    """Join a classic auction as Seller or Buyer (the server assigns the role)."""
    from auctionhouse.server.classic import parse_port
    from auctionhouse.server.classic_client import main

    number = parse_port(port)
    if number == 0:
        raise InvalidRequest("PORT must be from 1 to 65535 to connect")
    main(host, number)
