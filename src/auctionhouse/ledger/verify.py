"""Start-up verification, folded into the replay: the house never serves a ledger that fails.

The replay reads every event anyway, so the same single pass re-derives every hash chain
(``sha256(prev || body)`` per event, in append order). Around it:

- before the pass, the chain of signed records (batch records and checkpoints) is walked: the
  numbers run 1, 2, 3..., each names the sha256 of the one before it (``prev``), and the newest
  is remembered per auction (the highest signed head);
- on a second thread, overlapping the pass, Ed25519 signatures are verified (PyNaCl releases
  the GIL while it verifies): every close seal's (the receipts buyers hold), every periodic
  checkpoint's, and the newest signed record's. The batch records in between (one per write,
  so one per event in a quiet house) are authentic without checking each signature: each names
  the sha256 of the one before (``prev``, checked for all), so the verified newest record
  covers every earlier payload (forging one would need a sha256 second preimage). A damaged
  signature on an old batch record (the payload intact) is left to the audit;
- after the pass, every auction's re-derived head must equal its highest signed head (every
  append signs the heads it moved in the same transaction, so nothing may lie past it), its
  stored head row, and for a closed auction its seal. An event edited, deleted, reordered or
  inserted changes the re-derived head; only then does the audit re-read that auction to name
  the first broken seq (the error path may be slow, the pass may not).

``strict`` (``serve``): the first failure raises ``TamperDetected`` with one line naming the
auction and seq. Not strict (``serve --read-only``): failures are collected in ``problems``, the
events that cannot be read are skipped, and the house serves what it could rebuild.
See docs/ledger.md, "Start-up verification", and decision 0010-ledger-startup-checks.md.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from hashlib import sha256
from operator import lt

import orjson

from auctionhouse.auction import Event
from auctionhouse.auction.events import CLOSING_EVENTS
from auctionhouse.errors import LedgerError, TamperDetected
from auctionhouse.ledger import chain_worker
from auctionhouse.ledger.encoding import (
    GENESIS,
    decode_array,
    decode_event,
    decode_page,
    decode_records,
)
from auctionhouse.ledger.keys import verify
from auctionhouse.ledger.store import PAGE, Store

_CHECKPOINT_KIND = b'"kind":"checkpoint"'

RESULT_TIMEOUT = 120.0
"""Seconds the pass waits for the chain worker before hashing in its own process."""

INLINE_SIGNATURES = 64
"""Up to this many signatures are verified inline (a thread costs more than it saves)."""

MAX_PROBLEMS = 100
"""At most this many problems are kept in read-only mode (the audit lists them all)."""


def where(auction_id: object, seq: object) -> str:
    """``auction A seq S``: how every start-up failure names its place."""
    return f"auction {auction_id}" if seq is None else f"auction {auction_id} seq {seq}"


class Verification:
    """One start-up verification of ``store`` against the trusted ``public_hex``.

    Use: ``for event in v.events(): ...``; once the loop ends, ``hashes`` and ``seqs`` hold each
    auction's verified head. ``public_hex=None`` (read-only without a key) checks the
    hash chains and the signed records' links, not their signatures.
    """

    def __init__(self, store: Store, public_hex: str | None, *, strict: bool = True) -> None:
        self._store = store
        self._public = public_hex
        self.strict = strict
        self.problems: list[str] = []
        self.hashes: dict[str, bytes] = {}  # each auction's re-derived head hash
        self.lasts: dict[str, Event] = {}  # and its last event
        self.seqs: dict[str, int] = {}  # after the pass: each auction's last seq
        self.closed: set[str] = set()  # after the pass: auctions whose last event is a close
        self.last_number = 0  # the newest signed record's number, and its payload's sha256
        self.last_prev = GENESIS.hex()
        self._signed: dict[str, tuple[int, int, str]] = {}  # aid -> (record number, seq, hex)
        self._bad_signature: str | None = None
        # (what, payload, signature) of every signature to verify: periodic checkpoints, the
        # newest signed record, every seal
        self._to_verify: list[tuple[str, bytes, object]] = []
        self._thread: threading.Thread | None = None
        self._hashed_here = False  # a page's rows were hashed one by one in this process
        self.events_read = 0

    # -- failures ---------------------------------------------------------------------------

    def fail(self, message: str) -> None:
        """One failure: raised at once when strict, else kept (the first MAX_PROBLEMS)."""
        if self.strict:
            raise TamperDetected(message)
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    # -- the pass ---------------------------------------------------------------------------

    def events(
        self,
        on_end: Callable[[Verification], None] | None = None,
        stored_heads: dict[str, tuple[int, bytes]] | None = None,
    ) -> Iterator[Event]:
        """Every event in append order, each folded into its auction's chain as it is read;
        once all are read, ``finish(stored_heads)`` runs (then ``on_end(self)``); the stored
        head rows are read then unless given (the ledger read them when it opened). The hot
        loop only hashes:
        a chain that was edited, cut, reordered or added to no longer ends at the head the
        house signed, and ``finish`` then asks the audit where it breaks."""
        chains = _Chains.start(self._store) if self.strict else None
        self._walk_signed_records()
        self._start_signatures()
        pages = _Pages(self._store)
        try:
            hashes = self.hashes
            lasts = self.lasts
            get = hashes.get
            while True:
                if chains is not None:  # no stored bytes needed here: a page in one value
                    try:
                        decoded = pages.next_events(chains)
                    except LedgerError:
                        decoded = None  # the row path names where it cannot be read
                    if decoded is not None:
                        if not decoded:
                            break
                        for event in decoded:
                            lasts[event.auction_id] = event
                        self.events_read += len(decoded)
                        yield from decoded
                        continue
                try:
                    rows = pages.next()
                except LedgerError as exc:  # "database disk image is malformed", I/O errors
                    self._unreadable_after(pages.after, exc)
                    break
                if not rows:
                    break
                out: list[Event] = []
                append = out.append
                try:
                    # Decoded a page at a time, then each stored body hashed as it is (the
                    # chain covers the stored bytes: nothing is encoded again), here or by
                    # the chain worker on the other core.
                    if chains is None:
                        for (_pos, body), event in zip(rows, decode_page(rows), strict=True):
                            aid = event.auction_id
                            hashes[aid] = sha256(get(aid, GENESIS) + body).digest()
                            lasts[aid] = event
                            append(event)
                    else:
                        out = decode_page(rows)
                        for event in out:
                            lasts[event.auction_id] = event
                except (LedgerError, TypeError, AttributeError):  # a row edited to garbage
                    out = self._slow_page(rows, [] if chains is not None else out)
                self.events_read += len(out)
                yield from out
            if chains is not None:
                self._take_chains(chains)
        finally:
            if chains is not None:
                chains.stop()
            pages.stop()
            self._join()
        self.finish(stored_heads)
        if on_end is not None:
            on_end(self)

    def _take_chains(self, chains: _Chains) -> None:
        """The chain worker's heads, if it read what this pass read and hashed nothing here
        (a bad row was hashed here): else every chain is hashed here after all, in a second
        read (the exact path, which also names a row that cannot be hashed)."""
        heads = chains.result(self.events_read)
        if heads is not None and not self._hashed_here and heads.keys() == self.lasts.keys():
            self.hashes.update(heads)
            return
        self.hashes.clear()
        hashes = self.hashes
        get = hashes.get
        pages = _Pages(self._store)
        while rows := pages.next():
            done: list[Event] = []
            try:
                for (_pos, body), event in zip(rows, decode_page(rows), strict=True):
                    aid = event.auction_id
                    hashes[aid] = sha256(get(aid, GENESIS) + body).digest()
                    done.append(event)
            except (LedgerError, TypeError, AttributeError):
                self._slow_page(rows, done)

    def _slow_page(self, rows: list[tuple[int, bytes]], done: list[Event]) -> list[Event]:
        """The rest of a page with a bad row in it: name the row (strict) or skip it."""
        self._hashed_here = True
        for pos, body in rows[len(done) :]:
            try:
                event = decode_event(body)
                aid = event.auction_id
                digest = sha256(self.hashes.get(aid, GENESIS) + body).digest()
            except (LedgerError, TypeError, AttributeError):
                found = self._record_at(pos)
                place = where(*found) if found else f"record {pos}"
                self.fail(f"{place}: not a readable event (edited)")
                continue
            self.hashes[aid] = digest
            self.lasts[aid] = event
            done.append(event)
        return done

    def _unreadable_after(self, after: int, exc: LedgerError) -> None:
        """Name the last record that can still be read before the damage (one at a time)."""
        for _ in range(PAGE):
            try:
                rows = self._store.page(after, 1)
            except LedgerError:
                break
            if not rows:
                break
            after = rows[0][0]
        last = self._record_at(after)
        place = f"after {where(*last)}" if last else "at its first event"
        self.fail(f"the ledger cannot be read {place}: {exc.message}")

    def _record_at(self, pos: int) -> tuple[str, int] | None:
        """(auction, seq) of the record at ``pos``, read from its columns (error path only)."""
        try:
            record = self._store.record_at(pos)
        except LedgerError:
            return None
        return (record.auction_id, record.seq) if record is not None else None

    def explain(self, auction_id: str | None = None, cause: object = None) -> str:
        """Where the ledger breaks, in one line: the audit's first finding (for one auction, or
        the whole ledger), else ``cause``. Error path only: the audit re-reads everything."""
        from auctionhouse.ledger.audit import audit_store

        try:
            report = audit_store(self._store, self._public, auction_id=auction_id)
        except Exception as exc:
            return f"the ledger cannot be replayed: {cause or exc}"
        for finding in report.findings:
            if finding.auction_id is not None:
                return (
                    f"{where(finding.auction_id, finding.seq)}: {finding.message} ({finding.kind})"
                )
        if report.findings:
            return f"{report.findings[0].message} ({report.findings[0].kind})"
        return f"the ledger cannot be replayed: {cause}"

    # -- the signed records -----------------------------------------------------------------

    def _walk_signed_records(self) -> None:
        """Numbers 1, 2, 3...; each names the one before; keep each auction's highest head."""
        signed = self._signed
        prev, expected = GENESIS.hex(), 1
        loads = orjson.loads
        newest: tuple[int, bytes, object] | None = None
        try:
            for record in self._store.checkpoints():
                payload = bytes(record.payload)
                number = record.number
                try:
                    data = loads(payload)
                    heads = data["heads"]
                    ok = (
                        number == expected
                        and data["number"] == number
                        and data["prev"] == prev
                        and isinstance(heads, dict)
                    )
                except (ValueError, KeyError, TypeError):
                    ok = False
                if not ok:
                    self.fail(
                        f"signed record {number}: edited, or the one before it is missing"
                        f" (expected record {expected})"
                    )
                else:
                    for aid, entry in heads.items():
                        signed[aid] = (number, entry[0], entry[1])
                    if data.get("kind") == "checkpoint":
                        self._to_verify.append(
                            (f"signed record {number}", payload, record.signature)
                        )
                prev = sha256(payload).hexdigest()
                newest = (number, payload, record.signature)
                expected = (number if type(number) is int else expected) + 1
                self.last_number, self.last_prev = expected - 1, prev
        except LedgerError as exc:
            place = f"after record {expected - 1}" if expected > 1 else "from the first record"
            self.fail(f"the signed records cannot be read {place}: {exc.message}")
        except (TypeError, IndexError):
            self.fail(f"signed record {expected}: not a record of chain heads (edited)")
        if newest is not None and _CHECKPOINT_KIND not in newest[1]:
            self._to_verify.append((f"signed record {newest[0]}", newest[1], newest[2]))

    def _start_signatures(self) -> None:
        """Verify the signatures: inline when they are few, else on a thread that overlaps
        the pass (PyNaCl releases the GIL while it verifies)."""
        if self._public is None:
            return
        try:
            for seal in self._store.seals():
                what = f"{where(seal.auction_id, seal.seq)}: the close seal"
                self._to_verify.append((what, bytes(seal.payload), seal.signature))
        except (LedgerError, TypeError) as exc:
            self.fail(f"the close seals cannot be read: {exc}")
        if len(self._to_verify) <= INLINE_SIGNATURES:
            self._verify_signatures()
            return
        self._thread = threading.Thread(
            target=self._verify_signatures, name="ledger-verify", daemon=True
        )
        self._thread.start()

    def _verify_signatures(self) -> None:
        public = self._public
        assert public is not None
        for what, payload, signature in self._to_verify:
            if not verify(public, payload, signature):
                self._bad_signature = f"{what}: bad signature"
                return
        self._to_verify = []

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- after the pass ---------------------------------------------------------------------

    def finish(self, stored_heads: dict[str, tuple[int, bytes]] | None = None) -> None:
        """Every re-derived head must be the head the house signed last and the stored head
        row; a bad signature found by the thread fails here too."""
        self._join()
        if self._bad_signature is not None:
            self.fail(self._bad_signature)
        self.seqs = {aid: event.seq for aid, event in self.lasts.items()}
        self.closed = {aid for aid, e in self.lasts.items() if e.__class__ in CLOSING_EVENTS}
        try:
            stored = self._store.heads() if stored_heads is None else stored_heads
        except LedgerError as exc:
            self.fail(f"the ledger's head rows cannot be read: {exc.message}")
            stored = {}
        hashes, seqs, signed = self.hashes, self.seqs, self._signed
        for aid, digest in hashes.items():
            seq = seqs[aid]
            mark = signed.get(aid)
            row = stored.get(aid)
            if (
                mark is None
                or mark[1] != seq
                or mark[2] != digest.hex()
                or row is None
                or row[0] != seq
                or row[1] != digest
            ):
                self.fail(self.explain(aid))
        for aid in (signed.keys() | stored.keys()) - hashes.keys():
            self.fail(self.explain(aid))  # signed for or stored, but no event could be read
        self._check_seals()

    def _check_seals(self) -> None:
        try:
            seals = {seal.auction_id: seal for seal in self._store.seals()}
        except LedgerError as exc:
            self.fail(f"the close seals cannot be read: {exc.message}")
            return
        for aid in self.closed:
            seal = seals.pop(aid, None)
            seq, digest = self.seqs[aid], self.hashes[aid]
            if seal is None:
                self.fail(f"{where(aid, seq)}: the auction closed but its seal is gone")
                continue
            try:
                data = orjson.loads(bytes(seal.payload))
                ok = (
                    data["auction_id"] == aid
                    and data["seq"] == seq == seal.seq
                    and data["hash"] == digest.hex()
                )
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                self.fail(f"{where(aid, seq)}: the close seal differs from the chain (edited)")
        for aid, seal in seals.items():
            self.fail(f"{where(aid, seal.seq)}: a seal of an auction that did not close (edited)")


