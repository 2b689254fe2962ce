"""Signed bids verified ahead of their apply (p2p/preverify.py): the verdicts of the house's
signature worker are used, for exactly the bytes they were computed for, and a replica decides
the same events as one that verifies everything itself."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from pysyncobj import pickle as library_pickle
from test_p2p_machine import commands, ledger

from auctionhouse.house import AuctionHouse, HouseConfig
from auctionhouse.house import house as house_module
from auctionhouse.house.verifier import BatchVerifier
from auctionhouse.p2p.codec import decode
from auctionhouse.p2p.machine import HouseMachine, ReplicaClock
from auctionhouse.p2p.preverify import Prefetch, bid_check, entry_commands
from auctionhouse.p2p.service import MARKET_OPS, WRITES, MarketDesk, _binder


def machine(tmp_path: Path, name: str, workers: int) -> HouseMachine:
    def open_house(clock: ReplicaClock) -> AuctionHouse:
        path = tmp_path / name / "house.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        config = HouseConfig.for_tests(verify_workers=workers)
        return AuctionHouse.open(path, config=config, clock=clock)

    return HouseMachine(open_house)


@pytest.fixture
def inline_verifies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the verifies the house makes itself (the real function still runs)."""
    count = [0]
    real = house_module.verify

    def counting(*args: Any) -> None:
        count[0] += 1
        real(*args)

    monkeypatch.setattr(house_module, "verify", counting)
    return count


def entry(blobs: list[bytes]) -> bytes:
    """A log entry as pysyncobj 0.3.17 makes it for ``apply_batch(blobs)``."""
    return b"\x00" + library_pickle.dumps((0, (blobs,)))


def test_a_rebuild_uses_the_workers_verdicts_and_decides_the_same(
    tmp_path: Path, inline_verifies: list[int]
) -> None:
    log = commands(SigningKey.generate())
    plain = machine(tmp_path, "plain", workers=0)
    plain._deserialize(log)
    verified_in_line = inline_verifies[0]
    assert verified_in_line == 5  # four bids and the forged one
    ahead = machine(tmp_path, "ahead", workers=1)
    ahead._deserialize(log)
    assert inline_verifies[0] == verified_in_line  # none more: all came from the worker
    assert ledger(ahead) == ledger(plain)
    assert ahead.house.rejections["bad_signature"] == 1  # the forged bid, refused alike
    assert ahead.results == plain.results


def test_entries_appended_are_verified_before_they_apply(
    tmp_path: Path, inline_verifies: list[int]
) -> None:
    log = commands(SigningKey.generate())
    setup, bids = log[:3], log[3:]
    plain = machine(tmp_path, "plain", workers=0)
    for blob in log:
        plain.apply_local(blob)
    before = inline_verifies[0]

    async def scenario() -> HouseMachine:
        m = machine(tmp_path, "ahead", workers=1)
        verifier = BatchVerifier(1)
        assert await verifier.warm()
        m.prefetch = Prefetch(verifier, lambda: m.house)
        try:
            for blob in setup:
                m.apply_local(blob)
            assert entry_commands(entry(bids)) == bids
            m.prefetch.added(entry(bids))
            checks = [m.prefetch._ahead[b][1] for b in bids if decode(b)["op"] == "place_bid"]
            await BatchVerifier.settle([c for c in checks if c is not None])
            assert all(c is not None and c.valid is not None for c in checks)
            for blob in bids:
                m.apply_local(blob)
        finally:
            await verifier.close()
        return m

    m = asyncio.run(scenario())
    assert inline_verifies[0] == before  # every bid's verdict came from the worker
    assert ledger(m) == ledger(plain)
    assert m.house.rejections["bad_signature"] == 1


def test_a_vouched_verdict_is_reused_only_for_the_same_bytes(tmp_path: Path) -> None:
    log = commands(SigningKey.generate())
    m = machine(tmp_path, "m", workers=0)
    for blob in log[:3]:
        m.apply_local(blob)
    prefetch = Prefetch(None, lambda: m.house)
    args = decode(log[3])["args"]
    vouched = bid_check(m.house, args)
    assert vouched is not None
    vouched.valid = True
    prefetch.vouch(vouched)
    prefetch.added(entry([log[3]]))
    command, check = prefetch.take(log[3]) or (None, None)
    assert command is not None and check is not None and check.valid is True
    assert prefetch.reused == 1
    # The same signature over other bytes (another amount): not trusted, left to the house.
    other = dict(args, amount=args["amount"] + 1)
    liar = bid_check(m.house, other)
    assert liar is not None
    liar.valid = True
    prefetch.vouch(liar)
    prefetch.added(entry([log[3]]))
    _, check = prefetch.take(log[3]) or (None, None)
    assert check is not None and check.valid is None
    assert prefetch.reused == 1


def test_entries_that_are_not_batches_of_commands_are_ignored() -> None:
    assert entry_commands(b"") == []
    assert entry_commands(b"\x01" + library_pickle.dumps(1)) == []  # a no-op entry
    assert entry_commands(b"\x00not a pickle") == []
    assert entry_commands(b"\x00" + library_pickle.dumps((0, ("x",)))) == []


@pytest.mark.parametrize(
    ("cls", "name"),
    [(AuctionHouse, name) for name in sorted(WRITES)]
    + [(MarketDesk, name) for name in sorted(MARKET_OPS)],
)
def test_captured_writes_bind_their_arguments_like_the_house_method(cls: type, name: str) -> None:
    signature = inspect.signature(getattr(cls, name))
    binder = _binder(cls, name)
    params = list(signature.parameters.values())[1:]
    assert [(p.name, p.kind, p.default) for p in params] == [
        (p.name, p.kind, p.default) for p in inspect.signature(binder).parameters.values()
    ]
    required = [p for p in params if p.default is p.empty]
    positional = [f"v{i}" for i, p in enumerate(required) if p.kind is not p.KEYWORD_ONLY]
    keywords = {p.name: f"k_{p.name}" for p in required if p.kind is p.KEYWORD_ONLY}
    bound = signature.bind(None, *positional, **keywords)
    bound.apply_defaults()
    expected = dict(bound.arguments)
    expected.pop("self")
    assert binder(*positional, **keywords) == expected
    with pytest.raises(TypeError):
        binder(*positional, *range(len(params) + 1), **keywords)
