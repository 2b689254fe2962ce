"""A password-guessing flood against a real house, and what it costs everyone else.

Starts ``auctionhouse serve`` (production argon2 settings by default: t=3, 64 MiB) on a free
loopback port; makes four accounts; measures, from 127.0.0.1, the median time of an honest
login of another account (``bob``) and of an HTTP bid with the house quiet and flooded, the
samples alternating (the flood paused with SIGSTOP for each quiet one, so other load on the
machine weighs on both alike), while ``guess_flood.py`` (its own process) runs ``--threads`` threads guessing ``alice``'s password
for ``--seconds`` from 127.0.0.2 and twelve more loopback addresses, the right password being
guess number ``--right-at``. Samples the server's RSS throughout. Prints one JSON object:

- ``flood``: the flood's answers by status and code, ``found`` (guess numbers that logged in:
  must be empty), ``guesses``, the Retry-After range;
- ``login_s`` / ``bid_s``: ``quiet`` and ``flooded`` medians and their ``ratio`` (goal <= 2);
- ``rss_mb``: before and peak during the flood (goal: bounded, about two argon2 buffers).

Usage: python bench/bench_login_flood.py [--seconds 30] [--threads 24]
tests/server/test_server_login_flood.py runs it for 8 s and checks the goals.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

# The tests' port helper (tests/free_ports.py): outside the ephemeral range, locked per
# process; a bind-0 pick could be taken by another socket before the server binds it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from free_ports import free_port

PASSWORD = "correct horse battery"
FLOOD = Path(__file__).with_name("guess_flood.py")
PAUSE_SETTLE = 1.5  # seconds for a paused flood's requests in flight to be answered
ADDRESSES = ["127.0.0.2"] + [f"127.0.0.{10 + i}" for i in range(12)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start_house(tmp: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str]:
    config = tmp / "house.toml"
    config.write_text(
        "[house]\n"
        f"argon2_time_cost = {args.argon2_time_cost}\n"
        f"argon2_memory_kib = {args.argon2_memory_kib}\n"
        "account_rate = 1000.0\naccount_burst = 1000.0\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUCTIONHOUSE_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "auctionhouse",
            "serve",
            "--db",
            str(tmp / "house.db"),
            "--port",
            str(port),
            "--config",
            str(config),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "serve.log").open("wb"),
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((tmp / "serve.log").read_text()[-2000:])
        try:
            if httpx.get(url + "/api/v1/time", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the house did not start")


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    proc, url = start_house(tmp, args)
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            for name in ("alice", "bob", "seller", "carol"):
                r = http.post("/api/v1/accounts", json={"name": name, "password": PASSWORD})
                r.raise_for_status()

            def login(name: str) -> str:
                r = http.post("/api/v1/sessions", json={"name": name, "password": PASSWORD})
                r.raise_for_status()
                token: str = r.json()["token"]
                return token

            seller = {"Authorization": f"Bearer {login('seller')}"}
            carol = {"Authorization": f"Bearer {login('carol')}"}
            rules = {"duration": 3600, "min_increment": 1, "starting_price": 1}
            aid = http.post(
                "/api/v1/auctions",
                json={"item": {"name": "lamp"}, "method": "english", "rules": rules},
                headers=seller,
            ).json()["id"]
            amount = 0

            def measure() -> tuple[list[float], list[float]]:
                nonlocal amount
                logins: list[float] = []
                bids: list[float] = []
                started = time.perf_counter()
                login("bob")
                logins.append(time.perf_counter() - started)
                for _ in range(args.bids):
                    amount += 1
                    started = time.perf_counter()
                    r = http.post(
                        f"/api/v1/auctions/{aid}/bids", json={"amount": amount}, headers=carol
                    )
                    bids.append(time.perf_counter() - started)
                    r.raise_for_status()
                return logins, bids

            login("bob")  # bob's address becomes known, as a returning user's is
            rss_before = rss_mb(proc.pid)
            measure()  # warm up
            # The flood outlasts the alternating samples (its clock runs while it is paused).
            seconds = max(args.seconds, args.samples * 7 + 5)
            flood = subprocess.Popen(
                [
                    sys.executable,
                    str(FLOOD),
                    url,
                    "alice",
                    PASSWORD,
                    str(args.right_at),
                    str(args.threads),
                    str(seconds),
                    *ADDRESSES,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            peak = [rss_before]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.2):
                    peak.append(rss_mb(proc.pid))

            sampler = threading.Thread(target=sample)
            sampler.start()
            quiet_logins: list[float] = []
            quiet_bids: list[float] = []
            flooded_logins: list[float] = []
            flooded_bids: list[float] = []
            try:
                # Quiet and flooded samples alternate (the flood paused with SIGSTOP, resumed
                # with SIGCONT), so load from elsewhere on the machine weighs on both alike.
                time.sleep(1.0)  # the flood is under way
                for _ in range(args.samples):
                    flood.send_signal(signal.SIGSTOP)
                    time.sleep(PAUSE_SETTLE)  # what it had in flight is answered
                    logins, bids = measure()
                    quiet_logins += logins
                    quiet_bids += bids
                    flood.send_signal(signal.SIGCONT)
                    time.sleep(1.0)
                    logins, bids = measure()
                    flooded_logins += logins
                    flooded_bids += bids
                out, _ = flood.communicate(timeout=seconds + 120)
            finally:
                done.set()
                sampler.join()
                if flood.poll() is None:
                    flood.send_signal(signal.SIGCONT)
                    flood.kill()
            login("alice")  # the owner logs in once the flood is over
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "threads": args.threads,
        "seconds": seconds,
        "argon2": {"time_cost": args.argon2_time_cost, "memory_kib": args.argon2_memory_kib},
        "flood": json.loads(out),
        # what honest users got during the flood: every login and bid answered with success
        # (a refusal raises and fails the bench), counted so a test can say so
        "honest": {"flooded_logins": len(flooded_logins), "flooded_bids": len(flooded_bids)},
        "login_s": _pair(quiet_logins, flooded_logins),
        "bid_s": _pair(quiet_bids, flooded_bids),
        "rss_mb": {"before": round(rss_before, 1), "peak": round(max(peak), 1)},
        "cores": os.cpu_count(),
    }


def _pair(quiet_samples: list[float], flooded_samples: list[float]) -> dict[str, float]:
    quiet, flooded = statistics.median(quiet_samples), statistics.median(flooded_samples)
    return {
        "quiet": round(quiet, 5),
        "flooded": round(flooded, 5),
        "ratio": round(flooded / quiet, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=24)
    parser.add_argument("--right-at", type=int, default=100)
    parser.add_argument("--samples", type=int, default=5, help="quiet/flooded pairs")
    parser.add_argument("--bids", type=int, default=40)
    parser.add_argument("--argon2-time-cost", type=int, default=3)
    parser.add_argument("--argon2-memory-kib", type=int, default=65_536)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-login-") as tmp:
        print(json.dumps(run(args, Path(tmp))))


if __name__ == "__main__":
    main()
