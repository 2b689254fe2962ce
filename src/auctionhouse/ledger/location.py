"""Where a ledger lives: an SQLite file path or a PostgreSQL URL (no driver imported here, so
that telling them apart costs nothing to a command that never touches PostgreSQL)."""

from __future__ import annotations


def is_postgres_url(text: object) -> bool:
    """Whether a ``--db`` value names a PostgreSQL database rather than an SQLite file."""
    return isinstance(text, str) and text.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, userinfo = head.partition("//")
    return f"{scheme}//{userinfo.split(':', 1)[0]}:***@{tail}"
