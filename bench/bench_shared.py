"""The shared house: durable signed bids/s with 1, 2 and 3 ``serve`` instances on one PostgreSQL,
beside one instance on SQLite; ack latency; cross-instance watcher delay.

Starts a throwaway PostgreSQL 15 cluster (fsync and synchronous_commit on; tests/pg_cluster.py)
and real ``auctionhouse serve`` processes; this process is the client. Prints one JSON object:

- ``runs``: per setup (``sqlite-1``, ``postgres-1``, ``postgres-2``, ``postgres-3``): K clients
  (one WebSocket each, spread over the instances, ``--window`` bids in flight each, each on an
  auction of its own) send pre-signed bids: accepted bids/s (every one acknowledged only once
  committed), ack latency p50/p99 (ms), the server processes' and this client's CPU seconds
  (when they are far below the wall time, the machine's load is what limits the run).
- ``watcher_delay_ms`` in each run: a bidder on instance 1 paced at ``--paced-rate`` bids/s, a
  watcher on instance 2 (on the same instance when there is one: SQLite's figure to compare):
  p50/p99 of (event at the watcher - ack at the bidder), goal p99 < 50 ms.
- ``--repeat R`` runs the setups R times in turn (the machine is shared: its load moves between
  runs); each figure is the median of its setup's runs, and ``ratios`` compare setups within
  this one invocation.
- ``goal_bids_per_s_2_instances``: 5,000.

Usage: python bench/bench_shared.py [--clients 12] [--per-client 400] [--window 16] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench_server import Bidder, children, free_port, percentile, raise_fd_limit, setup
from bench_server import cpu_seconds as cpu_split

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import pg_cluster

SERVE = [sys.executable, "-m", "auctionhouse", "serve", "--log-level", "warning"]
CONFIG = (
    "ws_send_queue = 65536\n[house]\nargon2_time_cost = 1\nargon2_memory_kib = 1024\n"
    "account_rate = 1e9\naccount_burst = 1e9\naddress_rate = 1e9\naddress_burst = 1e9\n"
    "max_pending = 100000\n"
)


def start(db: str, tmp: Path, key: Path) -> tuple[subprocess.Popen[str], str]:
    config = tmp / "bench.toml"
    config.write_text(CONFIG)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUCTIONHOUSE_")}
    env["AUCTIONHOUSE_KEY_FILE"] = str(key)
    proc = subprocess.Popen(
        [*SERVE, "--db", db, "--port", str(port), "--config", str(config)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=raise_fd_limit,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{port}"


def cpu_seconds(pid: int) -> float:
    """A server's CPU seconds: its loop, its other threads and its signature worker."""
    return sum(cpu_split(pid).values())


def postgres_cpu_seconds(cluster: pg_cluster.Cluster | None) -> float:
    """CPU seconds of the PostgreSQL server: its postmaster and every backend (the cost of the
    database per bid, which the servers' figure leaves out)."""
    if cluster is None:
        return 0.0
    try:
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return sum(cpu_seconds(p) for p in [postmaster, *children(postmaster)])


def wait_visible(urls: list[str], auctions: list[str]) -> None:
    """Every instance knows every auction (they were created on the first)."""
    deadline = time.monotonic() + 30
    for url in urls:
        for aid in auctions:
            while httpx.get(f"{url}/api/v1/auctions/{aid}").status_code != 200:
                if time.monotonic() > deadline:
                    raise SystemExit(f"auction {aid} never reached {url}")
                time.sleep(0.01)


async def saturate(
    urls: list[str],
    pids: list[int],
    clients: int,
    per_client: int,
    window: int,
    cluster: pg_cluster.Cluster | None = None,
    profile: Path | None = None,
) -> tuple[dict[str, Any], list[Bidder]]:
    bidders_setup, _ = setup(urls[0], clients)
    wait_visible(urls, [aid for *_, aid in bidders_setup])
    bidders = [
        Bidder(urls[i % len(urls)].replace("http", "ws") + "/api/v1/ws", name, token, key, aid)
        for i, (name, token, key, aid) in enumerate(bidders_setup)
    ]
    frames = [b.presign(per_client) for b in bidders]
    spies = (
        [py_spy(pid, profile / f"serve-{i}.txt") for i, pid in enumerate(pids)] if profile else []
    )
    cpu = sum(cpu_seconds(p) for p in pids)
    split = [cpu_split(p) for p in pids]
    pg_cpu = postgres_cpu_seconds(cluster)
    client_cpu = time.process_time()
    begin = time.perf_counter()
    await asyncio.gather(*(b.run(f, window, None) for b, f in zip(bidders, frames, strict=True)))
    elapsed = time.perf_counter() - begin
    pg_cpu = postgres_cpu_seconds(cluster) - pg_cpu
    for spy in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
    for spy in spies:
        spy.wait(timeout=60)
    latencies = [x for b in bidders for x in b.latencies]
    errors: dict[str, int] = {}
    for b in bidders:
        for code, n in b.errors.items():
            errors[code] = errors.get(code, 0) + n
    accepted = sum(b.accepted for b in bidders)
    return {
        "instances": len(urls),
        "clients": clients,
        "accepted": accepted,
        "errors": errors,
        "bids_per_s": round(accepted / elapsed),
        "ack_p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "ack_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "server_cpu_s": round(sum(cpu_seconds(p) for p in pids) - cpu, 2),
        # the figure the machine's load moves least: CPU the instances spent per accepted bid
        "server_cpu_us_per_bid": round(
            (sum(cpu_seconds(p) for p in pids) - cpu) / max(accepted, 1) * 1e6
        ),
        # where the servers' CPU went: event loops, other threads (the ledger writer), the
        # signature workers
        "server_cpu_us_per_bid_split": {
            part: round(
                sum(cpu_split(p)[part] - s[part] for p, s in zip(pids, split, strict=True))
                / max(accepted, 1)
                * 1e6
            )
            for part in ("loop", "threads", "workers")
        },
        "client_cpu_s": round(time.process_time() - client_cpu, 2),
        "client_cpu_us_per_bid": round((time.process_time() - client_cpu) / max(accepted, 1) * 1e6),
        "postgres_cpu_us_per_bid": round(pg_cpu / max(accepted, 1) * 1e6) if cluster else None,
        "seconds": round(elapsed, 2),
    }, bidders


