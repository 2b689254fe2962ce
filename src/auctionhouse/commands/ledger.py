"""``auctionhouse audit``: verify a ledger's hash chains, close seals and checkpoints.

Exit 0 when everything is intact, 1 when tampering is found (each tampered auction and seq is
named), 2 for bad input (a missing file, not a database, a bad key file) through the CLI's one
``error:`` line. The trusted house key comes from ``--key``, else from ``<db>.key`` beside the
database; only without either is the key recorded in the database used, and the report says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from auctionhouse.ledger import AuditReport

EXIT_TAMPERED = 1
MAX_ROWS = 200


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
    app.command("migrate")(migrate)


def migrate(
    source: Path = typer.Argument(..., help="The embedded house's SQLite file."),
    destination: str = typer.Argument(..., help="An empty PostgreSQL database: postgresql://..."),
    key: Path | None = typer.Option(
        None, "--key", help="The house key file (default: SOURCE.key beside the file)."
    ),
) -> None:
    """Copy a house's SQLite file (ledger, accounts, sessions) and its photos into PostgreSQL,
    then audit both."""
    from auctionhouse.errors import InvalidRequest, NotFound
    from auctionhouse.house.shared import migrate_house
    from auctionhouse.ledger import audit_database
    from auctionhouse.ledger.location import is_postgres_url, redact

    if not is_postgres_url(destination):
        raise InvalidRequest("the destination must be a postgresql:// URL")
    if not source.is_file():
        raise NotFound(f"{source}: no such database file")
    key = key if key is not None else Path(f"{source}.key")
    copied = migrate_house(source, destination)
    typer.echo(
        f"copied {copied['events']} events, {copied.get('photos', 0)} photos,"
        f" {copied['accounts']} accounts and"
        f" {copied['sessions']} sessions from {source} to {redact(destination)}"
    )
    failed = False
    for where in (str(source), destination):
        report = audit_database(where, key_path=key if key.is_file() else None)
        state = "intact" if report.ok else f"TAMPERED ({len(report.findings)} findings)"
        typer.echo(f"audit {redact(where)}: {report.events} events, {state}")
        failed = failed or not report.ok
    typer.echo(
        f"every instance needs this house key: AUCTIONHOUSE_KEY_FILE={key} (or key_file = ...)"
    )
    if failed:
        raise typer.Exit(EXIT_TAMPERED)


def audit(
    auction: str | None = typer.Argument(None, metavar="AUCTION", help="Audit only this auction."),
    db: str = typer.Option(
        ..., "--db", help="The ledger's SQLite file, or a postgresql://USER@HOST/DB URL."
    ),
    key: Path | None = typer.Option(
        None, "--key", help="House key or public key file (default: <db>.key beside the file)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Verify every hash chain, close seal and checkpoint; name each tampered auction and seq."""
    from auctionhouse.ledger import audit_database
    from auctionhouse.ledger.location import redact

    report = audit_database(db, auction_id=auction, key_path=key)
    db = redact(db)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(db, report)
    if not report.ok:
        raise typer.Exit(EXIT_TAMPERED)


def _print_report(db: str, report: AuditReport) -> None:
    from rich.console import Console
    from rich.table import Table

    from auctionhouse.client.text import safe_text

    def escape(text: str) -> str:  # ids and messages of a tampered file: shown as text
        return safe_text(text, markup=True)

    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"ledger [bold]{escape(str(db))}[/]: {report.auctions} auctions and markets,"
        f" {report.events} events, {report.seals} seals, {report.batches} batch records,"
        f" {report.checkpoints} checkpoints"
    )
    console.print(f"house key from {escape(report.key_source)}")
    if report.ok:
        console.print("[green]intact[/]: every chain, seal, checkpoint and account seal verifies")
        return
    table = Table(title="tampering found")
    for column in ("auction", "seq", "kind", "what"):
        table.add_column(column)
    for f in report.findings[:MAX_ROWS]:
        table.add_row(
            escape(f.auction_id or "-"),
            "-" if f.seq is None else str(f.seq),
            f.kind,
            escape(f.message),
        )
    console.print(table)
    if len(report.findings) > MAX_ROWS:
        console.print(f"... and {len(report.findings) - MAX_ROWS} more findings (see --json)")
    for auction_id, seqs in report.tampered().items():
        console.print(f"[red]TAMPERED[/] {escape(auction_id)}: seq {_ranges(seqs)}")
    console.print(f"[red]{len(report.findings)} finding(s)[/]")


def _ranges(seqs: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    parts: list[str] = []
    start = prev = None
    for s in [*seqs, None]:
        if s is not None and prev is not None and s == prev + 1:
            prev = s
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = s
    return ", ".join(parts) if parts else "-"
