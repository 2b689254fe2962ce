"""``auctionhouse peer`` (run a peer) and ``auctionhouse peer-keys`` (cluster CA, peer keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("peer")(peer)
    app.command("peer-leave")(peer_leave)
    keys = typer.Typer(help="The cluster's CA and password, and each peer's key and certificate.")
    keys.command("init")(keys_init)
    keys.command("issue")(keys_issue)
    app.add_typer(keys, name="peer-keys")


def peer(
    data: Annotated[Path, typer.Option("--data", help="The peer's directory (keys, Raft log).")],
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT of the API, WebSocket and page.")
    ],
    peer_listen: Annotated[
        str | None,
        typer.Option(
            "--peer-listen", help="HOST:PORT of the peer (TLS) port; default: the API port + 1."
        ),
    ] = None,
    join: Annotated[
        list[str] | None,
        typer.Option("--join", help="Another member's peer address HOST:PORT (repeat)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A TOML file of settings.", dir_okay=False)
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="warning, info, debug.")] = None,
    group_size: Annotated[
        int, typer.Option("--group-size", help="Replicas wanted in the group: 3 or 5.")
    ] = 3,
    replace_after: Annotated[
        float,
        typer.Option(
            "--replace-after",
            help="Seconds a member may be unreachable before the leader removes it (once"
            " another peer has joined to take its place).",
        ),
    ] = 30.0,
    snapshot_every: Annotated[
        int,
        typer.Option(
            "--snapshot-every",
            help="Raft log entries between snapshots (a newcomer is sent the latest one).",
        ),
    ] = 20_000,
    catch_up_grace: Annotated[
        float,
        typer.Option(
            "--catch-up-grace",
            help="Seconds a member that connected but never caught up (a newcomer being sent"
            " the state) may be unreachable before the leader removes it.",
        ),
    ] = 900.0,
    ring: Annotated[
        bool,
        typer.Option(
            "--ring",
            help="Groups on a ring: one replica group per peer (it and its successors), auctions"
            " spread over them, a replicated directory (docs/peers.md).",
        ),
    ] = False,
) -> None:
    """Run a peer: a whole house (API, WebSocket, page) whose auctions are replicated by Raft
    on the replica group of the members given (docs/peers.md)."""
    from auctionhouse.p2p.run import run_peer

    run_peer(
        data,
        listen,
        peer_listen,
        join or [],
        config_file=config,
        log_level=log_level,
        group_size=group_size,
        replace_after=replace_after,
        snapshot_every=snapshot_every,
        ring=ring,
        catch_up_grace=catch_up_grace,
    )


def peer_leave(
    peer: Annotated[str, typer.Argument(help="The leaving peer's peer address HOST:PORT.")],
    data: Annotated[
        Path, typer.Option("--data", help="A peer's directory (its key and certificate).")
    ],
    via: Annotated[
        str | None,
        typer.Option("--via", help="A member's peer address to ask; default: the leaving peer."),
    ] = None,
) -> None:
    """Take a peer out of a ring (`peer --ring`): its groups move to the next peers round the
    ring; stop it once `GET /api/v1/peer` shows it in no group."""
    from auctionhouse.p2p.groups import leave_ring
    from auctionhouse.p2p.peer import parse_address

    parse_address(peer)
    answer = leave_ring(data, peer, via or peer)
    typer.echo(f"{peer} left the ring; peers now: {' '.join(answer['peers'])}")


def keys_init(
    cluster_dir: Annotated[Path, typer.Argument(help="Where to keep the cluster CA (secret).")],
) -> None:
    """Create a cluster CA and the cluster password."""
    from auctionhouse.p2p.tls import init_cluster

    init_cluster(cluster_dir)
    typer.echo(f"cluster CA and password written to {cluster_dir}")


def keys_issue(
    cluster_dir: Annotated[Path, typer.Argument(help="The cluster CA's directory.")],
    data: Annotated[Path, typer.Option("--data", help="The peer's data directory.")],
    name: Annotated[str, typer.Option("--name", help="The peer's name (in its certificate).")],
) -> None:
    """Give a peer its key pair and a certificate signed by the cluster CA."""
    from auctionhouse.p2p.tls import issue_peer

    issue_peer(cluster_dir, data, name)
    typer.echo(f"peer {name}: key and certificate written to {data}")