def py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (``pip install py-spy``) sampling a server, subprocesses (the signature worker)
    too, until SIGINT; a collapsed-stack text file (one line per stack: frames;... count)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--threads", "--rate"]
    return subprocess.Popen(
        [*command, "200", "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def watcher_delay(urls: list[str], bidder: Bidder, bids: int, rate: float) -> dict[str, Any]:
    """``bidder`` bids on instance 1 (its auction); the watcher is on instance 2."""
    token, aid = bidder.token, bidder.auction
    frames = bidder.presign(bids)
    acked: dict[int, float] = {}
    watched: dict[int, float] = {}
    ws_url = urls[1 % len(urls)].replace("http", "ws") + "/api/v1/ws"
    async with websockets.connect(ws_url) as watcher:
        await watcher.send(json.dumps({"op": "subscribe", "auctions": [aid]}))
        while json.loads(await watcher.recv())["type"] != "subscribed":
            pass

        async def watch() -> None:
            while len(watched) < bids:
                message = json.loads(await asyncio.wait_for(watcher.recv(), 30))
                if message["type"] == "event" and message["event"]["type"] == "BidPlaced":
                    watched[message["seq"]] = time.perf_counter()

        async def bid() -> None:
            async with websockets.connect(bidder.url) as ws:
                await ws.send(json.dumps({"op": "auth", "token": token}))  # never in the URL
                await ws.recv()
                for _nonce, frame in frames:
                    await ws.send(frame)
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    assert message["type"] == "ack", message
                    acked[message["ack"]["seq"]] = time.perf_counter()
                    await asyncio.sleep(1 / rate)

        await asyncio.gather(watch(), bid())
    delays = [watched[s] - acked[s] for s in acked if s in watched]
    return {
        "bids": len(delays),
        "p50_ms": round(percentile(delays, 0.5) * 1000, 2),
        "p99_ms": round(percentile(delays, 0.99) * 1000, 2),
        "goal_p99_ms": 50,
    }


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--per-client", type=int, default=400)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--paced-bids", type=int, default=200)
    parser.add_argument("--paced-rate", type=float, default=100.0)
    parser.add_argument(
        "--setups", default="sqlite-1,postgres-1,postgres-2,postgres-3", help="which runs"
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--profile", type=Path, help="py-spy each server while saturated; profiles land here"
    )
    args = parser.parse_args()
    cluster = pg_cluster.shared()
    result: dict[str, Any] = {"runs": {}, "load_average": os.getloadavg()}
    labels = args.setups.split(",")
    samples: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            for round_ in range(args.repeat):
                for label in labels:
                    run = run_setup(cluster, tmp / f"{label}-{round_}", label, args)
                    samples[label].append(run)
                    print(json.dumps({label: run}), file=sys.stderr)
    finally:
        pg_cluster.stop_shared()
    for label, runs in samples.items():
        result["runs"][label] = median_run(runs)
    base = result["runs"].get("sqlite-1")
    if base:
        result["ratios_to_sqlite_1"] = {
            label: round(run["bids_per_s"] / base["bids_per_s"], 2)
            for label, run in result["runs"].items()
        }
    result["goal_bids_per_s_2_instances"] = 5000
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


def run_setup(
    cluster: pg_cluster.Cluster, run_dir: Path, label: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One setup's run: its servers started, saturated, a paced watcher run, stopped."""
    n = int(label.rsplit("-", 1)[1])
    run_dir.mkdir()
    key = run_dir / "house.key"
    db = str(run_dir / "house.db") if label.startswith("sqlite") else cluster.new_database("bench")
    procs, urls = [], []
    try:
        for _ in range(n):  # one at a time: the first creates the key
            proc, url = start(db, run_dir, key)
            procs.append(proc)
            urls.append(url)
        pids = [p.pid for p in procs]
        before = signed_records(db)
        pg = None if label.startswith("sqlite") else cluster
        profile = args.profile / label if args.profile else None
        run, bidders = asyncio.run(
            saturate(urls, pids, args.clients, args.per_client, args.window, pg, profile)
        )
        if before is not None:  # one signed batch record per round (decision 0014)
            rounds = (signed_records(db) or 0) - before
            run["rounds"] = rounds
            run["bids_per_round"] = round(run["accepted"] / max(rounds, 1), 1)
        run["watcher_delay_ms"] = asyncio.run(
            watcher_delay(urls, bidders[0], args.paced_bids, args.paced_rate)
        )
        return run
    finally:
        stop(procs)


def signed_records(db: str) -> int | None:
    """How many signed records a PostgreSQL ledger holds (None for SQLite)."""
    if not db.startswith("postgresql"):
        return None
    import psycopg

    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_checkpoints").fetchone()
    return int(row[0]) if row else 0


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median bids/s, with every run's bids/s beside it."""
    ordered = sorted(runs, key=lambda r: r["bids_per_s"])
    middle = dict(ordered[len(ordered) // 2])
    middle["bids_per_s_each_run"] = [r["bids_per_s"] for r in runs]
    return middle


if __name__ == "__main__":
    main()
