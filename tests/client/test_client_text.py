"""``safe_text``: the one helper that shows untrusted text as text (issue 10, fault 6)."""

from __future__ import annotations

import logging

import pytest
from rich.console import Console

from auctionhouse.client.text import SafeLogFilter, safe_text

CASES = {
    "\x1b[31mred": "\\x1b[31mred",
    "bell\x07": "bell\\x07",
    "nul\x00": "nul\\x00",
    "del\x7f": "del\\x7f",
    "c1\x9b31m": "c1\\x9b31m",
    "\u202eright-to-left": "\\u202eright-to-left",
    "zero\u200bwidth\u200d\ufeff": "zero\\u200bwidth\\u200d\\ufeff",
    "line\u2028sep": "line\\u2028sep",
    "two\nlines": "two\\x0alines",
    "tab\there": "tab here",
    "plain text, ünïcödé, 漢字": "plain text, ünïcödé, 漢字",
}


@pytest.mark.parametrize("raw", sorted(CASES))
def test_control_and_invisible_characters_become_visible_escapes(raw: str) -> None:
    assert safe_text(raw) == CASES[raw]
    assert safe_text(raw).isprintable()


def test_multiline_keeps_newlines_only() -> None:
    assert safe_text("a\nb\x1b", multiline=True) == "a\nb\\x1b"


@pytest.mark.parametrize(
    "raw", ["[/red] broken", "[link=https://evil.example/]x[/link]", "[bold]b", "end\\"]
)
def test_markup_prints_as_the_same_text(raw: str) -> None:
    console = Console(record=True, width=200, color_system=None)
    console.print(safe_text(raw, markup=True))
    assert console.export_text().rstrip("\n") == raw


def test_non_strings_and_none() -> None:
    assert safe_text(None) == ""
    assert safe_text(12) == "12"


def test_log_records_are_made_safe() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "item %s", ("\x1b[2J\nforged",), None
    )
    assert SafeLogFilter().filter(record)
    assert record.getMessage() == "item \\x1b[2J\\x0aforged"
