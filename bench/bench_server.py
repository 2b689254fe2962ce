"""The networked house under load: signed bids over WebSocket, and fan-out to many watchers.

Starts a real ``auctionhouse serve`` (SystemClock, SQLite file, fsync'd group commit) in a
subprocess; this process is the client. Prints one JSON object:

- ``verify_per_s``: bare PyNaCl Ed25519 verifies a second on one core, measured in this run,
  interleaved with the load: before every round and after the last (the server idle then).
- ``saturated``: K clients (one socket each, ``--window`` bids in flight each) send pre-signed
  bids, ``--rounds`` times: accepted bids/s, ack latency p50/p99 (ms), and each round's ratio to
  the verify rate measured right before and after it; the verdict is the median round's ratio
  (goal >= 0.5), so that one slow moment of a shared machine does not decide it.
- ``half_load``: the same clients pace their bids (open loop) at half the goal rate
  (0.25 x verify_per_s), ``--rounds`` times, and report the ack latency p50/p99 (goal: the
  median round's p99 < 20 ms).
- ``fanout``: ``--watchers`` open WebSocket watchers on one auction; one bid; seconds until
  the last watcher has the event (goal < 1 s), median of ``--fanout-rounds``.

Server CPU per accepted bid is split into the event loop (the serial part), the other threads
and the signature worker (issue 14); ``loop_ratio_to_verify`` is what the loop alone would carry
on a core of its own against one core's verifies, the figure a loaded machine does not blur.
``--verify-workers 0`` is the A/B switch (verify on the loop); ``--profile FILE`` records the
server and its worker with py-spy.

Usage: python bench/bench_server.py [--clients 8] [--bids 4000] [--rounds 3] [--watchers 5000]

The verdicts are printed to stderr, one line per goal, after the JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets
from nacl.signing import SigningKey

from auctionhouse.house import bid_message, sign

# The tests' port helper (tests/free_ports.py): outside the ephemeral range, locked per
# process; a bind-0 pick could be taken by another socket before the server binds it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from free_ports import free_port

PASSWORD = "correct horse battery"
SERVE = [sys.executable, "-m", "auctionhouse", "serve", "--log-level", "warning"]


def verify_rate(seconds: float = 1.0) -> tuple[float, float]:
    """Verifies a second of wall time and a second of this thread's CPU."""
    key = SigningKey.generate()
    message = bid_message("1", "bidder", 12345, 1, time.time())
    signature = key.sign(message).signature
    verify_key = key.verify_key
    n = 0
    start, cpu = time.perf_counter(), time.thread_time()
    while time.perf_counter() - start < seconds:
        for _ in range(500):
            verify_key.verify(message, signature)
        n += 500
    return n / (time.perf_counter() - start), n / (time.thread_time() - cpu)


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_server(tmp: Path, verify_workers: int | None) -> tuple[subprocess.Popen[str], str]:
    config = tmp / "bench.toml"
    config.write_text(
        "ws_send_queue = 65536\nws_send_buffer_bytes = 67108864\n"
        # thousands of watchers from one loopback address: no connection caps here
        "max_connections = 0\nmax_connections_per_address = 0\n"
        "[house]\nargon2_time_cost = 1\nargon2_memory_kib = 1024\n"
        "account_rate = 1e9\naccount_burst = 1e9\naddress_rate = 1e9\naddress_burst = 1e9\n"
        "max_pending = 100000\n"
        + ("" if verify_workers is None else f"verify_workers = {verify_workers}\n")
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            *SERVE,
            "--db",
            str(tmp / "bench.db"),
            "--port",
            str(port),
            "--config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=raise_fd_limit,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/v1/time").status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("the server did not answer")


def setup(url: str, clients: int) -> tuple[list[tuple[str, str, SigningKey, str]], str]:
    """K signing bidders, each with an English auction of its own; a seller's token."""
    out = []
    with httpx.Client(base_url=url, timeout=30) as http:

        def account(name: str, key: SigningKey | None) -> str:
            body: dict[str, Any] = {"name": name, "password": PASSWORD}
            if key is not None:
                body["public_key"] = key.verify_key.encode().hex()
            http.post("/api/v1/accounts", json=body).raise_for_status()
            r = http.post("/api/v1/sessions", json={"name": name, "password": PASSWORD})
            return str(r.json()["token"])

        seller = account("seller", None)
        for i in range(clients):
            key = SigningKey.generate()
            token = account(f"bidder{i}", key)
            r = http.post(
                "/api/v1/auctions",
                json={
                    "item": {"name": f"lot {i}"},
                    "method": "english",
                    "rules": {"duration": 3600, "signed_bids": True},
                },
                headers={"Authorization": f"Bearer {seller}"},
            )
            out.append((f"bidder{i}", token, key, r.json()["id"]))
    return out, seller


