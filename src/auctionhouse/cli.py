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

# One line per area; each module defines register(app: typer.Typer) -> None.
COMMAND_MODULES = [
    "auctionhouse.commands.serve",
    "auctionhouse.commands.classic",
    "auctionhouse.commands.client",
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
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    install_safe_logging("auctionhouse")
    app = build_app()
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            raise SystemExit(code)
    except AuctionhouseError as exc:
        # The message may quote a house's answer or a file: shown as text, on one line.
        print(f"error: {exc.code}: {safe_text(exc.message)}", file=sys.stderr)
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
