"""pysyncobj's TCP transport, routed through the TLS tunnels (``tls.Tunnels``).

Nodes keep their public names (``host:port`` of each peer's TLS port), so membership and
leader addresses mean the same on every peer; only the place a connection is opened changes:
a partner is reached through this peer's local tunnel port for it, and the library's own server
binds a loopback port (``SyncObjConf.bindAddress``) that only the tunnel connects to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysyncobj.monotonic import monotonic as monotonic_time
from pysyncobj.tcp_connection import CONNECTION_STATE
from pysyncobj.transport import TCPTransport


def tunnel_transport(
    route: Callable[[str], int | None],
    lost: Callable[[Any], None] | None = None,
    intercept: Callable[[Any, Any], bool] | None = None,
) -> type[TCPTransport]:
    """A transport class whose outgoing connections go to ``127.0.0.1:route(address)``
    (``None``: no tunnel yet, try again at the next retry); ``lost(node)`` is told when the
    connection with a member drops, after the library was; ``intercept(node, message)`` sees
    every member's message first and keeps it from the library by returning True (pre-vote)."""

    class TunnelTransport(TCPTransport):  # type: ignore[misc]
        def _onMessageReceived(self, node: Any, message: Any) -> None:
            if intercept is not None and intercept(node, message):
                return
            super()._onMessageReceived(node, message)

        def _onNodeDisconnected(self, node: Any) -> None:
            super()._onNodeDisconnected(node)
            if lost is not None:
                lost(node)

        def _connectIfNecessarySingle(self, node: Any) -> bool:
            # Same as the library's, but the connection goes to the local tunnel port.
            conns = self._connections
            if node in conns and conns[node].state != CONNECTION_STATE.DISCONNECTED:
                return True
            if not self._shouldConnect(node):
                return False
            if (
                node in self._lastConnectAttempt
                and monotonic_time() - self._lastConnectAttempt[node]
                < self._syncObj.conf.connectionRetryTime
            ):
                return False
            self._lastConnectAttempt[node] = monotonic_time()
            port = route(node.address)
            if port is None:
                return False
            return bool(conns[node].connect("127.0.0.1", port))

    return TunnelTransport
