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
    from auctionhouse.agents.live_traders import TraderAgent
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
    if isinstance(agent, TraderAgent):
        result = agent.result()
        say(
            f"{doc.account}: traded {result.traded} of {result.units} units in"
            f" {doc.market}, profit {money(result.profit)} ({result.orders} orders)"
        )
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
    what = {
        "seller": f"{len(doc.listings)} item(s) to sell",
        "bidder": f"budget {doc.budget}",
        "trader": f"{doc.side} {doc.units} unit(s) in market {doc.market}, limit {doc.limit}",
    }[doc.role]
    console().print(
        safe_text(
            f"{document}: a {doc.role} ({doc.strategy}) for {doc.house}, {what}: ok", markup=True
        )
    )


# What each strategy does, in plain words for `agent strategies` (the classes' docstrings are
# written for programmers: markup, the seeds' and the thesis' names).
PLAIN = {
    ("bidder", "truthful"): "Bids what the item is worth to it, once: in English the house "
    "raises for it up to that value; sealed, it bids that value; Dutch, it accepts at it.",
    ("bidder", "equilibrium"): "Bids as auction theory says a rational bidder does against "
    "others like it: its full value in English and Vickrey, less in first-price sealed and "
    "Dutch (the more bidders, the closer to its value).",
    ("bidder", "market-value"): "Raises one step each time it is outbid, up to its value "
    "times factor.",
    ("bidder", "aggressive"): "Pays a premium over its value and jumps well above the "
    "minimum bid, to scare others off.",
    ("bidder", "conservative"): "Stays under its value and bids only the minimum.",
    ("bidder", "smart"): "Watches the clock: starts at low times the item's value, rises to "
    "high as the auction runs, and in the last stretch goes up to final times the value, "
    "always within its budget.",
    ("bidder", "sarl"): "On each new price, raises by a random amount up to raise_max while "
    "that stays within its value; keeps quiet while it leads.",
    ("bidder", "fuzzy-genetic"): "Bids what a strategy file made by `auctionhouse evolve "
    "--save` decides from the item's value.",
    ("seller", "fixed"): "Sets the starting price (and a reserve, if given) as shares of the "
    "item's value; a Dutch clock starts above the value.",
    ("seller", "fuzzy-genetic"): "Sets the starting price and reserve from a strategy file "
    "made by `auctionhouse evolve --scenario seller --save`.",
}


def plain_words(text: str) -> str:
    """Docstring text without reStructuredText markup (``x``, :meth:`x`), on one line."""
    import re

    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return " ".join(text.replace("``", "").split())


@agent_app.command("strategies")
def agent_strategies() -> None:
    """List the strategies an agent document can name: what each does, its settings."""
    from rich.table import Table

    from auctionhouse.agents.bidding import REGISTRY
    from auctionhouse.agents.selling import SELLERS
    from auctionhouse.agents.traders import REGISTRY as TRADERS

    table = Table(title="strategies", show_lines=True)
    for column in ("role", "name", "what it does", "settings (default)"):
        table.add_column(column)
    registries: list[tuple[str, dict[str, Any]]] = [
        ("bidder", REGISTRY),
        ("seller", SELLERS),
        ("trader", TRADERS),
    ]
    for role, registry in registries:
        for name, cls in sorted(registry.items()):
            params = "; ".join(
                f"{p} ({spec.default}): {spec.help}"
                if spec.default is not None
                else f"{p}: {spec.help}"
                for p, spec in cls.params.items()
            )
            summary = PLAIN.get((role, name)) or plain_words((cls.__doc__ or "").split(". ")[0])
            row = (role, name, summary, plain_words(params) if "``" in params else params or "-")
            table.add_row(*(safe_text(text, markup=True) for text in row))
    console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(agent_app, name="agent")