class Bidder:
    """One socket; bids pre-signed before the clock starts (the server's work is measured)."""

    def __init__(self, url: str, name: str, token: str, key: SigningKey, auction: str) -> None:
        self.url, self.name, self.token, self.key, self.auction = url, name, token, key, auction
        self.amount = 0
        self.nonce = 0
        self.latencies: list[float] = []
        self.accepted = 0
        self.errors: dict[str, int] = {}

    def presign(self, n: int) -> list[tuple[int, str]]:
        frames = []
        ts = time.time()
        for _ in range(n):
            self.amount += 1
            self.nonce += 1
            message = bid_message(self.auction, self.name, self.amount, self.nonce, ts)
            frames.append(
                (
                    self.nonce,
                    json.dumps(
                        {
                            "op": "bid",
                            "id": self.nonce,
                            "auction": self.auction,
                            "amount": self.amount,
                            "nonce": self.nonce,
                            "ts": ts,
                            "signature": sign(self.key, message),
                        }
                    ),
                )
            )
        return frames

    async def run(self, frames: list[tuple[int, str]], window: int, interval: float | None) -> None:
        """Closed loop (``window`` in flight) or open loop (one bid every ``interval`` s)."""
        sent: dict[int, float] = {}
        pending: set[asyncio.Future[None]] = set()
        async with websockets.connect(self.url, max_queue=None) as ws:
            await ws.send(json.dumps({"op": "auth", "token": self.token}))
            await ws.recv()  # auth
            done = asyncio.Event()
            expected = len(frames)
            answered = 0

            async def reader() -> None:
                nonlocal answered
                async for raw in ws:
                    message = orjson.loads(raw)  # the client's CPU is the server's loss
                    kind = message.get("type")
                    if kind not in ("ack", "error"):
                        continue
                    at = sent.pop(message["id"], None)
                    if at is not None:
                        self.latencies.append(time.perf_counter() - at)
                    if kind == "ack":
                        self.accepted += 1
                    else:
                        code = message["error"]["code"]
                        self.errors[code] = self.errors.get(code, 0) + 1
                    answered += 1
                    if answered >= expected:
                        done.set()
                        return
                    if interval is None and frames_left:
                        send_next()

            frames_left = list(reversed(frames))

            def send_next() -> None:
                bid_id, frame = frames_left.pop()
                sent[bid_id] = time.perf_counter()
                sending = asyncio.ensure_future(ws.send(frame))
                pending.add(sending)
                sending.add_done_callback(pending.discard)

            task = asyncio.create_task(reader())
            if interval is None:
                for _ in range(min(window, len(frames_left))):
                    send_next()
            else:
                start = time.perf_counter()
                for i in range(len(frames)):
                    delay = start + i * interval - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    send_next()
            await asyncio.wait_for(done.wait(), timeout=120)
            task.cancel()


def cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU of a server (Linux /proc): its main thread (the event loop), its
    other threads (ledger writer, ...) and its live children (the signature worker)."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(path: Path) -> float:
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    loop = stat(Path(f"/proc/{pid}/task/{pid}/stat"))
    return {
        "loop": loop,
        "threads": stat(Path(f"/proc/{pid}/stat")) - loop,
        "workers": sum(stat(Path(f"/proc/{child}/stat")) for child in children(pid)),
    }


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def median_round(rounds: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The round whose ``key`` is the median (the lower middle one of an even count)."""
    ordered = sorted(rounds, key=lambda r: r[key])
    return ordered[(len(ordered) - 1) // 2]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(
    pid: int, bidders: list[Bidder], per_client: int, window: int, rate: float | None
) -> dict[str, Any]:
    batches = [b.presign(per_client) for b in bidders]
    for b in bidders:
        b.latencies.clear()
        b.accepted = 0
        b.errors = {}
    interval = None if rate is None else len(bidders) / rate
    server_cpu = cpu_seconds(pid)
    client_cpu = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(
        *(b.run(f, window, interval) for b, f in zip(bidders, batches, strict=True))
    )
    elapsed = time.perf_counter() - start
    cpu_after = cpu_seconds(pid)
    parts = {k: cpu_after[k] - v for k, v in server_cpu.items()}
    client_cpu = time.process_time() - client_cpu
    latencies = [x for b in bidders for x in b.latencies]
    errors: dict[str, int] = {}
    for b in bidders:
        for code, n in b.errors.items():
            errors[code] = errors.get(code, 0) + n
    accepted = sum(b.accepted for b in bidders)
    return {
        "clients": len(bidders),
        "bids": per_client * len(bidders),
        "accepted": accepted,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "accepted_per_s": round(accepted / elapsed, 1),
        "ack_ms_p50": round(percentile(latencies, 0.50) * 1000, 3),
        "ack_ms_p99": round(percentile(latencies, 0.99) * 1000, 3),
        # CPU the server spent per accepted bid (all threads): robust to a busy machine.
        "server_cpu_us_per_bid": round(1e6 * sum(parts.values()) / max(1, accepted), 1),
        # The event loop is the serial part: on a free core it carries 1e6 / loop us bids/s.
        **{
            f"server_{k}_cpu_us_per_bid": round(1e6 * v / max(1, accepted), 1)
            for k, v in parts.items()
        },
        # The load generator shares the machine: what it spent is CPU the server did not get.
        "client_cpu_us_per_bid": round(1e6 * client_cpu / max(1, accepted), 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


async def wait_event(ws: Any, amount: int, arrived: list[float]) -> None:
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "event" and message["event"].get("amount") == amount:
            arrived.append(time.perf_counter())
            return


async def fanout(url: str, watchers: int, seller_token: str, rounds: int) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://") + "/api/v1/ws"
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        headers = {"Authorization": f"Bearer {seller_token}"}
        r = await http.post(
            "/api/v1/auctions",
            json={"item": {"name": "fan-out"}, "method": "english", "rules": {"duration": 3600}},
            headers=headers,
        )
        auction = r.json()["id"]
        # Two bidders take turns: a leader raising its own bid only raises its secret maximum,
        # an event whose amount the watchers are not shown.
        tokens = []
        for name in ("fan", "fan2"):
            await http.post("/api/v1/accounts", json={"name": name, "password": PASSWORD})
            session = await http.post("/api/v1/sessions", json={"name": name, "password": PASSWORD})
            tokens.append(session.json()["token"])

    sockets: list[Any] = []
    opened = time.perf_counter()

    async def watcher() -> Any:
        ws = await websockets.connect(ws_url, max_queue=None, open_timeout=60)
        await ws.send(json.dumps({"op": "subscribe", "auctions": [auction]}))
        while json.loads(await ws.recv())["type"] != "subscribed":
            pass
        return ws

    for start in range(0, watchers, 250):
        batch = await asyncio.gather(*(watcher() for _ in range(min(250, watchers - start))))
        sockets.extend(batch)
    open_seconds = time.perf_counter() - opened

    times = []
    async with websockets.connect(ws_url) as one, websockets.connect(ws_url) as other:
        bidders = [one, other]
        for bidder, token in zip(bidders, tokens, strict=True):
            await bidder.send(json.dumps({"op": "auth", "token": token}))
            await bidder.recv()
        for amount in range(1, rounds + 1):
            arrived = []

            waiting = [asyncio.create_task(wait_event(ws, amount, arrived)) for ws in sockets]
            await asyncio.sleep(0.2)  # every waiter is parked in recv()
            sent = time.perf_counter()
            bidder = bidders[amount % 2]
            await bidder.send(json.dumps({"op": "bid", "auction": auction, "amount": amount}))
            await asyncio.wait_for(asyncio.gather(*waiting), timeout=60)
            times.append(max(arrived) - sent)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "watchers": watchers,
        "open_seconds": round(open_seconds, 2),
        "last_delivery_s": round(statistics.median(times), 4),
        "rounds": [round(t, 4) for t in times],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--bids", type=int, default=4000, help="bids per client, saturated")
    parser.add_argument("--window", type=int, default=64, help="bids in flight per client")
    parser.add_argument("--half-seconds", type=float, default=4.0)
    parser.add_argument(
        "--rounds", type=int, default=3, help="saturated and half-load rounds (median decides)"
    )
    parser.add_argument("--watchers", type=int, default=5000)
    parser.add_argument("--fanout-rounds", type=int, default=3)
    parser.add_argument("--profile", help="record the server with py-spy (raw stacks) here")
    parser.add_argument(
        "--verify-workers",
        type=int,
        help="the house's verify_workers (0: verify on the event loop; default: the house's)",
    )
    args = parser.parse_args()
    raise_fd_limit()
    gc.freeze()  # the client's own collector pauses would count as server latency
    gc.set_threshold(50_000, 50, 50)

    rates: list[tuple[float, float]] = [verify_rate(0.5)]  # (per wall s, per CPU s)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp), args.verify_workers)
        try:
            accounts, seller = setup(url, args.clients)
            ws_url = url.replace("http://", "ws://") + "/api/v1/ws"
            bidders = [Bidder(ws_url, n, t, k, a) for n, t, k, a in accounts]
            asyncio.run(load(proc.pid, bidders, 200, args.window, None))  # warm-up
            spy = None
            if args.profile:  # py-spy on the server during the saturated rounds only
                spy = subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "--pid",
                        str(proc.pid),
                        "--format",
                        "raw",
                        "--rate",
                        "250",
                        "--subprocesses",  # the signature worker too
                        "-o",
                        args.profile,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)
            rounds = []
            for _ in range(args.rounds):
                rates.append(verify_rate(0.5))
                run = asyncio.run(load(proc.pid, bidders, args.bids, args.window, None))
                rounds.append(run)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            rates.append(verify_rate(0.5))
            # Each round against the verify rate measured right before and after it (the
            # machine's load moves within a run); the verdict is the median round.
            for i, run in enumerate(rounds):
                wall = (rates[i + 1][0] + rates[i + 2][0]) / 2
                cpu = (rates[i + 1][1] + rates[i + 2][1]) / 2
                run["verify_per_s"] = round(wall, 1)
                run["ratio_to_verify"] = round(run["accepted_per_s"] / wall, 3)
                # Bids a second one core of server CPU would carry, against verifies per CPU s.
                run["cpu_ratio_to_verify"] = round(1e6 / run["server_cpu_us_per_bid"] / cpu, 3)
                # What the event loop alone would carry with a core of its own (the worker and
                # the writer on the other), against one core's verifies.
                run["loop_ratio_to_verify"] = round(
                    1e6 / run["server_loop_cpu_us_per_bid"] / cpu, 3
                )
            saturated = dict(median_round(rounds, "ratio_to_verify"))
            saturated["rounds_ratio_to_verify"] = [r["ratio_to_verify"] for r in rounds]
            verify = statistics.median(r[0] for r in rates)
            verify_cpu = statistics.median(r[1] for r in rates)
            half_rate = 0.25 * verify
            per_client = max(10, int(half_rate * args.half_seconds / args.clients))
            halves = []
            for _ in range(args.rounds):
                run = asyncio.run(load(proc.pid, bidders, per_client, args.window, half_rate))
                run["target_per_s"] = round(half_rate, 1)
                halves.append(run)
            half = dict(median_round(halves, "ack_ms_p99"))
            half["rounds_ack_ms_p99"] = [r["ack_ms_p99"] for r in halves]
            spread = (
                asyncio.run(fanout(url, args.watchers, seller, args.fanout_rounds))
                if args.watchers
                else None
            )
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    goals = {
        "accepted_ratio_to_verify>=0.5": (saturated["ratio_to_verify"], 0.5, ">="),
        "half_load_p99_ms<20": (half["ack_ms_p99"], 20.0, "<"),
        "fanout_s<1": (None if spread is None else spread["last_delivery_s"], 1.0, "<"),
    }
    met = {
        name: value is None or (value >= goal if op == ">=" else value < goal)
        for name, (value, goal, op) in goals.items()
    }
    result = {
        "bench": "server",
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "verify_per_s": round(verify, 1),
        "verify_per_s_measured": [round(r[0], 1) for r in rates],
        "verify_per_cpu_s": round(verify_cpu, 1),
        "saturated": saturated,
        "half_load": half,
        "fanout": spread,
        "goals": met,
    }
    print(json.dumps(result), flush=True)
    for name, (value, goal, op) in goals.items():
        verdict = "not run" if value is None else "MET" if met[name] else "NOT MET"
        shown = "-" if value is None else f"{value:g}"
        print(f"goal {name}: {verdict} (measured {shown}, goal {op} {goal:g})", file=sys.stderr)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=sys.stderr)


if __name__ == "__main__":
    main()
