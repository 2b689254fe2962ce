"""What a photo-sized Raft entry does to pysyncobj 0.3.17 (decision 0020-i17b-photos-on-peers).

Three pysyncobj nodes on loopback in this process (the library's own TCP transport, its
password encryption on, as the peers run it) replicate one command carrying ``--mb`` MB:

- ``binary``: the photo's bytes as they are (a re-encoded JPEG: random-looking bytes);
- ``base64``: the same bytes base64-encoded (what a JSON command would carry).

For each: whether every follower applied it within ``--deadline`` seconds, the seconds until
they did, and the size of the library's pickled entry against the bytes carried. Then what one
such command costs a snapshot (the replicas' state is the list of commands: docs/peers.md):
the pickled-and-gzipped bytes per photo, which every snapshot and every newcomer's transfer
would carry again. Also a small command, for scale.

Prints one JSON object. Usage: python bench/bench_p2p_photo_entry.py [--mb 5] [--deadline 60]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj import pickle as library_pickle

# The tests' port helper (tests/free_ports.py): outside the ephemeral range, locked per
# process; a bind-0 pick could be taken by another socket before the server binds it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from free_ports import free_port


class Sink(SyncObj):  # type: ignore[misc]
    def __init__(self, me: str, others: list[str]) -> None:
        conf = SyncObjConf(password="bench-password", appendEntriesUseBatch=False)
        super().__init__(me, others, conf)
        self.sizes: list[int] = []

    @replicated  # type: ignore[untyped-decorator]
    def put(self, blob: bytes) -> int:
        self.sizes.append(len(blob))
        return len(blob)


def replicate(blob: bytes, deadline: float) -> dict[str, Any]:
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    nodes = [Sink(a, [b for b in addresses if b != a]) for a in addresses]
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and not any(n._isLeader() for n in nodes):
            time.sleep(0.05)
        leader = next(n for n in nodes if n._isLeader())
        started = time.monotonic()
        leader.put(blob)
        end = started + deadline
        while time.monotonic() < end and not all(n.sizes for n in nodes):
            time.sleep(0.01)
        applied = sum(1 for n in nodes if n.sizes)
        return {
            "applied_on": f"{applied}/3",
            "seconds": round(time.monotonic() - started, 3) if applied == 3 else None,
            "entry_pickle_bytes": len(library_pickle.dumps((blob, 1, 1))),
            "carried_bytes": len(blob),
        }
    finally:
        for node in nodes:
            node.destroy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--deadline", type=float, default=60.0)
    args = parser.parse_args()
    photo = os.urandom(int(args.mb * 1024 * 1024))  # a JPEG's bytes are near-random
    out: dict[str, Any] = {"mb": args.mb, "load_average": os.getloadavg()}
    out["small"] = replicate(b"x" * 200, args.deadline)
    out["binary"] = replicate(photo, args.deadline)
    out["base64"] = replicate(base64.b64encode(photo), args.deadline)
    started = time.perf_counter()
    snapshot = gzip.compress(library_pickle.dumps([base64.b64encode(photo)]))
    out["snapshot_per_photo"] = {
        "bytes": len(snapshot),
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
