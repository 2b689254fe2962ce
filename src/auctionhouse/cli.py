"""The ``auctionhouse`` command.

Each area owns one module under ``auctionhouse.commands`` with a ``register(app)`` function
that adds its verbs; this file only assembles them and turns every deliberate error into one
line on stderr and a non-zero exit (never a traceback). Heavy imports (NumPy, FastAPI) happen
inside the verbs so that ``auctionhouse --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from auctionhouse.client.text import install_safe_logging, safe_text
from auctionhouse.errors import AuctionhouseError
from auctionhouse.times import local_times

# One line per area; each module defines register(app: typer.Typer) -> None.
COMMAND_MODULES = [
    "auctionhouse.commands.serve",
    "auctionhouse.commands.classic",
    "auctionhouse.commands.client",
    "auctionhouse.commands.admin",
    "auctionhouse.commands.demo",
    "auctionhouse.commands.agents",
    "auctionhouse.commands.mobile",
    "auctionhouse.commands.sim",
    "auctionhouse.commands.ledger",
    "auctionhouse.commands.peer",
    "auctionhouse.commands.market",
]

EXIT_ERROR = 2


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="auctionhouse",
        help="An auction house for people and software agents.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    _plain_help(app)
    return app


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"auctionhouse {version('auctionhouse')}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """An auction house for people and software agents."""


def _plain_help(app: typer.Typer) -> None:
    """Every command's help as flowing paragraphs: Typer keeps a docstring's line breaks, so a
    sentence wrapped in the source would break mid-line on the screen."""
    for command in app.registered_commands:
        text = command.help or (command.callback.__doc__ if command.callback else None)
        if text:
            command.help = _paragraphs(text)
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        if group.help:
            group.help = _paragraphs(group.help)
        if isinstance(sub.info.help, str):
            sub.info.help = _paragraphs(sub.info.help)
        _plain_help(sub)


def _paragraphs(text: str) -> str:
    """``text`` dedented, each paragraph on one line (list items, starting with ``-``, kept)."""
    import inspect
    import re

    out = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.splitlines()
        joined = lines[:1]
        for line in lines[1:]:
            if re.match(r"\s*[-*|]\s", line):
                joined.append(line)
            else:
                joined[-1] = f"{joined[-1]} {line.strip()}"
        out.append("\n".join(joined))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> None:
    install_safe_logging("auctionhouse")
    app = build_app()
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            raise SystemExit(code)
    except AuctionhouseError as exc:
        # The message may quote a house's answer or a file: shown as text, on one line.
        # Times in it read as the user's local time (the house says them in UTC).
        print(f"error: {exc.code}: {safe_text(local_times(exc.message))}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors from Typer's (vendored) click: they know how to show themselves.
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            raise SystemExit(exc.exit_code) from None  # type: ignore[attr-defined]
        if type(exc).__name__ == "Abort":
            raise SystemExit(1) from None
        raise
