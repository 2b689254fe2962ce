"""Replicated auctions on a 3-peer Raft group (real ``auctionhouse peer`` processes on loopback).

Prints one JSON object:

- ``one_peer`` / ``one_follower`` / ``all_peers``: ``--bidders`` clients, each on one WebSocket
  and its own English auction, send ``--per-client`` signed bids (signed as sent) with
  ``--window`` in flight, through the leader, through one follower (``--follower 0`` skips it)
  or spread over the three: acknowledged bids/s, ack latency p50/p99 (ms), the
  peers' CPU per bid and cores used, refusals by code; ``lost``: acknowledged bids missing from
  each replica's own ledger file (goal: >= 2,000/s, 0 lost). ``--http-seconds`` adds the same
  over HTTP (one bid in flight per client).
- ``failover``: ``--kills`` times, kill -9 the leader and time until a survivor acknowledges a
  bid again (s, p50/p99/max; goal p99 < 2 s); the killed peer is restarted and catches up
  before the next kill.
- ``catch_up``: the log is filled to ``--events`` commands, then a new peer joins: seconds until
  it has applied everything and audited its own ledger.
- ``in_process``: the three peers in this one process (Raft, TLS tunnels, replicas; no HTTP, no
  process hops): bids/s, CPU per bid for all three replicas, and the share of a core it got.
- ``rebuild``: a newcomer's own share of a catch-up without the network, for
  ``--rebuild-events`` signed bids: rebuild the house from a snapshot of commands (signatures
  verified again) and audit the ledger.

The machine's load average is printed with the figures: on a shared machine the peers get a
slice of the CPU, and their CPU per bid is the figure that carries over.

Usage: python bench/bench_p2p.py [--bidders 16] [--per-client 400] [--window 32] [--kills 10]
       [--events 100000] [--rebuild-events 100000] [--in-process 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # free_ports
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "p2p"))
from peer_helpers import Bidder, Cluster, PeerProcess, free_port, wait_for


def process_cpu(pid: int, children: bool = True) -> float:
    """User + system CPU seconds of process ``pid`` and (``children``) of its live child
    processes, such as a peer's signature worker (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split() if children else []
    except OSError:
        return 0.0
    return total + sum(process_cpu(int(kid), children=False) for kid in kids)


