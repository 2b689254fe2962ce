"""Per-address limits on a (one-group) peer count the client's own address, with real peer
processes: an account created through a follower knows its creator's address, so the owner
still logs in from there while guesses from elsewhere have the account throttled (as on an
embedded house; the replicated path once dropped the address)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from peer_helpers import PASSWORD, Cluster

pytestmark = pytest.mark.e2e
THROTTLE = {  # the account is throttled after 3 failures from unknown addresses
    "AUCTIONHOUSE_HOUSE_LOGIN_FREE_PER_ACCOUNT": "3",
    "AUCTIONHOUSE_HOUSE_LOGIN_FREE_PER_ADDRESS": "100",
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, 3)
    try:
        for peer in cluster.peers:
            peer.start(cluster.members, extra_env=THROTTLE)
        for peer in cluster.peers:
            peer.wait_up()
        cluster.wait_leader()
        yield cluster
    finally:
        cluster.stop()


def client(source: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30)


def test_the_creators_address_is_known_on_the_peer_that_took_the_account(
    cluster: Cluster,
) -> None:
    leader = cluster.wait_leader()
    follower = next(p for p in cluster.peers if p is not leader)
    owner, guesser = client("127.0.0.2"), client("127.0.0.3")
    with owner, guesser:
        body = {"name": "zed", "password": PASSWORD}
        r = owner.post(f"{follower.url}/api/v1/accounts", json=body)
        assert r.status_code == 201, r.text
        codes = []
        for _ in range(6):
            wrong = {"name": "zed", "password": "not it at all"}
            codes.append(guesser.post(f"{follower.url}/api/v1/sessions", json=wrong).status_code)
        assert codes[:3] == [401, 401, 401] and 429 in codes  # the account is throttled
        r = guesser.post(f"{follower.url}/api/v1/sessions", json=body)
        assert r.status_code == 429  # even with the password, from an unknown address
        r = owner.post(f"{follower.url}/api/v1/sessions", json=body)
        assert r.status_code == 201, r.text  # its creator's address is known there
