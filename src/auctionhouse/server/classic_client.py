"""``auctionhouse classic connect HOST PORT``: the seed's line client.

It prints every line the server sends. When the server prompts (``Please submit auction
request:`` or ``Please submit your bid:``) it reads one line from standard input, checks it with
the server's own parser (``classic_protocol``) and either sends it or prints why not and the
prompt again, without bothering the server. Lines typed before a prompt wait for it, as they would
for ``input()``. It ends when the server disconnects, or when a prompt finds standard input at its
end (nothing more could ever be answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from auctionhouse.client.text import safe_text
from auctionhouse.errors import ConfigError, InvalidRequest
from auctionhouse.server import classic_protocol as say
from auctionhouse.server.classic_protocol import parse_bid, parse_request

Printer = Callable[[str], None]
NO_MORE_INPUT = "No more input: disconnecting."


def _print(line: str) -> None:
    print(safe_text(line), flush=True)  # the server's lines quote other users' item names


def _check(prompt: str, line: str) -> None:
    """Raise ``InvalidRequest`` (the server's own refusal) if the server would refuse ``line``."""
    if prompt == say.REQUEST_PROMPT:
        parse_request(line)
    else:
        parse_bid(line)


class LineClient:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, out: Printer
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.out = out
        self.prompt: str | None = None
        self.prompted = asyncio.Event()

    async def run(self, stdin: TextIO) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def read_stdin() -> None:
            while True:
                line = stdin.readline()
                try:
                    loop.call_soon_threadsafe(
                        lines.put_nowait, line.rstrip("\r\n") if line else None
                    )
                except RuntimeError:  # the loop is gone: the session is over
                    return
                if not line:
                    return

        threading.Thread(target=read_stdin, name="classic-stdin", daemon=True).start()
        tasks = {
            asyncio.create_task(self._from_server()),
            asyncio.create_task(self._answer(lines)),
        }
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    async def _from_server(self) -> None:
        while True:
            try:
                raw = await self.reader.readline()
            except (ConnectionError, OSError):
                return
            except ValueError:  # an over-long line: print what fits
                continue
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.out(line)
            if line in (say.REQUEST_PROMPT, say.BID_PROMPT):
                self.prompt = line
                self.prompted.set()

    async def _answer(self, lines: asyncio.Queue[str | None]) -> None:
        while True:
            await self.prompted.wait()
            self.prompted.clear()
            prompt = self.prompt or say.BID_PROMPT
            while True:
                line = await lines.get()
                if line is None:
                    self.out(NO_MORE_INPUT)
                    return
                try:
                    _check(prompt, line)
                except InvalidRequest as exc:
                    self.out(exc.message)
                    self.out(prompt)
                    continue
                try:
                    self.writer.write(f"{line}\n".encode())
                    await self.writer.drain()
                except (ConnectionError, OSError):
                    return
                break


async def connect(host: str, port: int, stdin: TextIO | None = None, out: Printer = _print) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port, limit=64 * 1024)
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or not exc.errno:
            reason = exc.strerror or str(exc)
        else:  # asyncio's message names the address again; the errno says it better
            reason = os.strerror(exc.errno)
        raise ConfigError(f"cannot connect to {host}:{port}: {reason}") from None
    await LineClient(reader, writer, out).run(stdin or sys.stdin)


def main(host: str, port: int) -> None:
    asyncio.run(connect(host, port))