def cpu_seconds(peers: list[PeerProcess], workers: bool = True) -> float:
    """CPU seconds the peers' processes (and, ``workers``, their signature workers) used."""
    return sum(
        process_cpu(peer.proc.pid, children=workers)
        for peer in peers
        if peer.proc is not None and peer.proc.poll() is None
    )


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Load:
    def __init__(self, cluster: Cluster, bidders: int) -> None:
        url = cluster.peers[0].url
        self.cluster = cluster
        self.seller = Bidder(url, "seller")
        self.bidders = [Bidder(cluster.peers[i % 3].url, f"b{i}") for i in range(bidders)]
        self.auctions = [
            self.seller.create_auction(
                url,
                {"starting_price": 1, "min_increment": 1, "duration": 3600, "signed_bids": True},
            )
            for _ in self.bidders
        ]
        # The last amount each bidder sent: every bid is higher than all sent before, so a
        # bid whose ack was lost (committed anyway) never blocks the next ones.
        self.next_amount = [0 for _ in self.bidders]
        before, t0 = cpu_seconds(cluster.peers), time.monotonic()
        time.sleep(3.0)  # measuring the peers' idle CPU (ticks, heartbeats), not waiting on them
        self.idle_cores = (cpu_seconds(cluster.peers) - before) / (time.monotonic() - t0)
        self.acked: list[tuple[str, int]] = []  # (auction, amount)

    async def run(self, urls: list[str], seconds: float) -> dict[str, Any]:
        latencies: list[float] = []
        errors: dict[str, int] = {}
        end = time.monotonic() + seconds

        async def client(i: int, http: httpx.AsyncClient) -> None:
            bidder, auction = self.bidders[i], self.auctions[i]
            url = urls[i % len(urls)]
            while time.monotonic() < end:
                amount = self.next_amount[i] = self.next_amount[i] + 1
                body = bidder.signed(auction, amount)
                started = time.perf_counter()
                try:
                    r = await http.post(
                        f"{url}/api/v1/auctions/{auction}/bids", json=body, headers=bidder.headers
                    )
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                if r.status_code == 201:
                    latencies.append(time.perf_counter() - started)
                    self.acked.append((auction, amount))
                else:
                    code = r.json()["error"]["code"]
                    errors[code] = errors.get(code, 0) + 1

        started = time.monotonic()
        cpu_before = cpu_seconds(self.cluster.peers)
        limits = httpx.Limits(max_connections=len(self.bidders) * 2)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            await asyncio.gather(*(client(i, http) for i in range(len(self.bidders))))
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(self.cluster.peers) - cpu_before
        busy = max(0.0, cpu - self.idle_cores * elapsed)
        return {
            # CPU the three peers spent per acknowledged bid, all of it and beyond their idle
            # ticking: what a bid costs whatever else the machine runs (a loaded machine
            # starves the peers; 1000 / marginal = bids/s that one free core would carry).
            "peers_cpu_ms_per_bid": round(1000 * cpu / max(1, len(latencies)), 2),
            "peers_marginal_cpu_ms_per_bid": round(1000 * busy / max(1, len(latencies)), 2),
            "acked": len(latencies),
            "bids_per_s": round(len(latencies) / elapsed, 1),
            "ack_p50_ms": round(pct(latencies, 0.5) * 1000, 2),
            "ack_p99_ms": round(pct(latencies, 0.99) * 1000, 2),
            "refused": errors,
        }

    async def run_ws(self, urls: list[str], per_client: int, window: int) -> dict[str, Any]:
        """Each bidder, on one WebSocket to its peer, sends ``per_client`` pre-signed bids on
        its auction with ``window`` in flight (the peer batches what arrives together into one
        Raft entry). Amounts and nonces rise in send order; an ack is counted once committed
        and applied on the answering replica."""
        import websockets
        from nacl.signing import SigningKey

        from auctionhouse.house import bid_message, sign

        latencies: list[float] = []
        errors: dict[str, int] = {}
        plans: list[list[int]] = []  # the amounts each bidder sends, in order
        for i in range(len(self.bidders)):
            first = self.next_amount[i] + 1
            self.next_amount[i] += per_client
            plans.append(list(range(first, first + per_client)))

        def frame(i: int, amount: int) -> str:
            """Signed just before it is sent (its timestamp is checked against skew)."""
            bidder = self.bidders[i]
            key: SigningKey = bidder.key
            bidder.nonce += 1
            ts = time.time()
            message = bid_message(self.auctions[i], bidder.name, amount, bidder.nonce, ts, None)
            body = {
                "op": "bid",
                "id": amount,
                "auction": self.auctions[i],
                "amount": amount,
                "nonce": bidder.nonce,
                "ts": ts,
                "signature": sign(key, message),
            }
            return json.dumps(body)

        async def client(i: int) -> None:
            bidder, amounts = self.bidders[i], plans[i]
            url = urls[i % len(urls)].replace("http", "ws") + "/api/v1/ws"
            sent: dict[int, float] = {}
            # No keepalive pings: a peer busy compacting its log may answer one late, and a
            # lost bid is what this bench looks for, not a slow pong.
            async with websockets.connect(url, max_queue=None, ping_interval=None) as ws:
                token = bidder.headers["Authorization"].split(" ", 1)[1]
                await ws.send(json.dumps({"op": "auth", "token": token}))
                await ws.recv()
                todo = list(reversed(amounts))
                for _ in range(min(window, len(todo))):
                    amount = todo.pop()
                    sent[amount] = time.perf_counter()
                    await ws.send(frame(i, amount))
                answered = 0
                while answered < len(amounts):
                    message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    kind = message.get("type")
                    if kind not in ("ack", "error") or message.get("id") not in sent:
                        continue
                    answered += 1
                    amount = message["id"]
                    at = sent.pop(amount)
                    if kind == "ack":
                        latencies.append(time.perf_counter() - at)
                        self.acked.append((self.auctions[i], amount))
                    else:
                        code = message["error"]["code"]
                        errors[code] = errors.get(code, 0) + 1
                    if todo:
                        amount = todo.pop()
                        sent[amount] = time.perf_counter()
                        await ws.send(frame(i, amount))

        missed_before = self.missed()
        started = time.monotonic()
        cpu_before, client_before = cpu_seconds(self.cluster.peers), time.process_time()
        own_before = cpu_seconds(self.cluster.peers, workers=False)
        await asyncio.gather(*(client(i) for i in range(len(self.bidders))))
        elapsed = time.monotonic() - started
        missed = self.missed() - missed_before
        cpu = cpu_seconds(self.cluster.peers) - cpu_before
        own = cpu_seconds(self.cluster.peers, workers=False) - own_before
        client_cpu = time.process_time() - client_before
        return {
            "transport": "websocket",
            "clients": len(self.bidders),
            "in_flight_per_client": window,
            "acked": len(latencies),
            "bids_per_s": round(len(latencies) / elapsed, 1),
            "ack_p50_ms": round(pct(latencies, 0.5) * 1000, 2),
            "ack_p99_ms": round(pct(latencies, 0.99) * 1000, 2),
            # All three peers with their signature workers; then the peers' own processes
            # (event loop, Raft, replicas: the serial part), the workers' share being the rest.
            "peers_cpu_ms_per_bid": round(1000 * cpu / max(1, len(latencies)), 3),
            "peers_loop_cpu_ms_per_bid": round(1000 * own / max(1, len(latencies)), 3),
            "peers_cpu_cores": round(cpu / elapsed, 2),
            # The bench's own process (signing each bid, its WebSockets): one core at most.
            "client_cpu_ms_per_bid": round(1000 * client_cpu / max(1, len(latencies)), 3),
            "client_cpu_cores": round(client_cpu / elapsed, 2),
            "seconds": round(elapsed, 2),
            # Replicas' applies of a signed bid whose verdict was not back from their worker
            # (verified on the loop: twice in all), over the three replicas' applies.
            "verified_again_share": round(missed / max(1, 3 * len(latencies)), 3),
            "refused": errors,
        }

    def missed(self) -> int:
        """Signed bids applied without their worker's verdict, summed over the peers."""
        return sum(p.status().get("verdicts_missed", 0) for p in self.cluster.alive())

    def one_bid(self, peer: PeerProcess) -> bool:
        """One signed bid by the first bidder through ``peer``; whether it was acknowledged."""
        amount = self.next_amount[0] = self.next_amount[0] + 1
        r = self.bidders[0].bid(peer.url, self.auctions[0], amount, timeout=10)
        if r.status_code != 201:
            return False
        self.acked.append((self.auctions[0], amount))
        return True

    def lost(self, peer: PeerProcess) -> int:
        """Acknowledged bids missing from ``peer``'s own ledger file (read directly: the API
        hides the amount of a leader raising its own bid)."""
        import sqlite3

        import orjson

        present: set[tuple[str, int]] = set()
        with sqlite3.connect(f"file:{peer.data / 'house.db'}?mode=ro", uri=True) as db:
            for auction, body in db.execute("SELECT auction_id, body FROM ledger_events"):
                event = orjson.loads(body)
                if event.get("type") == "BidPlaced":
                    present.add((auction, event["amount"]))
        return sum(1 for bid in self.acked if bid not in present)


