"""Issue 9, fault 4: the CLI's list row and show panel of a closed auction read the outcome."""

from __future__ import annotations

from rich.console import Console

from auctionhouse.auction import (
    AuctionState,
    CloseAuction,
    CreateAuction,
    Method,
    PlaceBid,
    Rules,
    apply,
    decide,
    public_view,
)
from auctionhouse.client.render import auction_panel, auction_table

T0 = 1_000_000.0


def rendered(renderable: object) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_a_closed_auctions_row_shows_the_sale_price_not_the_last_bid() -> None:
    state: AuctionState | None = None
    rules = Rules(starting_price=100, reserve_price=1000, duration=60)
    for command, now in (
        (CreateAuction("a1", "seller", "lamp", Method.ENGLISH, rules), T0),
        (PlaceBid("a1", "ann", 600, proxy_max=2000), T0 + 1),
        (CloseAuction("a1"), T0 + 60),
    ):
        for event in decide(state, command, now):  # type: ignore[arg-type]
            state = apply(state, event)
    assert state is not None
    view = public_view(state, T0 + 61)
    row = rendered(auction_table([view], T0 + 61))
    assert "SOLD to ann for €10.00" in row
    assert "600" not in row  # the last bid's price is not the outcome
    panel = rendered(auction_panel(view, [], T0 + 61))
    assert "SOLD to ann for €10.00" in panel and "600" not in panel
