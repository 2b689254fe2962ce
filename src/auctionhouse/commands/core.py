"""Shared helpers for command modules: money formatting and a Rich console."""

from __future__ import annotations

from rich.console import Console


def money(minor: int | None) -> str:
    """Minor units as a readable amount: 15050 -> '150.50'."""
    if minor is None:
        return "-"
    return f"{minor // 100:,}.{minor % 100:02d}"


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)
