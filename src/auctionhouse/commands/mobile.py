"""``auctionhouse agent send | status | log``: an owner sends a mobile agent and follows it.

``send DOC`` signs the mandate the TOML/JSON document describes with the owner's key (which
never leaves this machine) and hands the agent to its home house, which starts it on its
schedule. ``status ID`` shows home's live record (where it is, its state, its bids, overdue;
``--follow`` prints each change until the agent is home or overdue);
``log ID`` the trip log it brought home, verified entry by entry (exit 1 if it does not verify).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from auctionhouse.commands.agents import agent_app
from auctionhouse.commands.core import console, money
from auctionhouse.times import local_time as when

HomeOption = Annotated[
    str | None,
    typer.Option(
        "--home", help="The agent's home house (default: $AUCTIONHOUSE_URL or 127.0.0.1:8000)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _home(home: str | None) -> str:
    return (home or os.environ.get("AUCTIONHOUSE_URL") or "http://127.0.0.1:8000").rstrip("/")


def _call(method: str, url: str, body: Any = None) -> Any:
    import httpx

    from auctionhouse.client.errors import BadResponse, HouseUnreachable, error_from_body

    try:
        response = httpx.request(method, url, json=body, timeout=30.0)
    except httpx.HTTPError as exc:
        raise HouseUnreachable(f"cannot reach {url}: {exc}") from None
    try:
        data = response.json()
    except ValueError:
        raise BadResponse(f"{url} answered HTTP {response.status_code}, not JSON") from None
    if response.status_code >= 400:
        raise error_from_body(response.status_code, data)
    return data


@agent_app.command("send")
def agent_send(
    document: Annotated[Path, typer.Argument(help="The mobile agent's document (TOML or JSON).")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sign DOCUMENT's mandate with the owner's key and send the agent off from its home."""
    import time

    from auctionhouse.mobile.owner import build_mandate, read_owner_document
    from auctionhouse.mobile.travel import new_travel

    data = read_owner_document(document)
    if home is not None:
        data["home"] = home
    mandate, _ = build_mandate(
        data, now=time.time(), base=document.resolve().parent, where=str(document)
    )
    travel = new_travel(tuple(mandate["schedule"]))
    receipt = _call(
        "POST", f"{mandate['home']}/api/v1/agents", {"mandate": mandate, "travel": travel}
    )
    if as_json:
        typer.echo(json.dumps({"agent": mandate["agent"], "receipt": receipt}, indent=2))
        return
    out = console()
    out.print(f"agent {mandate['agent']} sent from {mandate['home']}")
    out.print(f"follow it: auctionhouse agent status {mandate['agent']} --home {mandate['home']}")


@agent_app.command("status")
def agent_status(
    agent: Annotated[str, typer.Argument(help="The agent's id (printed by agent send).")],
    home: HomeOption = None,
    as_json: JsonOption = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Print each move, state and bid as home hears of it, until the agent is home "
            "or overdue; then the record.",
        ),
    ] = False,
) -> None:
    """Home's live record of AGENT: where it is, its state, its bids, its result."""
    from rich.table import Table

    record = _call("GET", f"{_home(home)}/api/v1/agents/{agent}")
    if follow:
        record = _follow(f"{_home(home)}/api/v1/agents/{agent}", record)
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    out = console()
    out.print(f"agent {record['agent']}: {record['status']}, state {record['state']}")
    out.print(f"  at {record['where']} (hop {record['hop']}), looking for {record['item']!r}")
    if record.get("overdue"):
        out.print(f"  OVERDUE: last seen at {when(record['overdue']['last_seen_at'])}")
    result = record.get("result")
    if result:
        out.print(
            f"  {result['outcome']}: auction {result['auction']} at {result['site']}"
            f" for {money(result.get('price'))}"
        )
    if record.get("log"):
        verdict = "verifies" if record["log"]["ok"] else "DOES NOT VERIFY"
        out.print(f"  trip log: {record['log']['entries']} entries, {verdict}")
    if record["bids"]:
        table = Table("site", "auction", "amount", "proxy max")
        for bid in record["bids"]:
            table.add_row(
                bid.get("site", ""),
                str(bid.get("auction", "")),
                money(bid.get("amount")),
                money(bid.get("proxy_max")),
            )
        out.print(table)


FOLLOW_POLL = 0.5
"""Seconds between two reads of home's record while following an agent."""


def _follow(url: str, record: dict[str, Any]) -> dict[str, Any]:
    """Print a line whenever the agent's state, place or bids change, until it is home or
    overdue (home reports that at return-by plus its grace, so this ends); returns the record."""
    import time

    out, seen = console(), None
    while True:
        now = (
            record["status"],
            record["state"],
            record["where"],
            record["hop"],
            len(record["bids"]),
        )
        if now != seen:
            seen = now
            out.print(
                f"{time.strftime('%H:%M:%S')} {record['status']}: {record['state']} at "
                f"{record['where']} (hop {record['hop']}), {len(record['bids'])} bids"
            )
        if record["status"] in ("home", "overdue"):
            return record
        time.sleep(FOLLOW_POLL)  # polling home's record: it has no push channel for agents
        record = _call("GET", url)


@agent_app.command("log")
def agent_log(
    agent: Annotated[str, typer.Argument(help="The agent's id.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """The trip log AGENT brought home, verified (exit 1 if a site altered or cut it)."""
    from rich.table import Table

    trip = _call("GET", f"{_home(home)}/api/v1/agents/{agent}/log")
    if as_json:
        typer.echo(json.dumps(trip, indent=2))
    else:
        bad = {p["n"]: p["kind"] for p in trip["problems"] if p.get("n") is not None}
        table = Table("n", "site", "hop", "state", "what", "detail", "check")
        for entry in trip["entries"]:
            n = entry.get("n")
            detail = json.dumps(entry.get("detail", {}), separators=(",", ":"))
            table.add_row(
                str(n),
                str(entry.get("site", "")),
                str(entry.get("hop", "")),
                str(entry.get("state", "")),
                str(entry.get("what", "")),
                detail if len(detail) <= 60 else detail[:57] + "...",
                bad.get(n, "ok"),
            )
        out = console()
        out.print(table)
        if trip["ok"]:
            out.print("the trip log verifies: every entry signed by its site and chained")
        for problem in trip["problems"]:
            out.print(f"[bold]{problem['kind']}[/bold]: {problem['message']}")
    if not trip["ok"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """The commands are on ``agent_app``, which ``commands.agents`` adds to the CLI."""