def failover(cluster: Cluster, load: Load, kills: int) -> dict[str, Any]:
    """Kill -9 the leader ``kills`` times: seconds until a survivor names a new leader (polled
    on a thread), and until a bid through a survivor is acknowledged again."""
    import threading

    times: list[float] = []
    elected: list[float] = []
    for _ in range(kills):
        leader = cluster.wait_leader()
        survivor = next(p for p in cluster.peers if p is not leader)
        seen: list[float] = []

        def watch(
            s: PeerProcess = survivor, gone: str = leader.address, seen: list[float] = seen
        ) -> None:
            end = time.monotonic() + 60
            while time.monotonic() < end and not seen:
                try:
                    view = s.status()
                except httpx.HTTPError:
                    continue
                if view["leader"] not in (None, gone):
                    seen.append(time.monotonic())
                time.sleep(0.02)  # polling a real process, bounded above

        leader.kill()
        killed_at = time.monotonic()
        watcher = threading.Thread(target=watch)
        watcher.start()
        wait_for("a bid acknowledged after the kill", lambda s=survivor: load.one_bid(s), 30)
        times.append(time.monotonic() - killed_at)
        watcher.join(timeout=60)
        if seen:
            elected.append(seen[0] - killed_at)
        leader.start(cluster.members)
        leader.wait_up(deadline=600)  # a restart rebuilds the replica first (minutes if loaded)
        cluster.wait_applied(cluster.peers, deadline=600)
    return {
        "kills": kills,
        "p50_s": round(pct(times, 0.5), 3),
        "p99_s": round(pct(times, 0.99), 3),
        "max_s": round(max(times), 3),
        "seconds": [round(t, 3) for t in times],
        "new_leader_seen_s": [round(t, 3) for t in elected],
        "goal_p99_s": 2.0,
    }


