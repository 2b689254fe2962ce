"""Item photos on replicated peers (docs/decisions/0020-i17b-photos-on-peers.md).

The Raft log carries only a photo's *registration* (``photo`` command: account, SHA-256, file
type), never its bytes: pysyncobj keeps every entry in memory until a snapshot, pickles the
whole state into each snapshot, and the state here is the list of commands, so megabytes of
photos in the log would be copied into every snapshot for ever. The bytes travel beside Raft,
over the same mutually authenticated TLS port (a connection that opens with ``MAGIC`` is a
photo request, not Raft traffic: tls.Tunnels.services):

- **Upload.** The peer that takes the upload checks and re-encodes it (house/photos.py), keeps
  the file, and pushes it to the other members (``PUT``) until a majority of the group holds
  it; only then does it propose the registration. So an auction can only name a photo that a
  majority of the group keeps, as a committed event is on a majority of journals.
- **Registration.** Every replica applies it alike: the account's rate limit, then the digest
  joins the replica's registry (replicated state: ``create_auction`` on every replica accepts
  exactly the registered digests, ``ReplicaPhotos.find``).
- **Catch-up.** A replica that applies a registration (live, from the log after a restart, or
  from a snapshot as a newcomer) and lacks the file fetches it (``GET``) from the members, in
  the background, and also at once when someone asks it for the photo. Fetched bytes are kept
  only if they hash to the registered digest; the thumbnail is then made here from them, so
  a replica serves no byte it did not verify.

The replica's files are ``house.db.photos/`` beside its ledger (kept across restarts, unlike
the ledger, which is rebuilt: content-addressed files never go stale), so the audit of its own
ledger (``audit_database``) covers them as on an embedded house.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import queue
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auctionhouse.errors import InvalidRequest, NoQuorum
from auctionhouse.house import AuctionHouse
from auctionhouse.house.photos import prepare as prepare_photo
from auctionhouse.house.photos import thumbnail_of
from auctionhouse.ledger.photos import THUMB, TYPES, PhotoFiles, check_digest, digest_of

if TYPE_CHECKING:
    from auctionhouse.p2p.peer import Peer

log = logging.getLogger("auctionhouse.p2p")

# First bytes of a photo connection. pysyncobj opens every connection with a 4-byte length
# (struct 'i', little-endian here): these four read as a negative one, which it never sends.
MAGIC = b"AHP\xff"
MAX_PHOTO_BYTES = 64 * 1024 * 1024  # a re-encoded photo (a sanity bound on what is read)
CONNECT_SECONDS = 5.0  # a member cut off is given up on after this (the next one is asked)
IO_SECONDS = 30.0  # then each send or receive of one request, at most
RETRY_FETCH_SECONDS = 2.0  # a photo no member could give is asked for again after this


class PhotoGroup:
    """What a replica's photos need of their peer: the other members' addresses, a TLS
    client context of the cluster, a way to propose the registration, and the background
    fetcher. One per peer (the house it serves may be rebuilt, this stays)."""

    def __init__(self, peer: Peer) -> None:
        from auctionhouse.p2p.tls import contexts

        self.peer = peer
        self._client_ctx = contexts(peer.files)[1]
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wanted: queue.Queue[tuple[str, ReplicaPhotos] | None] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._pushers = ThreadPoolExecutor(4, thread_name_prefix="photo-push")
        self.fetched = 0

    # -- members ---------------------------------------------------------------------------

    def members(self) -> list[str]:
        """The other members' peer addresses (read from another thread: a copy)."""
        so = self.peer.syncobj
        mine = self.peer.config.peer_address
        for _ in range(3):
            try:
                if so is not None:
                    return sorted(str(n.address) for n in tuple(so.otherNodes))
            except RuntimeError:  # the set changed while it was copied: read it again
                continue
        return [m for m in self.peer.config.members if m != mine]

    def propose(self, op: str, args: dict[str, Any], timeout: float) -> Any:
        """Propose a command from a worker thread and wait for the local replica's result."""
        if self.loop is None:
            raise NoQuorum("this peer is not running")
        future = asyncio.run_coroutine_threadsafe(self.peer.propose(op, args), self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise NoQuorum("no majority of the replica group answered; retry later") from None

    # -- requests to other members (worker threads) -----------------------------------------

    def _request(self, member: str, head: str, body: bytes = b"") -> tuple[list[str], bytes]:
        """One request to ``member``'s peer port: its answer line's words and the bytes after."""
        return photo_request(self._client_ctx, member, head, body)

    def spread(self, digest: str, ext: str, data: bytes) -> None:
        """Push a photo this replica holds to the other members until a majority of the
        group (this one included) holds it. Raises ``NoQuorum`` otherwise."""
        others = self.members()
        need = (len(others) + 1) // 2  # other holders needed for a majority with this one
        if need == 0:
            return
        head = f"PUT {digest} {ext} {len(data)}"
        jobs = [self._pushers.submit(self._request, m, head, data) for m in others]
        held = 0
        try:
            for job in as_completed(jobs, timeout=IO_SECONDS):
                try:
                    words, _ = job.result()
                except (OSError, ValueError, ssl.SSLError) as exc:
                    log.info("a member did not take photo %s: %s", digest[:12], exc)
                    continue
                if words[:1] == ["OK"]:
                    held += 1
                    if held >= need:
                        return
        except TimeoutError:
            pass
        raise NoQuorum("a majority of the replica group could not store the photo; retry later")

    def fetch(self, digest: str, ext: str, photos: ReplicaPhotos) -> bool:
        """Get a registered photo this replica lacks from another member; True once it is
        stored here (its bytes hash to ``digest``, its thumbnail made here)."""
        if photos.has(digest, ext):
            return True
        for member in self.members():
            try:
                words, data = self._request(member, f"GET {digest}")
            except (OSError, ValueError, ssl.SSLError) as exc:
                log.debug("member %s gave no photo %s: %s", member, digest[:12], exc)
                continue
            if words[:1] != ["OK"]:
                continue
            if words[1:2] != [ext] or hashlib.sha256(data).hexdigest() != digest:
                log.warning("member %s sent bytes that are not photo %s", member, digest[:12])
                continue
            try:
                photos.keep(data, ext, thumbnail_of(data))
            except InvalidRequest as exc:  # the registered bytes do not decode
                log.warning("photo %s cannot be decoded: %s", digest[:12], exc.message)
                continue
            self.fetched += 1
            return True
        return False

    # -- the background fetcher --------------------------------------------------------------

    def want(self, digest: str, photos: ReplicaPhotos) -> None:
        """Fetch ``digest`` in the background (a registered photo this replica lacks)."""
        with self._lock:
            if digest in self._pending:
                return
            self._pending.add(digest)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._fetch_all, name="photo-fetch", daemon=True
                )
                self._thread.start()
        self._wanted.put((digest, photos))

    def pending(self) -> int:
        """Registered photos this replica still lacks (being fetched)."""
        with self._lock:
            return len(self._pending)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no photo is pending (True), at most ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while self.pending() and time.monotonic() < end and not self._stopped.is_set():
            self._stopped.wait(0.05)
        return not self.pending()

    def _fetch_all(self) -> None:
        while not self._stopped.is_set():
            item = self._wanted.get()
            if item is None:
                return
            digest, photos = item
            ext = photos.registered.get(digest)
            try:
                done = ext is None or self.fetch(digest, ext, photos)
            except Exception:  # a disk error: logged, asked for again later
                log.exception("fetching photo %s failed", digest[:12])
                done = False
            if done:
                with self._lock:
                    self._pending.discard(digest)
                continue
            # No member could give it yet (all down, or still receiving it): again later.
            timer = threading.Timer(RETRY_FETCH_SECONDS, self._wanted.put, ((digest, photos),))
            timer.daemon = True
            timer.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wanted.put(None)
        self._pushers.shutdown(wait=False, cancel_futures=True)

    # -- answering other members (the peer's event loop) ------------------------------------

    async def serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, member: str
    ) -> None:
        """Answer one photo request of an authenticated member (``Tunnels.services``)."""
        try:
            line = await asyncio.wait_for(reader.readline(), IO_SECONDS)
            words = line.decode("ascii", "replace").split()
            answer = await self._answer(words, reader)
            writer.write(answer)
            await writer.drain()
        except (OSError, ConnectionError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            log.info("a photo request from %s failed", member)
        except Exception:  # the replica is not started yet, or a disk error: logged
            log.exception("answering a photo request from %s failed", member)
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, words: list[str], reader: asyncio.StreamReader) -> bytes:
        photos = self.peer.machine.house.photos
        if not isinstance(photos, ReplicaPhotos) or len(words) < 2:
            return b"NO\n"
        digest = words[1]
        try:
            check_digest(digest)
        except InvalidRequest:
            return b"NO not a digest\n"
        if words[0] == "GET" and len(words) == 2:
            found = await asyncio.to_thread(photos.read_local, digest)
            if found is None:
                return b"NO\n"
            data, ext = found
            return f"OK {ext} {len(data)}\n".encode() + data
        if words[0] == "PUT" and len(words) == 4 and words[2] in TYPES:
            size = int(words[3])
            if not 0 < size <= MAX_PHOTO_BYTES:
                return b"NO too large\n"
            data = await asyncio.wait_for(reader.readexactly(size), IO_SECONDS)
            if digest_of(data) != digest:
                return b"NO not its digest\n"
            try:
                await asyncio.to_thread(
                    lambda: (
                        photos.has(digest, words[2])
                        or photos.keep(data, words[2], thumbnail_of(data))
                    )
                )
            except InvalidRequest:
                return b"NO not a photo\n"
            return b"OK\n"
        return b"NO\n"


