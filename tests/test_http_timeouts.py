"""Every test's HTTP call has an explicit timeout (tests/http_helpers.py): httpx's default of
5 s failed tests on a loaded machine with a ReadTimeout that said nothing about the house.
(tests/p2p is left to the engineers working there: its calls are listed in the fix report.)"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BARE = re.compile(r"\bhttpx\.(get|post|put|delete|request|Client|AsyncClient)\(")


def test_no_test_uses_httpx_default_timeout() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        rel = path.relative_to(TESTS)
        if rel.parts[0] == "p2p" or path.name == "http_helpers.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if BARE.search(line) and "timeout" not in line:
                found.append(f"{rel}:{n}")
    assert not found, found