def catch_up(cluster: Cluster, load: Load, events: int, seconds_cap: float) -> dict[str, Any]:
    status = cluster.peers[0].status()
    have = status["commands"]
    started = time.monotonic()
    urls = [p.url for p in cluster.peers]
    while have < events and time.monotonic() - started < seconds_cap:
        per_client = max(1, min(500, (events - have) // len(load.bidders) + 1))
        asyncio.run(load.run_ws(urls, per_client, 32))
        have = cluster.peers[0].status()["commands"]
    newcomer = cluster.new_peer()
    cluster.peers.append(newcomer)
    t0 = time.monotonic()
    newcomer.start(cluster.members[:3])
    newcomer.wait_up(deadline=900)
    wait_for("the newcomer to verify its copy", lambda: newcomer.status()["verified"], 900)
    elapsed = time.monotonic() - t0
    applied = newcomer.status()["commands"]
    return {
        "commands": applied,
        "events_in_ledger": len(newcomer.ledger_rows()),
        "seconds": round(elapsed, 2),
        "commands_per_s": round(applied / elapsed, 1),
        "lost_on_newcomer": load.lost(newcomer),
    }


def rebuild(events: int, workers: int = 1) -> dict[str, Any]:
    """A newcomer's own work for ``events`` commands (no network): rebuild the house from a
    snapshot of signed-bid commands (every signature verified again, ahead on ``workers``
    signature worker processes, 0: on the applying thread), then audit the ledger."""
    from nacl.signing import SigningKey

    from auctionhouse.house import AuctionHouse, HouseConfig, bid_message, sign
    from auctionhouse.ledger import audit_database
    from auctionhouse.p2p.codec import encode
    from auctionhouse.p2p.machine import HouseMachine, ReplicaClock

    t0 = 1_800_000_000.0
    keys = [SigningKey.generate() for _ in range(2)]
    config = {"bidders": 2, "auctions": max(1, events // 1000)}
    blobs = [
        encode(
            f"a{i}",
            t0,
            "account",
            {"name": name, "password_hash": "x", "role": "user", "public_key": pk},
        )
        for i, (name, pk) in enumerate(
            [("seller", None)]
            + [(f"b{j}", k.verify_key.encode().hex()) for j, k in enumerate(keys)]
        )
    ]
    rules = {"starting_price": 1, "min_increment": 1, "duration": 10**6, "signed_bids": True}
    for a in range(config["auctions"]):
        blobs.append(
            encode(
                f"c{a}",
                t0,
                "create_auction",
                {
                    "seller_id": "seller",
                    "item_name": "lot",
                    "method": "english",
                    "rules": rules,
                    "description": "",
                    "auction_id": None,
                },
            )
        )
    nonce = [0, 0]
    for n in range(events):
        aid, j = str(n % config["auctions"] + 1), (n // config["auctions"]) % 2
        amount = n // config["auctions"] + 1
        ts = t0 + 1 + n * 1e-3
        nonce[j] += 1
        sig = sign(keys[j], bid_message(aid, f"b{j}", amount, nonce[j], ts, None))
        blobs.append(
            encode(
                f"x{n}",
                ts,
                "place_bid",
                {
                    "bidder_id": f"b{j}",
                    "auction_id": aid,
                    "amount": amount,
                    "proxy_max": None,
                    "nonce": nonce[j],
                    "ts": ts,
                    "signature": sig,
                },
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "house.db"
        house_config = HouseConfig.for_tests(
            account_rate=1e9, account_burst=1e9, verify_workers=workers
        )

        def open_house(clock: ReplicaClock) -> AuctionHouse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return AuctionHouse.open(path, config=house_config, clock=clock)

        machine = HouseMachine(open_house)
        started, cpu = time.perf_counter(), time.process_time()
        machine._deserialize(blobs)
        applied, cpu = time.perf_counter() - started, time.process_time() - cpu
        events_in_ledger = machine.house.ledger.store.count()
        machine.house.close()
        started = time.perf_counter()
        report = audit_database(path)
        audited = time.perf_counter() - started
    return {
        "verify_workers": workers,
        "commands": len(blobs),
        "events_in_ledger": events_in_ledger,
        "apply_s": round(applied, 2),
        # CPU of the applying process alone (a worker's verifies are in its own process)
        "apply_cpu_s": round(cpu, 2),
        "audit_s": round(audited, 2),
        "audit_ok": report.ok,
        "events_per_s": round(events_in_ledger / (applied + audited), 1),
    }


def in_process(bidders: int, seconds: float) -> dict[str, Any]:
    """Three peers in this one process (their Raft, TLS tunnels and replicas, no HTTP):
    signed bids proposed through the leader; bids/s and CPU per bid for all three replicas."""
    from nacl.signing import SigningKey

    from auctionhouse.house import HouseConfig, bid_message, sign
    from auctionhouse.p2p.peer import Peer, PeerConfig
    from auctionhouse.p2p.tls import init_cluster, issue_peer

    async def run(root: Path) -> dict[str, Any]:
        init_cluster(root / "cluster")
        ports = [free_port() for _ in range(3)]
        members = tuple(f"127.0.0.1:{p}" for p in ports)
        house = HouseConfig.for_tests(
            account_rate=1e9, account_burst=1e9, max_concurrent_auctions=10**6
        )
        peers = []
        for i, member in enumerate(members):
            issue_peer(root / "cluster", root / f"p{i}", f"p{i}")
            peer = Peer(
                PeerConfig(data=root / f"p{i}", peer_address=member, members=members, house=house)
            )
            await peer.start()
            peers.append(peer)
        try:
            leader = None
            for _ in range(400):
                leader = next((p for p in peers if p.status()["is_leader"]), None)
                if leader is not None:
                    break
                await asyncio.sleep(0.05)
            assert leader is not None, "no leader"
            keys = [SigningKey.generate() for _ in range(bidders)]
            await leader.propose(
                "account",
                {"name": "seller", "password_hash": "x", "role": "user", "public_key": None},
            )
            rules = {"starting_price": 1, "min_increment": 1, "duration": 3600, "signed_bids": True}
            for i, key in enumerate(keys):
                await leader.propose(
                    "account",
                    {
                        "name": f"b{i}",
                        "password_hash": "x",
                        "role": "user",
                        "public_key": key.verify_key.encode().hex(),
                    },
                )
                await leader.propose(
                    "create_auction",
                    {
                        "seller_id": "seller",
                        "item_name": "lot",
                        "method": "english",
                        "rules": rules,
                        "description": "",
                        "auction_id": None,
                    },
                )
            latencies: list[float] = []
            end = time.monotonic() + seconds

            async def client(i: int) -> None:
                n = 0
                while time.monotonic() < end:
                    n += 1
                    ts = time.time()
                    sig = sign(keys[i], bid_message(str(i + 1), f"b{i}", n, n, ts, None))
                    started = time.perf_counter()
                    await leader.propose(
                        "place_bid",
                        {
                            "bidder_id": f"b{i}",
                            "auction_id": str(i + 1),
                            "amount": n,
                            "proxy_max": None,
                            "nonce": n,
                            "ts": ts,
                            "signature": sig,
                        },
                    )
                    latencies.append(time.perf_counter() - started)

            def workers_cpu() -> float:
                procs = [p.verifier._proc for p in peers if p.verifier is not None]
                return sum(process_cpu(proc.pid, False) for proc in procs if proc is not None)

            t0, cpu0 = time.monotonic(), time.process_time()
            w0 = workers_cpu()
            await asyncio.gather(*(client(i) for i in range(bidders)))
            elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
            worker_cpu = workers_cpu() - w0
            return {
                "bids_per_s": round(len(latencies) / elapsed, 1),
                # the three peers' loop (this process), then their signature workers'
                "cpu_ms_per_bid_3_replicas": round(1000 * cpu / max(1, len(latencies)), 3),
                "workers_cpu_ms_per_bid": round(1000 * worker_cpu / max(1, len(latencies)), 3),
                "cpu_share_of_one_core": round(cpu / elapsed, 2),
                "ack_p50_ms": round(pct(latencies, 0.5) * 1000, 2),
                "ack_p99_ms": round(pct(latencies, 0.99) * 1000, 2),
            }
        finally:
            for peer in peers:
                await peer.stop()

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(run(Path(tmp)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bidders", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--per-client", type=int, default=400, help="WebSocket bids per client (0: skip)"
    )
    parser.add_argument("--window", type=int, default=32, help="WebSocket bids in flight each")
    parser.add_argument("--follower", type=int, default=1, help="1: also bid through a follower")
    parser.add_argument("--http-seconds", type=float, default=0, help="also bid over HTTP")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--fill-cap", type=float, default=600.0, help="max seconds to fill the log")
    parser.add_argument("--in-process", type=int, default=1, help="1: also run 3 peers in-process")
    parser.add_argument(
        "--rebuild-events",
        type=int,
        default=100_000,
        help="signed-bid commands a newcomer rebuilds from (in-process; 0 skips)",
    )
    args = parser.parse_args()
    out: dict[str, Any] = {"peers": 3, "bidders": args.bidders, "load_average": os.getloadavg()}
    if args.rebuild_events:
        # With and without the signature worker, one after the other (the machine's load
        # moves between runs: compare within one invocation).
        with_worker = rebuild(args.rebuild_events, workers=1)
        in_line = rebuild(args.rebuild_events, workers=0)
        out["rebuild"] = {
            "worker": with_worker,
            "in_line": in_line,
            "speedup": round(with_worker["events_per_s"] / in_line["events_per_s"], 2),
        }
        print(json.dumps({"rebuild": out["rebuild"]}), file=sys.stderr, flush=True)
    if args.in_process:
        out["in_process"] = in_process(args.bidders, args.seconds)
        print(json.dumps({"in_process": out["in_process"]}), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp)).start()
        try:
            load = Load(cluster, args.bidders)
            out["peers_idle_cpu_cores"] = round(load.idle_cores, 3)
            urls = [p.url for p in cluster.peers]
            ws = (args.per_client, args.window)
            out["goal_bids_per_s"] = 2000
            if args.per_client:
                terms = [p.status()["term"] for p in cluster.peers]
                # Through the group's leader, then through one follower (its bids forwarded
                # to the leader), then spread over the three: which peer takes the bids changes
                # the cost per bid (a follower forwards each entry), so each is measured.
                leader = cluster.wait_leader()
                follower = next(p for p in cluster.peers if p is not leader)
                out["one_peer"] = asyncio.run(load.run_ws([leader.url], *ws))
                out["one_peer"]["through"] = "leader"
                if args.follower:
                    out["one_follower"] = asyncio.run(load.run_ws([follower.url], *ws))
                    out["one_follower"]["through"] = "follower"
                out["all_peers"] = asyncio.run(load.run_ws(urls, *ws))
                # Elections under load (a stalled peer deposing a live leader): the Raft
                # term's growth, and the pre-vote rounds that started no election.
                views = [p.status() for p in cluster.peers]
                out["churn_under_load"] = {
                    "terms_gained": max(v["term"] for v in views) - max(terms),
                    "pre_vote_rounds": sum(v.get("pre_vote_rounds", 0) for v in views),
                    "elections_started": sum(v.get("elections_started", 0) for v in views),
                }
                stages = ("one_peer", "one_follower", "all_peers")
                print(json.dumps({k: out[k] for k in stages if k in out}), file=sys.stderr)
            if args.http_seconds:
                out["one_peer_http"] = asyncio.run(load.run(urls[:1], args.http_seconds))
                out["all_peers_http"] = asyncio.run(load.run(urls, args.http_seconds))
            cluster.wait_applied(cluster.peers)
            out["lost"] = {p.name: load.lost(p) for p in cluster.peers}
            stages = [
                ("failover", args.kills, lambda: failover(cluster, load, args.kills)),
                (
                    "catch_up",
                    args.events,
                    lambda: catch_up(cluster, load, args.events, args.fill_cap),
                ),
            ]
            for name, wanted, stage in stages:
                if not wanted:
                    continue
                try:
                    out[name] = stage()
                except Exception as exc:  # the other figures are still printed
                    out[name] = {"error": f"{type(exc).__name__}: {exc}"}
                print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
        finally:
            cluster.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