def photo_request(
    ctx: ssl.SSLContext, member: str, head: str, body: bytes = b""
) -> tuple[list[str], bytes]:
    """One photo request to ``member``'s peer port (worker thread): its answer line's words
    and the bytes after. ``member`` is ``HOST:PORT`` (a one-group peer: the connection opens
    with ``MAGIC``), ``GID@HOST:PORT`` (a ring peer's group: it names ``photo@GID`` after the
    handshake, tls.Tunnels.channels) or ``photo@HOST:PORT`` (a ring peer, any of its replicas:
    p2p/ring_photos.py). Raises OSError, ssl.SSLError, ValueError."""
    group, at, where = member.rpartition("@")
    host, _, port = where.rpartition(":")
    if not at:
        opener = MAGIC
    elif group == "photo":
        opener = b"photo\n"
    else:
        opener = f"photo@{group}\n".encode()
    with (
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.settimeout(IO_SECONDS)
        tls.sendall(opener + head.encode() + b"\n" + body)
        reader = tls.makefile("rb")
        words = reader.readline(256).decode("ascii", "replace").split()
        data = b""
        if words[:1] == ["OK"] and len(words) >= 3:
            size = int(words[2])
            if not 0 <= size <= MAX_PHOTO_BYTES:
                raise ValueError(f"a photo of {size} bytes")
            data = reader.read(size)
            if len(data) != size:
                raise ConnectionError("the photo was cut short")
        return words, data


class ReplicaPhotos(PhotoFiles):
    """A replica's photo files plus its registry (replicated state: which digests the group
    has registered, with their file type). ``find`` answers from the registry only, so every
    replica accepts the same auctions whatever files it holds yet; ``read`` serves a local
    file, or fetches a registered one first."""

    def __init__(self, root: Path, group: PhotoGroup | None) -> None:
        super().__init__(root)
        self.group = group
        self.registered: dict[str, str] = {}

    def register(self, digest: str, ext: str) -> None:
        self.registered[digest] = ext
        if self.group is not None and not self.has(digest, ext):
            self.group.want(digest, self)

    def has(self, digest: str, ext: str) -> bool:
        return self._exists(f"{digest}.{ext}") and self._exists(f"{digest}.{THUMB}")

    def keep(self, data: bytes, ext: str, thumb: bytes) -> bool:
        self.put(data, ext, thumb)
        return True

    def find(self, digest: str) -> tuple[str, str] | None:
        check_digest(digest)
        ext = self.registered.get(digest)
        return None if ext is None else (f"{digest}.{ext}", TYPES[ext])

    def read_local(self, digest: str) -> tuple[bytes, str] | None:
        """``(bytes, ext)`` of a photo file held here, whatever the registry says."""
        for ext in TYPES:
            data = self._read(f"{digest}.{ext}")
            if data is not None:
                return data, ext
        return None

    def read(self, digest: str, *, thumbnail: bool = False) -> tuple[bytes, str] | None:
        ext = self.registered.get(digest) if isinstance(digest, str) else None
        if ext is None:
            return None
        if not self.has(digest, ext) and (
            self.group is None or not self.group.fetch(digest, ext, self)
        ):
            return None
        return super().read(digest, thumbnail=thumbnail)


class ReplicaHouse(AuctionHouse):
    """The house a peer replicates, with photos: an upload is spread to a majority of the
    group and then registered through Raft (module docstring)."""

    group: PhotoGroup | None = None

    def add_photo(self, account_id: str, upload: bytes) -> dict[str, Any]:
        """As ``AuctionHouse.add_photo``; the rate limit is taken when the registration is
        applied (replicated state: never on one replica alone). Also raises ``NoQuorum``."""
        self._refuse_if_read_only()
        with self._lock:  # the account must exist; the decoding below runs unlocked
            self._account(account_id)
        photos, group = self.photos, self.group
        if not isinstance(photos, ReplicaPhotos) or group is None:
            raise InvalidRequest("this house keeps no photos")
        photo = prepare_photo(upload)
        digest = photos.put(photo.data, photo.ext, photo.thumbnail)
        group.spread(digest, photo.ext, photo.data)
        timeout = group.peer.config.write_timeout + 5.0
        registration = {"account_id": account_id, "digest": digest, "ext": photo.ext}
        group.propose("photo", registration, timeout)
        return {
            "photo": digest,
            "width": photo.width,
            "height": photo.height,
            "type": TYPES[photo.ext],
        }

    def register_photo(self, account_id: str, digest: str, ext: str) -> None:
        """Apply a committed registration (every replica alike): the account's rate limit,
        then the digest is one an auction may name. Raises NotFound, RateLimited,
        InvalidRequest."""
        account = self._account(account_id)
        self._account_limiter.take(account.id, self.clock.now(), "requests from your account")
        check_digest(digest)
        if ext not in TYPES:
            raise InvalidRequest(f"a photo is stored as one of {', '.join(TYPES)}")
        photos = self.photos
        if not isinstance(photos, ReplicaPhotos):
            raise InvalidRequest("this house keeps no photos")
        photos.register(digest, ext)


def apply_photo(house: AuctionHouse, args: dict[str, Any]) -> None:
    """The ``photo`` command on ``house`` (machine.py): only a replica house keeps photos."""
    if not isinstance(house, ReplicaHouse):
        raise InvalidRequest("this house keeps no photos")
    try:
        house.register_photo(str(args["account_id"]), str(args["digest"]), str(args["ext"]))
    except KeyError as exc:
        raise InvalidRequest(f"a photo registration lacks {exc}") from None


def attach(house: AuctionHouse, group: PhotoGroup | None, root: Path) -> None:
    """Give a replica's house (a ``ReplicaHouse``) its photo files in ``root`` and its group."""
    if isinstance(house, ReplicaHouse):
        house.group = group
        house.photos = ReplicaPhotos(root, group)
    else:
        house.photos = None
