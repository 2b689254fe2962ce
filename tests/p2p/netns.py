"""Network namespaces joined by a bridge, for partition tests (root and iproute2 needed).

``Net(n)`` makes n namespaces, each with one veth end on a bridge in the root namespace, on a
random 10.213.X.0/24 (the test process reaches every peer through the bridge's .254).
``cut(a, b)`` adds blackhole routes between two namespaces (both ways) and ``heal()`` removes
every cut: a partition between peers that leaves the test's own view of each peer intact.
"""

from __future__ import annotations

import secrets
import subprocess


class NetnsUnavailable(RuntimeError):
    pass


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


class Net:
    def __init__(self, n: int) -> None:
        self.tag = secrets.token_hex(3)
        self.subnet = f"10.213.{secrets.randbelow(250) + 1}"
        self.bridge = f"ahb{self.tag}"
        self.names = [f"ah{self.tag}{i}" for i in range(n)]
        self.hosts = [f"{self.subnet}.{i + 1}" for i in range(n)]
        self.cuts: set[tuple[int, int]] = set()
        self._made: list[tuple[str, ...]] = []
        try:
            self._build()
        except (NetnsUnavailable, OSError) as exc:
            self.close()
            raise NetnsUnavailable(f"cannot make network namespaces: {exc}") from exc

    def _build(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made.append(("link", "del", self.bridge))
        _ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, ns in enumerate(self.names):
            _ip("netns", "add", ns)
            self._made.append(("netns", "del", ns))
            host_end, ns_end = f"ahv{self.tag}{i}", f"ahn{self.tag}{i}"
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            self._made.append(("link", "del", host_end))
            _ip("link", "set", ns_end, "netns", ns)
            _ip("link", "set", host_end, "master", self.bridge)
            _ip("link", "set", host_end, "up")
            _ip("-n", ns, "addr", "add", f"{self.hosts[i]}/24", "dev", ns_end)
            _ip("-n", ns, "link", "set", ns_end, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def cut(self, a: int, b: int) -> None:
        for x, y in ((a, b), (b, a)):
            _ip("-n", self.names[x], "route", "add", "blackhole", f"{self.hosts[y]}/32")
        self.cuts.add((a, b))

    def isolate(self, a: int) -> None:
        for b in range(len(self.names)):
            if b != a:
                self.cut(a, b)

    def heal(self) -> None:
        for a, b in sorted(self.cuts):
            for x, y in ((a, b), (b, a)):
                _ip("-n", self.names[x], "route", "del", "blackhole", f"{self.hosts[y]}/32")
        self.cuts.clear()

    def close(self) -> None:
        for args in reversed(self._made):
            subprocess.run(["ip", *args], capture_output=True, timeout=10)
        self._made.clear()