class _Chains:
    """The chain worker (ledger/chain_worker.py) on an SQLite ledger's file. It also streams
    the pages it read (``next_frame``): the replay decodes those instead of reading the file
    a second time, while ``streaming``."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self.streaming = True  # False once the stream broke: the pass reads the file itself
        self._ended = False  # the empty frame was read: the result follows

    @classmethod
    def start(cls, store: Store) -> _Chains | None:
        """The worker on ``store``'s file, when it is an SQLite file of at least
        ``chain_worker.MIN_EVENTS`` events; else None (hash in this process)."""
        from auctionhouse.ledger.sqlite import SQLiteStore

        if type(store) is not SQLiteStore or store.path is None:
            return None
        try:
            if store.last_pos() < chain_worker.MIN_EVENTS:
                return None
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-P",
                    chain_worker.__file__,
                    str(store.path),
                    "--pages",
                    str(PAGE),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
            )
        except (LedgerError, OSError):
            return None
        return cls(proc)

    def next_frame(self) -> tuple[int, int, int, bytearray] | None:
        """The next page the worker read: (rows, first pos, last pos, its bodies as one JSON
        array); rows 0 after the last page. None once the stream broke (the worker failed or
        was silent for ``RESULT_TIMEOUT``): the pass then reads the file itself."""
        if not self.streaming:
            return None
        head = self._read(chain_worker.FRAME.size)
        if head is not None:
            rows, first, last, length = chain_worker.FRAME.unpack(head)
            if rows == 0:
                self.streaming, self._ended = False, True
                return 0, 0, 0, bytearray()
            bodies = self._read(length)
            if bodies is not None:
                return rows, first, last, bodies
        self.streaming = False
        return None

    def _read(self, size: int) -> bytearray | None:
        """Exactly ``size`` bytes of the worker's output, or None (end, error, timeout)."""
        stdout = self._proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        out = bytearray(size)
        view = memoryview(out)
        got = 0
        try:
            while got < size:
                ready, _, _ = select.select([fd], [], [], RESULT_TIMEOUT)
                if not ready:
                    return None
                n = os.readv(fd, [view[got:]])
                if n == 0:
                    return None
                got += n
        except OSError:
            return None
        finally:
            view.release()
        return out

    def result(self, rows: int) -> dict[str, bytes] | None:
        """Each auction's head, if the worker read exactly ``rows`` rows (and every page it
        streamed was taken); else None."""
        try:
            if not self._ended:
                return None
            out, _ = self._proc.communicate(timeout=RESULT_TIMEOUT)
            if self._proc.returncode != 0:
                return None
            found = orjson.loads(out)
            if found["rows"] != rows:
                return None
            return {aid: bytes.fromhex(digest) for aid, digest in found["heads"].items()}
        except (subprocess.TimeoutExpired, ValueError, KeyError, TypeError, AttributeError):
            return None

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


