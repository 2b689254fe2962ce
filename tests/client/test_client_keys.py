"""Key files (0600 PEM, refused when others may read them) and nonces that never repeat."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from nacl.signing import VerifyKey

from auctionhouse.client import BidKey, NonceCounter
from auctionhouse.errors import ConfigError, Conflict
from auctionhouse.house.signing import bid_message


def test_generated_key_file_is_owner_only_pem(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "alice.pem"
    key = BidKey.generate(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")
    loaded = BidKey.load(path)
    assert loaded.public_key == key.public_key
    assert len(key.public_key) == 64


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.pem"
    BidKey.generate(path)
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        BidKey.load(path)


def test_generate_never_overwrites_a_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    first = BidKey.generate(path)
    with pytest.raises(Conflict):
        BidKey.generate(path)
    assert BidKey.load(path).public_key == first.public_key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_bad_key_files_are_config_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "k.pem"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(ConfigError):
        BidKey.load(path)


def test_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no key file"):
        BidKey.load(tmp_path / "absent.pem")


def test_signature_verifies_over_the_canonical_bid_bytes() -> None:
    key = BidKey.generate()
    signature = key.sign_bid("7", "alice", 1200, 5, 1000.5, proxy_max=2000)
    message = bid_message("7", "alice", 1200, 5, 1000.5, 2000)
    VerifyKey(bytes.fromhex(key.public_key)).verify(message, bytes.fromhex(signature))


def test_openssl_reads_our_key_and_we_read_its_keys(tmp_path: Path) -> None:
    ours = tmp_path / "ours.pem"
    key = BidKey.generate(ours)
    message = tmp_path / "msg"
    message.write_bytes(bid_message("1", "bob", 10, 1, 5))
    sig = subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", str(ours), "-in", str(message)],
        check=True,
        capture_output=True,
    ).stdout
    # Ed25519 is deterministic: the same key and message give the same signature.
    assert sig.hex() == key.sign_bid("1", "bob", 10, 1, 5)
    theirs = tmp_path / "theirs.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(theirs)], check=True)
    theirs.chmod(0o600)
    pub = subprocess.run(
        ["openssl", "pkey", "-in", str(theirs), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    assert BidKey.load(theirs).public_key == pub[-32:].hex()


def test_nonces_grow_strictly_and_persist(tmp_path: Path) -> None:
    path = tmp_path / "k.pem.nonce"
    first = [NonceCounter(path).next() for _ in range(50)]
    assert first == sorted(set(first))
    assert path.stat().st_mode & 0o777 == 0o600
    again = NonceCounter(path).next()
    assert again > first[-1]


def test_a_counter_ahead_of_the_clock_still_grows(tmp_path: Path) -> None:
    path = tmp_path / "k.pem.nonce"
    far = 10**17
    path.write_text(f"{far}\n")
    assert NonceCounter(path).next() == far + 1
    assert NonceCounter(path).next() == far + 2


def test_a_lost_counter_file_still_gives_larger_nonces(tmp_path: Path) -> None:
    path = tmp_path / "k.pem.nonce"
    before = NonceCounter(path).next()
    path.unlink()
    assert NonceCounter(path).next() > before


_DRAW = """
import sys
from pathlib import Path
from auctionhouse.client import NonceCounter
counter = NonceCounter(Path(sys.argv[1]))
print("\\n".join(str(counter.next()) for _ in range(int(sys.argv[2]))))
"""


def test_two_processes_at_once_never_share_a_nonce(tmp_path: Path) -> None:
    path = tmp_path / "k.pem.nonce"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _DRAW, str(path), "300"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    drawn = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        drawn.append([int(line) for line in out.split()])
    for seq in drawn:
        assert seq == sorted(seq) and len(set(seq)) == len(seq)
    assert not set(drawn[0]) & set(drawn[1])
    assert int(path.read_text()) == max(drawn[0] + drawn[1])
