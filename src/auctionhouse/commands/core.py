"""Shared helpers for command modules: money formatting and a Rich console."""

from __future__ import annotations

from rich.console import Console

from auctionhouse.money import DEFAULT_CURRENCY, format_amount


def money(minor: int | None, currency: str = DEFAULT_CURRENCY) -> str:
    """Minor units for people with Babel's ``format_currency``: 15050 -> '€150.50'."""
    return format_amount(minor, currency)


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)
