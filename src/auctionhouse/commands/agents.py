"""``auctionhouse agent``: run an agent from its document, check a document, list strategies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from auctionhouse.client.text import safe_text
from auctionhouse.commands.core import console

agent_app = typer.Typer(help="Agents: run one from its TOML document; list the strategies.")


@agent_app.command("run")
def agent_run(
    document: Annotated[Path, typer.Argument(help="The agent document (TOML).")],
    run_for: Annotated[
        float | None,
        typer.Option(
            "--for", help="Stop after this many seconds (default: when its work is done)."
        ),
    ] = None,
    house: Annotated[
        str | None, typer.Option("--house", help="The house URL (overrides the document's).")
    ] = None,
) -> None:
    """Run the agent described by DOCUMENT against its house until its work is done."""
    import asyncio

    from auctionhouse.agents.bidder import BidderAgent
    from auctionhouse.agents.document import load_document
    from auctionhouse.agents.market import money
    from auctionhouse.agents.runner import run_document
    from auctionhouse.errors import InvalidRequest

    if run_for is not None and not run_for > 0:
        raise InvalidRequest("--for must be a positive number of seconds")
    doc = load_document(document)
    if house is not None:
        from dataclasses import replace

        from auctionhouse.client import normalize_house

        doc = replace(doc, house=normalize_house(house))

    def say(line: str) -> None:  # agents' reports quote item and account names: text only
        print(safe_text(line), flush=True)

    agent = asyncio.run(run_document(doc, say, run_for))
    if isinstance(agent, BidderAgent):
        won = [r for r in agent.reports if r.kind in ("won", "won_while_away")]
        spent = sum(r.amount or 0 for r in won if r.kind == "won")
        say(f"{doc.account}: {len(won)} won, {money(spent)} spent of a {money(doc.budget)} budget")


@agent_app.command("check")
def agent_check(
    document: Annotated[Path, typer.Argument(help="The agent document (TOML).")],
) -> None:
    """Check DOCUMENT without running it (every bad field is named)."""
    from auctionhouse.agents.document import load_document

    doc = load_document(document)
    what = (
        f"{len(doc.listings)} item(s) to sell" if doc.role == "seller" else f"budget {doc.budget}"
    )
    console().print(
        safe_text(
            f"{document}: a {doc.role} ({doc.strategy}) for {doc.house}, {what}: ok", markup=True
        )
    )


@agent_app.command("strategies")
def agent_strategies() -> None:
    """The bidder and seller strategies an agent document can name, with their parameters."""
    from rich.table import Table

    from auctionhouse.agents.bidding import REGISTRY
    from auctionhouse.agents.selling import SELLERS

    table = Table(title="strategies")
    for column in ("role", "name", "parameters", "what it does"):
        table.add_column(column)
    registries: list[tuple[str, dict[str, Any]]] = [("bidder", REGISTRY), ("seller", SELLERS)]
    for role, registry in registries:
        for name, cls in sorted(registry.items()):
            params = ", ".join(
                f"{p}={spec.default}" if spec.default is not None else p
                for p, spec in cls.params.items()
            )
            text = " ".join((cls.__doc__ or "").split())
            summary = text.split(": ")[0].split(". ")[0].split(" (")[0]
            row = (role, name, params or "-", summary)
            table.add_row(*(safe_text(text, markup=True) for text in row))
    console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(agent_app, name="agent")
