"""AgentPolicy: how a house hosts visiting mobile agents (seed 004), typed, frozen, checked once.

The ``[agents]`` table of the server's TOML file::

    [agents]
    accept = "all"            # "all", "allow-list" (owner keys in allow) or "none"
    allow = []                # owner Ed25519 public keys (hex) when accept = "allow-list"
    max_agents = 100          # visiting agents at once
    visit_seconds = 60        # the longest one visit may last (bidding included)
    max_bids = 50             # bids one agent may place during one visit
    max_money = 10000000      # the most one agent may commit here (minor units)
    site_url = ""             # this site's public URL ("": the URL the request came to)
    peers = []                # sites this site knows from the start (given to cooperating agents)
    move_timeout = 5          # seconds to wait on the next site when an agent moves on
    overdue_grace = 30        # seconds after return-by before home reports an agent overdue
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

from auctionhouse.errors import ConfigError

ACCEPT = ("all", "allow-list", "none")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class AgentPolicy:
    enabled: bool = True
    accept: str = "all"
    allow: tuple[str, ...] = ()
    max_agents: int = 100
    visit_seconds: float = 60.0
    max_bids: int = 50
    max_money: int = 10_000_000
    site_url: str = ""
    peers: tuple[str, ...] = ()
    move_timeout: float = 5.0
    overdue_grace: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError("agents.enabled must be true or false")
        if self.accept not in ACCEPT:
            raise ConfigError(f"agents.accept must be one of {', '.join(ACCEPT)}")
        for key in self.allow:
            if not isinstance(key, str) or not _HEX64.match(key):
                raise ConfigError("agents.allow must list Ed25519 public keys (64 hex digits)")
        for name in ("max_agents", "max_bids", "max_money"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"agents.{name} must be a whole number >= 1")
        for name in ("visit_seconds", "move_timeout", "overdue_grace"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"agents.{name} must be a positive number of seconds")
        if not isinstance(self.site_url, str):
            raise ConfigError("agents.site_url must be a URL")
        for url in self.peers:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ConfigError("agents.peers must list http(s) URLs")

    def accepts(self, owner_key: str) -> bool:
        """Whether this policy lets an agent of ``owner_key`` visit."""
        if self.accept == "all":
            return True
        return self.accept == "allow-list" and owner_key in self.allow

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str = "[agents]") -> AgentPolicy:
        """From the TOML table; an unknown or bad setting is a ``ConfigError``."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a table of settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown agents setting {unknown[0]!r}")
        values = dict(data)
        for name in ("allow", "peers"):
            if name in values:
                if not isinstance(values[name], list | tuple):
                    raise ConfigError(f"agents.{name} must be a list")
                values[name] = tuple(values[name])
        return cls(**values)
