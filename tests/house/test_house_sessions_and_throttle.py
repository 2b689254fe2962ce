"""Sessions end (expiry, logout, logout everywhere, password change), and failed logins are
throttled per address and per account with a growing backoff that never locks an owner out
for good. All on the house's FakeClock."""

from __future__ import annotations

from pathlib import Path

import pytest

from auctionhouse.errors import AuctionhouseError, LoginThrottled
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig

PASSWORD = "correct horse"


def code_of(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(AuctionhouseError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value.code


def throttled_for(fn: object, *args: object) -> float:
    with pytest.raises(LoginThrottled) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.code == "login_throttled"
    return info.value.retry_after


@pytest.fixture
def h(tmp_path: Path, clock: FakeClock) -> AuctionHouse:
    config = HouseConfig.for_tests(
        token_ttl_seconds=3.0,
        login_free_per_address=3,
        login_free_per_account=5,
        login_max_backoff_address_seconds=300.0,
        login_max_backoff_account_seconds=60.0,
        login_forget_seconds=900.0,
    )
    house = AuctionHouse.open(tmp_path / "h.db", config=config, clock=clock)
    house.create_account("alice", PASSWORD)
    house.create_account("bob", PASSWORD)
    return house


def test_a_session_expires_on_the_house_clock(h: AuctionHouse, clock: FakeClock) -> None:
    token = h.login("alice", PASSWORD)
    session = h.session(token)
    assert session.expires_at == clock.now() + 3.0 and token not in repr(session)
    assert h.session_alive(session.digest)
    clock.advance(2.999)
    assert h.authenticate(token).id == "alice"
    clock.advance(0.001)
    assert code_of(h.authenticate, token) == "unauthorized"
    assert not h.session_alive(session.digest)


def test_logout_and_logout_everywhere_revoke_at_once(h: AuctionHouse, tmp_path: Path) -> None:
    first, second, third = (h.login("alice", PASSWORD) for _ in range(3))
    bobs = h.login("bob", PASSWORD)
    gone = h.logout(first)
    assert gone is not None and gone.account_id == "alice"
    assert code_of(h.authenticate, first) == "unauthorized"
    assert h.logout(first) is None  # twice: nothing left to revoke
    assert h.authenticate(second).id == "alice"
    assert h.logout_everywhere("alice") == 2
    for token in (second, third):
        assert code_of(h.authenticate, token) == "unauthorized"
    assert h.authenticate(bobs).id == "bob"
    # Revocation is durable: a reopened house does not bring the sessions back.
    h.close()
    again = AuctionHouse.open(tmp_path / "h.db", config=h.config, clock=h.clock)
    assert code_of(again.authenticate, second) == "unauthorized"
    assert again.authenticate(bobs).id == "bob"


def test_a_password_change_revokes_every_session(h: AuctionHouse) -> None:
    old = [h.login("alice", PASSWORD) for _ in range(2)]
    assert code_of(h.change_password, "alice", "wrong one", "new password 1") == "unauthorized"
    assert all(h.authenticate(t).id == "alice" for t in old)  # a wrong current changes nothing
    assert code_of(h.change_password, "alice", PASSWORD, "short") == "invalid_request"
    fresh = h.change_password("alice", PASSWORD, "new password 1")
    assert h.authenticate(fresh).id == "alice"
    for token in old:
        assert code_of(h.authenticate, token) == "unauthorized"
    assert code_of(h.login, "alice", PASSWORD) == "unauthorized"
    assert h.authenticate(h.login("alice", "new password 1")).id == "alice"
    assert h.accounts.verify_all(strict=False) == []  # the changed row is sealed anew


def test_failed_logins_from_an_address_back_off_growing(h: AuctionHouse, clock: FakeClock) -> None:
    ip = "203.0.113.7"
    for _ in range(3):  # the free failures
        assert code_of(h.login, "alice", "guess", ip) == "unauthorized"
    waits = []
    for _ in range(5):
        assert code_of(h.login, "bob", "guess", ip) == "unauthorized"  # any account counts
        waits.append(throttled_for(h.login, "bob", PASSWORD, ip))  # even the right password
        clock.advance(waits[-1])
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]
    # The other accounts' owners elsewhere are untouched.
    assert h.authenticate(h.login("bob", PASSWORD, "198.51.100.1")).id == "bob"
    # A blocked address costs no password work: its refusal comes before argon2.
    assert code_of(h.login, "alice", "guess", ip) == "unauthorized"
    assert throttled_for(h.check_login, "alice", ip) == 32.0
    # Quiet for login_forget_seconds: forgotten.
    clock.advance(900.0)
    assert h.authenticate(h.login("alice", PASSWORD, ip)).id == "alice"


def test_many_addresses_guessing_one_account_never_lock_its_owner_out(
    h: AuctionHouse, clock: FakeClock
) -> None:
    home = "192.0.2.10"
    h.login("alice", PASSWORD, home)  # the owner's usual address becomes known
    botnet = [f"203.0.113.{i}" for i in range(1, 60)]
    waits = []
    for i, ip in enumerate(botnet):
        try:
            h.login("alice", f"guess {i}", ip)
        except LoginThrottled as exc:
            waits.append(exc.retry_after)
            clock.advance(exc.retry_after)
        except AuctionhouseError as exc:
            assert exc.code == "unauthorized"
    # Five free failures, then 1, 2, 4, ... seconds, capped at 60: never a lockout for good.
    assert waits[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert max(waits) == 60.0
    clock.advance(60.0)  # the attack goes on: one more failure blocks the account again
    assert code_of(h.login, "alice", "one more guess", "203.0.113.250") == "unauthorized"
    assert throttled_for(h.login, "alice", PASSWORD, "198.51.100.9") > 0  # a new address waits
    # ... but the owner, from where they logged in before, logs in during the attack.
    assert h.authenticate(h.login("alice", PASSWORD, home)).id == "alice"
    # And once the attack stops, the longest wait for anyone is the cap.
    clock.advance(60.0)
    assert h.authenticate(h.login("alice", PASSWORD, "198.51.100.9")).id == "alice"


def test_an_attackers_own_good_logins_do_not_reset_the_address(
    h: AuctionHouse, clock: FakeClock
) -> None:
    ip = "203.0.113.99"
    for _ in range(3):
        code_of(h.login, "alice", "guess", ip)
    h.login("Bob", PASSWORD, ip)  # the attacker's own account (names are normalised)
    assert code_of(h.login, "alice", "guess", ip) == "unauthorized"
    assert throttled_for(h.check_login, "alice", ip) == 1.0


def test_throttle_memory_is_bounded() -> None:
    from auctionhouse.house.limits import LoginThrottle

    throttle = LoginThrottle(max_keys=100)
    for i in range(10_000):
        throttle.failed(f"name{i}", f"10.0.{i // 256}.{i % 256}", float(i))
        throttle.succeeded(f"name{i}", f"10.1.{i // 256}.{i % 256}", float(i))
    assert len(throttle._addresses) <= 100 and len(throttle._accounts) <= 100
    assert len(throttle._known) <= 100


def test_the_house_file_with_password_hashes_is_owner_only(h: AuctionHouse, tmp_path: Path) -> None:
    h.login("alice", PASSWORD)
    for name in ("h.db", "h.db-wal", "h.db.key"):
        path = tmp_path / name
        if path.exists():
            assert path.stat().st_mode & 0o077 == 0, name


def test_the_address_that_creates_an_account_is_known_to_the_throttle(h: AuctionHouse) -> None:
    h.create_account("carol", PASSWORD, address="192.0.2.55")
    assert h.login_is_known("carol", "192.0.2.55")
    assert not h.login_is_known("carol", "192.0.2.56")
