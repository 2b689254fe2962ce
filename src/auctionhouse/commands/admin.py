"""The admin verbs: ``pause``, ``resume`` and ``stats`` (docs/cli.md "Admin"). They act as the
logged-in account, which the house must know as an admin (``serve --admin NAME``); anyone else
gets ``forbidden``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from auctionhouse.commands.client import (
    AccountOpt,
    HouseOpt,
    JsonOpt,
    _act,
    _client,
    _print_json,
)


def pause(
    auction_id: Annotated[str, typer.Argument(metavar="ID")],
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Pause an auction (admin): no bids, and its clocks stop, until it is resumed."""
    _act(
        house,
        account,
        json_out,
        lambda c: c.pause(auction_id),
        lambda v: f"auction {v.get('id', auction_id)} paused",
    )


def resume(
    auction_id: Annotated[str, typer.Argument(metavar="ID")],
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Resume a paused auction (admin); its close moves later by the time it was paused."""
    from auctionhouse.client.render import when

    def resumed(view: dict[str, Any]) -> str:
        due = view.get("close_due_at") or view.get("closes_at")
        tail = f", closes at {when(due)}" if due else ""
        return f"auction {view.get('id', auction_id)} resumed ({view.get('state')}{tail})"

    _act(house, account, json_out, lambda c: c.resume(auction_id), resumed)


def stats(house: HouseOpt = None, account: AccountOpt = None, json_out: JsonOpt = False) -> None:
    """The house's figures now (admin): bids a second, open auctions, connections, refusals."""
    with _client(house, account, login=True) as client:
        figures = client.admin_stats()
    if json_out:
        _print_json(figures)
        return
    from rich.console import Console

    Console().print(stats_table(figures))


def stats_table(figures: dict[str, Any]) -> Any:
    from rich.table import Table

    from auctionhouse.client.render import cell

    table = Table(title="house stats", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rate = figures.get("bids_per_second")
    table.add_row("bids per second", f"{rate:.1f}" if isinstance(rate, int | float) else "-")
    for name in ("open_auctions", "connections", "queue_depth", "dropped_connections"):
        table.add_row(name.replace("_", " "), cell(figures.get(name, "-")))
    rejected = figures.get("rejected") or {}
    total = sum(v for v in rejected.values() if isinstance(v, int)) if rejected else 0
    table.add_row("refused requests", cell(total))
    for code, count in sorted(rejected.items()):
        table.add_row(f"  {code}", cell(count))
    return table


def register(app: typer.Typer) -> None:
    """Add the admin verbs to the ``auctionhouse`` command."""
    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("stats")(stats)
