"""A password-guessing flood, run as its own process by bench_login_flood.py (so its
threads do not share a GIL with the measurements): THREADS threads guess one account's password
for at most SECONDS seconds (and at most MAX_GUESSES guesses in all), from several loopback
source addresses, ignoring Retry-After like a hostile client. Prints one JSON line.

    python guess_flood.py URL ACCOUNT PASSWORD POSITION THREADS SECONDS ADDRESSES...

The right PASSWORD is guess number POSITION of the shared guess sequence; a guess refused
without being checked (429, 503) is sent again, like a patient attacker would, so POSITION
guesses must really be checked to find it.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections import Counter

import httpx

MAX_GUESSES = 20_000


def main() -> None:
    if len(sys.argv) < 8 or sys.argv[1] in ("-h", "--help"):
        # A helper of bench_login_flood.py, not a bench of its own: say how it is called.
        print(__doc__.strip().split("\n\n")[1].strip(), file=sys.stderr)
        raise SystemExit(2)
    url, account, password, position, threads, seconds = sys.argv[1:7]
    addresses = sys.argv[7:]
    count = int(threads)
    deadline = time.monotonic() + float(seconds)
    sequence = itertools.count()
    lock = threading.Lock()
    statuses: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    retry_after: list[float] = []
    found: list[int] = []

    def guess(n: int) -> str:
        return password if n == int(position) else f"guess-{n:06d}-wrong"

    def run(address: str) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(base_url=url, transport=transport, timeout=30) as http:
            n = -1
            while time.monotonic() < deadline:
                if n < 0:  # the next guess; a refused one (429, 503) is tried again
                    with lock:
                        n = next(sequence)
                if n >= MAX_GUESSES:
                    return
                try:
                    r = http.post("/api/v1/sessions", json={"name": account, "password": guess(n)})
                except httpx.HTTPError as exc:
                    with lock:
                        statuses[type(exc).__name__] += 1
                    continue
                with lock:
                    statuses[str(r.status_code)] += 1
                    if r.status_code == 201:
                        found.append(n)
                    elif r.headers.get("content-type", "").startswith("application/json"):
                        codes[r.json()["error"]["code"]] += 1
                    if r.status_code in (201, 401):  # checked: on to the next guess
                        n = -1
                    if r.status_code == 429:
                        retry_after.append(float(r.headers.get("Retry-After", "nan")))

    workers = [
        threading.Thread(target=run, args=(addresses[i % len(addresses)],)) for i in range(count)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(
        json.dumps(
            {
                "statuses": statuses,
                "codes": codes,
                "found": found,
                "guesses": min(next(sequence), MAX_GUESSES),
                "retry_after_min": min(retry_after, default=None),
                "retry_after_max": max(retry_after, default=None),
                "retry_after_missing": sum(1 for r in retry_after if r != r),
            }
        )
    )


if __name__ == "__main__":
    main()