class _Pages:
    """The event pages in ``pos`` order, read on the replaying thread. (Reading ahead on a
    second thread was measured: on a loaded 2-core machine the GIL hand-offs cost more wall
    time than the overlap saved.)"""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._done = False
        self.after = 0  # the last position handed out

    def next(self) -> list[tuple[int, bytes]]:
        """The next page ([] at the end); ``LedgerError`` when it cannot be read."""
        if self._done:
            return []
        rows = self._store.page(self.after, PAGE)
        if len(rows) < PAGE:
            self._done = True
        if rows:
            self.after = rows[-1][0]
        return rows

    def next_events(self, chains: _Chains) -> list[Event] | None:
        """The next page decoded ([] at the end), for a pass that needs no stored bytes (the
        chain worker hashes them): as the worker streams it (``_Chains.next_frame``), else
        from ``SQLiteStore.page_arrays``. None: read this page by rows (``next``) instead, as
        when the page is not exactly the rows it should be (the positions not rising, the
        bodies not one array of as many events: an edited row, which the row path names).
        ``LedgerError`` when it cannot be read."""
        if self._done:
            return []
        frame = chains.next_frame()
        if frame is not None:
            count, first, last, bodies = frame
            if count == 0:
                self._done = True
                return []
            if first > self.after:
                streamed = decode_records(bodies)
                if streamed is not None and len(streamed) == count:
                    self.after = last
                    return streamed
            chains.streaming = False  # this page by rows, then the file from here
            return None
        arrays = self._store.page_arrays(self.after, PAGE)  # type: ignore[attr-defined]
        if arrays is None:
            self._done = True
            return []
        try:
            positions = orjson.loads(arrays[0])
        except orjson.JSONDecodeError:
            return None
        events: list[Event | None] | None = decode_records(arrays[1])  # type: ignore[assignment]
        exact = events is None
        if exact:
            events = decode_array(arrays[1])
        if (
            events is None
            or len(events) != len(positions)
            or positions[0] <= self.after
            or not all(map(lt, positions, positions[1:]))
        ):
            return None
        if exact and None in events:  # rows only the exact path builds: from their own bytes
            rows = self._store.page(self.after, PAGE)
            if [pos for pos, _body in rows] != positions:
                return None
            try:
                for i, event in enumerate(events):
                    if event is None:
                        events[i] = decode_event(rows[i][1])
            except LedgerError:
                return None
        if len(events) < PAGE:
            self._done = True
        self.after = positions[-1]
        return events  # type: ignore[return-value]

    def stop(self) -> None:
        self._done = True
