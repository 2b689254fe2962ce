"""Sessions of authenticated WebSockets: a socket lives as long as the session it logged in with.

:class:`SessionWatch` keeps, for each authenticated connection, its session's token digest
(never the token) and expiry (house time). A connection is closed

- with ``CLOSE_SESSION_EXPIRED`` (4002) once its session expires: checked before each command
  the socket sends, and by a sweep every ``SESSION_SWEEP`` seconds that reads the house clock
  (the injected ``FakeClock`` in tests), so an idle socket closes too;
- with ``CLOSE_SESSION_REVOKED`` (4003) when its session is revoked (logout) or every session
  of its account is (logout everywhere, password change): ``end_session`` / ``end_account``,
  called by the routes that revoke.

Closing goes through ``Hub.drop``, like every other drop: the close frame carries the reason.
"""

from __future__ import annotations

import asyncio
import contextlib

from auctionhouse.server.hub import Connection, Hub

CLOSE_SESSION_EXPIRED = 4002
CLOSE_SESSION_REVOKED = 4003
SESSION_SWEEP = 0.25  # seconds (real time) between looks at the house clock for expiries


class SessionWatch:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._live: dict[Connection, tuple[str, float]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep(), name="ws-session-expiry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def watch(self, conn: Connection, session: str, expires_at: float) -> None:
        """``conn`` now acts under the session with token digest ``session``."""
        self._live[conn] = (session, expires_at)

    def check(self, conn: Connection) -> bool:
        """Before a command of ``conn``: is its session (if any) still live? If not, the
        connection is dropped (4002 expired, 4003 revoked) and False returned."""
        entry = self._live.get(conn)
        if entry is None or conn.closed:
            return not conn.closed
        session, expires_at = entry
        house = self.hub.house
        if house.clock.now() >= expires_at:
            self._end(conn, CLOSE_SESSION_EXPIRED, "session_expired")
            return False
        if not house.session_alive(session):
            self._end(conn, CLOSE_SESSION_REVOKED, "session_revoked")
            return False
        return True

    def end_session(self, session: str) -> int:
        """Close every connection of the session with token digest ``session`` (revoked)."""
        ended = [c for c, (s, _) in self._live.items() if s == session]
        for conn in ended:
            self._end(conn, CLOSE_SESSION_REVOKED, "session_revoked")
        return len(ended)

    def revoked(self, session: str | None) -> None:
        """Another instance of a shared house revoked the session with token digest
        ``session``: its sockets here close now (4003), not at their next command. None:
        revocations may have been missed; every socket's session is checked again."""
        if session is not None:
            self.end_session(session)
            return
        for conn in list(self._live):
            self.check(conn)

    def end_account(self, account_id: str) -> int:
        """Close every connection of ``account_id`` (all its sessions were revoked)."""
        ended = [c for c in self._live if c.account == account_id]
        for conn in ended:
            self._end(conn, CLOSE_SESSION_REVOKED, "session_revoked")
        return len(ended)

    def _end(self, conn: Connection, code: int, reason: str) -> None:
        self._live.pop(conn, None)
        self.hub.drop(conn, code, reason)

    async def _sweep(self) -> None:
        clock = self.hub.house.clock
        while True:
            await asyncio.sleep(SESSION_SWEEP)
            if not self._live:
                continue
            now = clock.now()
            for conn, (_, expires_at) in list(self._live.items()):
                if conn.closed:
                    del self._live[conn]
                elif expires_at <= now:
                    self._end(conn, CLOSE_SESSION_EXPIRED, "session_expired")
