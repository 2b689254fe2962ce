"""Photos on a ring of peers (``peer --ring``): decision 0025's registration-in-the-log, bytes
beside it, per group, plus what a ring needs because an upload and the auction that names it
may land in different groups.

- **Upload** through any peer: as on a one-group peer (``photos.ReplicaHouse.add_photo``), in
  one group this peer is in: the bytes go to a majority of that group, then the registration
  is committed there.
- **An auction naming a photo** is placed by the directory in some group ``g``. Before its
  ``create_auction`` is proposed there, each named photo ``g`` has not registered is brought
  to ``g`` (``into_group``): its bytes are found on this peer's replicas or asked of the ring's
  peers (any replica of theirs; checked against the digest), pushed to a majority of ``g``'s
  members (``photo@g`` channel), then registered in ``g`` through its log. So decision 0025's
  rule holds per group: an auction of ``g`` only names a photo a majority of ``g`` keeps.
- **Catch-up** in each group is decision 0025's: a replica applying a registration without the
  file fetches it from its group's members (``photo@g``), before it audits its own ledger.
- **Reading** through any peer (``read``): from a replica here that registered it (fetched
  from its group first if missing), else from any peer of the ring, checked against the
  digest; a thumbnail is then made here from the checked bytes.

The ring-level channel (``photo`` after the TLS handshake) answers ``GET digest`` from any of
the peer's replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
from typing import TYPE_CHECKING, Any

from auctionhouse.errors import InvalidRequest, NoQuorum, NotFound
from auctionhouse.house.photos import thumbnail_of
from auctionhouse.ledger.photos import TYPES, check_digest
from auctionhouse.p2p import ring
from auctionhouse.p2p.photos import IO_SECONDS, ReplicaPhotos, photo_request

if TYPE_CHECKING:
    from auctionhouse.p2p.groups import RingPeer

log = logging.getLogger("auctionhouse.p2p")

CHANNEL = "photo"


class RingPhotos:
    def __init__(self, peer: RingPeer) -> None:
        from auctionhouse.p2p.tls import contexts

        self.peer = peer
        self._ctx = contexts(peer.files)[1]
        self.brought = 0  # photos this peer brought to another group (status)

    def _replicas(self) -> list[tuple[str, ReplicaPhotos]]:
        out = []
        for gid, node in sorted(self.peer.nodes.items()):
            if gid == ring.DIRECTORY or node.syncobj is None:
                continue
            photos = node.machine.house.photos
            if isinstance(photos, ReplicaPhotos):
                out.append((gid, photos))
        return out

    def local(self, digest: str) -> tuple[bytes, str] | None:
        """``(bytes, ext)`` held by any replica of this peer (worker thread)."""
        for _, photos in self._replicas():
            found = photos.read_local(digest)
            if found is not None:
                return found
        return None

    def from_ring(self, digest: str) -> tuple[bytes, str] | None:
        """``(bytes, ext)`` from here or any peer of the ring, checked against the digest
        (worker thread); None when nobody holds it."""
        found = self.local(digest)
        if found is not None:
            return found
        me = self.peer.config.address
        for peer in list(self.peer.directory.peers):
            if peer == me:
                continue
            try:
                words, data = photo_request(self._ctx, f"{CHANNEL}@{peer}", f"GET {digest}")
            except (OSError, ValueError, ssl.SSLError) as exc:
                log.debug("peer %s gave no photo %s: %s", peer, digest[:12], exc)
                continue
            if words[:1] != ["OK"] or words[1:2] == [] or words[1] not in TYPES:
                continue
            if hashlib.sha256(data).hexdigest() != digest:
                log.warning("peer %s sent bytes that are not photo %s", peer, digest[:12])
                continue
            return data, words[1]
        return None

    def _place(self, gid: str, digest: str, data: bytes, ext: str) -> None:
        """Store the photo on a majority of group ``gid``'s members (worker thread). Raises
        NoQuorum."""
        members = list(self.peer.directory.groups.get(gid, []))
        need = len(members) // 2 + 1
        held = 0
        me = self.peer.config.address
        thumb = thumbnail_of(data)
        for member in members:
            if member == me:
                node = self.peer.nodes.get(gid)
                photos = node.machine.house.photos if node is not None else None
                if isinstance(photos, ReplicaPhotos):
                    if not photos.has(digest, ext):
                        photos.keep(data, ext, thumb)
                    held += 1
            else:
                held += self._push(gid, member, digest, data, ext)
            if held >= need:
                return
        raise NoQuorum(f"a majority of group {gid} could not store the photo; retry later")

    def _push(self, gid: str, member: str, digest: str, data: bytes, ext: str) -> int:
        """1 if ``member`` of ``gid`` now holds the photo, else 0 (worker thread)."""
        head = f"PUT {digest} {ext} {len(data)}"
        try:
            words, _ = photo_request(self._ctx, f"{gid}@{member}", head, data)
        except (OSError, ValueError, ssl.SSLError) as exc:
            log.info("member %s of %s did not take photo %s: %s", member, gid, digest[:12], exc)
            return 0
        return 1 if words[:1] == ["OK"] else 0

    def _registered_in(self, gid: str, digest: str) -> bool:
        node = self.peer.nodes.get(gid)
        if node is None or node.syncobj is None:
            return False
        photos = node.machine.house.photos
        return isinstance(photos, ReplicaPhotos) and digest in photos.registered

    async def into_group(self, gid: str, account_id: str, digests: Any) -> None:
        """Bring every photo in ``digests`` to group ``gid`` before an auction of ``gid``
        names them (see module). A photo nobody holds is left for ``create_auction`` to refuse
        (``photo ... was not uploaded``). Raises NoQuorum."""
        if not isinstance(digests, list | tuple):
            return
        for digest in digests:
            if not isinstance(digest, str) or self._registered_in(gid, digest):
                continue
            try:
                check_digest(digest)
            except InvalidRequest:
                continue  # the house refuses it, with its field
            found = await asyncio.to_thread(self.from_ring, digest)
            if found is None:
                continue
            data, ext = found
            await asyncio.to_thread(self._place, gid, digest, data, ext)
            registration = {"account_id": account_id, "digest": digest, "ext": ext}
            await self.peer.propose_in(gid, "photo", registration)
            self.brought += 1

    def read(self, digest: str, *, thumbnail: bool = False) -> tuple[bytes, str]:
        """A photo's bytes and media type through this peer (worker thread). Raises NotFound."""
        for _, photos in self._replicas():
            if digest in photos.registered:
                found = photos.read(digest, thumbnail=thumbnail)
                if found is not None:
                    return found
        got = self.from_ring(digest)
        if got is None:
            raise NotFound(f"no photo {digest[:64]!r}")
        data, ext = got
        if thumbnail:
            return thumbnail_of(data), TYPES["webp"]
        return data, TYPES[ext]

    async def serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, member: str
    ) -> None:
        """Answer ``GET digest`` from any replica of this peer (``tls.Tunnels.channels``)."""
        try:
            line = await asyncio.wait_for(reader.readline(), IO_SECONDS)
            words = line.decode("ascii", "replace").split()
            answer = b"NO\n"
            if len(words) == 2 and words[0] == "GET":
                with contextlib.suppress(InvalidRequest):
                    check_digest(words[1])
                    found = await asyncio.to_thread(self.local, words[1])
                    if found is not None:
                        data, ext = found
                        answer = f"OK {ext} {len(data)}\n".encode() + data
            writer.write(answer)
            await writer.drain()
        except (OSError, TimeoutError, ValueError):
            log.info("a ring photo request from %s failed", member)
        finally:
            with contextlib.suppress(Exception):
                writer.close()
