"""Untrusted text, shown as text: the one helper every terminal view, log line and report uses.

Item names, descriptions, account and seller names, reasons, agent names, the house's error
messages and anything else another user could have written reach terminals through
``safe_text``. It makes two kinds of text harmless:

- control characters: C0 (``\\x00``-``\\x1f``, so ESC and every CSI/OSC sequence), DEL, C1
  (``\\x80``-``\\x9f``), and the invisible format characters (Unicode categories Cf, Zl, Zp, Cs,
  Co, Cn: bidi overrides such as U+202E, zero-width spaces and joiners, line separators, lone
  surrogates) are shown as visible escapes (``\\x1b``, ``\\u202e``), so nothing reaches the
  terminal as a command and nothing hides or reorders what is shown. With ``multiline`` a
  newline is kept (descriptions); a tab always becomes a space.
- Rich markup: with ``markup=True`` the result is also escaped for Rich (``[/red]`` prints as
  ``[/red]`` instead of crashing the view; ``[link=...]`` never becomes a link).

Log lines get the same through ``SafeLogFilter`` (``install_safe_logging``).
"""

from __future__ import annotations

import logging
import unicodedata
from functools import lru_cache

_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


@lru_cache(maxsize=4096)
def _shown(char: str) -> str:
    if char == "\t":
        return " "
    if char == "\\":
        return char
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"\\x{code:02x}"
    if unicodedata.category(char) in _HIDDEN:
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def safe_text(value: object, *, markup: bool = False, multiline: bool = False) -> str:
    """``value`` as a string that a terminal shows as text and nothing else.

    Control and invisible format characters become visible escapes (``\\x1b``, ``\\u202e``);
    ``multiline`` keeps newlines. ``markup=True`` also escapes Rich markup, for strings that
    Rich parses (``console.print``, table cells, panel titles). ``None`` is ``""``.
    """
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if not text.isprintable() or "\t" in text:
        if multiline:
            text = "\n".join("".join(map(_shown, line)) for line in text.split("\n"))
        else:
            text = "".join(map(_shown, text))
    if markup and "[" in text:
        from rich.markup import escape

        text = escape(text)
    return text


class SafeLogFilter(logging.Filter):
    """A handler filter that turns every record's message into ``safe_text``: a log line never
    carries ESC sequences, bidi overrides or a newline that forges a second line."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a record whose args do not fit its format
            return True
        safe = safe_text(message)
        if safe != message:
            record.msg, record.args = safe, None
        return True


def install_safe_logging(*logger_names: str) -> None:
    """Add ``SafeLogFilter`` to the handlers of ``logger_names`` and to logging's last-resort
    handler (what prints warnings when nothing else is configured). Idempotent."""
    handlers = [logging.lastResort] if logging.lastResort is not None else []
    for name in logger_names:
        handlers.extend(logging.getLogger(name).handlers)
    for handler in handlers:
        if not any(isinstance(f, SafeLogFilter) for f in handler.filters):
            handler.addFilter(SafeLogFilter())
