"""``auctionhouse peer``: run one peer (Raft node + TLS tunnels + the server app) under uvicorn."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path
from typing import Any

from auctionhouse.p2p.peer import Peer, PeerConfig, RaftTiming, parse_address
from auctionhouse.p2p.service import ReplicatedService


def run_peer(
    data: Path,
    listen: str,
    peer_listen: str | None,
    join: list[str],
    *,
    config_file: Path | None = None,
    log_level: str | None = None,
    group_size: int = 3,
    replace_after: float = 30.0,
    snapshot_every: int = 20_000,
    ring: bool = False,
    catch_up_grace: float = 900.0,
) -> None:

    from auctionhouse.server.app import create_app
    from auctionhouse.server.config import load_config
    from auctionhouse.server.run import house_server, uvicorn_config

    host, port = parse_address(listen)
    if peer_listen is None:
        peer_listen = f"{host}:{port + 1 if port else 0}"
    parse_address(peer_listen)
    for member in join:
        parse_address(member)
    data.mkdir(parents=True, exist_ok=True)
    settings = load_config(
        {"db": data / "house.db", "host": host, "port": port, "log_level": log_level},
        config_file=config_file,
    )
    logging.basicConfig(
        level=logging.INFO if settings.log_level in ("info", "debug", "trace") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from auctionhouse.errors import ConfigError

    if group_size not in (3, 5):
        raise ConfigError("a replica group has 3 or 5 peers")
    if not replace_after > 0:
        raise ConfigError("--replace-after must be a positive number of seconds")
    if not catch_up_grace >= 0:
        raise ConfigError("--catch-up-grace must be a number of seconds (0 or more)")
    if snapshot_every < 10:
        raise ConfigError("--snapshot-every must be at least 10 entries")
    members = tuple(sorted({peer_listen, *join}))
    config = PeerConfig(
        data=data,
        peer_address=peer_listen,
        members=members,
        house=settings.house,
        group_size=group_size,
        replace_after=replace_after,
        catch_up_grace=catch_up_grace,
        timing=RaftTiming(compaction_entries=snapshot_every),
    )
    if ring:
        app = _ring_app(settings, config, f"http://{listen}", join)
    else:
        peer = Peer(config)
        service = ReplicatedService(peer)
        app = create_app(settings, service=service)

        @app.get("/api/v1/peer", tags=["peers"])
        async def peer_status() -> dict[str, Any]:
            """This peer's Raft view: leader, term, commit index, members, refusals."""
            return peer.status()

    uv_config = uvicorn_config(settings, app)
    # The stdlib loop: uvloop never completes loop.start_tls on an accepted, paused transport
    # (tls.Tunnels takes incoming peer connections over that way), seen with uvloop 0.23.
    uv_config.loop = "asyncio"
    server = house_server(uv_config, banner=f"peer {peer_listen} members {' '.join(members)}")
    # The API port is bound before the peer starts: the peer's tunnels bind ports the kernel
    # picks, and one of those could otherwise take the API port first (seen once, as a peer
    # that exited with "address already in use").
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {listen}: {exc.strerror}") from None
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(1)


def _ring_app(settings: Any, config: PeerConfig, api_url: str, join: list[str]) -> Any:
    """The server app of a ring peer (p2p/groups.py): its service routes each write to its
    group, and the forwarder sends requests about other groups' auctions to their members."""
    from auctionhouse.p2p.forward import RingForwarder, RingService
    from auctionhouse.p2p.groups import RingConfig, RingPeer
    from auctionhouse.server.app import create_app

    peer = RingPeer(
        RingConfig(
            data=config.data,
            address=config.peer_address,
            api_url=api_url,
            seeds=tuple(join),
            house=config.house,
            timing=config.timing,
            group_size=config.group_size,
            replace_after=config.replace_after,
        )
    )
    app = create_app(settings, service=RingService(peer))

    @app.get("/api/v1/peer", tags=["peers"])
    async def peer_status() -> dict[str, Any]:
        """This ring peer's view: the directory, and each of its groups' Raft status."""
        return peer.status()

    @app.get("/api/v1/peer/directory", tags=["peers"])
    async def peer_directory() -> dict[str, Any]:
        """The ring's directory as this peer knows it: peers, groups and their members now,
        and where each auction lives (``{"auctions": {id: group}}``)."""
        await peer.refresh_directory()
        return peer.directory.as_json() | {"auctions": dict(peer.directory.where)}

    app.add_middleware(RingForwarder, peer=peer)
    peer.app = app  # members' forwarded requests run on the whole app (p2p/channel.py)
    return app
