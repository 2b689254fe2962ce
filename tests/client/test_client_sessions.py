"""Logout and password change from the SDK and the CLI against a real house: tokens stop
working on the house at once (HTTP and the bid socket), the CLI forgets its token, and the
CLI never prints one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import http_helpers
from auctionhouse.client import Client
from auctionhouse.errors import Unauthorized

from .conftest import Cli, HouseProcess

pytestmark = pytest.mark.e2e
PASSWORD = "a long enough password"
NEW_PASSWORD = "another long password"


def status_with(house: str, token: str) -> int:
    r = http_helpers.get(f"{house}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


def test_sdk_logout_and_password_change(house_server: HouseProcess) -> None:
    url = house_server.url
    with Client(url) as seller, Client(url) as one, Client(url) as two:
        seller.create_account("sdk-seller", PASSWORD)
        seller.login("sdk-seller", PASSWORD)
        aid = seller.create_auction("lamp", "english", {"duration": 600, "min_increment": 1})["id"]
        one.create_account("sdk-ann", PASSWORD)
        one.login("sdk-ann", PASSWORD)
        two.login("sdk-ann", PASSWORD)
        assert one.bid(aid, 10, via="ws")["seq"] > 0
        assert two.bid(aid, 20, via="ws")["seq"] > 0

        # A password change ends every other session, its bid socket too; this one goes on.
        old = two.token
        assert old is not None
        fresh = one.change_password(PASSWORD, NEW_PASSWORD)
        assert one.token == fresh["token"] != old
        assert one.me()["id"] == "sdk-ann"
        assert status_with(url, old) == 401
        with pytest.raises(Unauthorized):
            two.bid(aid, 30, via="ws")
        with pytest.raises(Unauthorized):
            two.login("sdk-ann", PASSWORD)

        # Logout: the token is dead on the house, and the client forgets it.
        token = one.token
        assert token is not None
        assert one.logout() == {"revoked": 1}
        assert one.token is None and status_with(url, token) == 401
        with pytest.raises(Unauthorized):
            one.me()
        # Everywhere: every session of the account.
        two.login("sdk-ann", NEW_PASSWORD)
        one.login("sdk-ann", NEW_PASSWORD)
        kept = one.token
        assert kept is not None
        assert two.logout(everywhere=True) == {"revoked": 2}
        assert status_with(url, kept) == 401


def test_cli_logout_and_password_change(house_server: HouseProcess, tmp_path: Path) -> None:
    cli = Cli(house_server.url, tmp_path / "cfg")
    cli.ok("account", "create", "cli-ann", "--password-stdin", "--no-key", input=PASSWORD + "\n")
    credentials = tmp_path / "cfg" / "credentials.json"

    def stored_token() -> str | None:
        data = json.loads(credentials.read_text())
        token: str | None = data["houses"][house_server.url]["accounts"]["cli-ann"]["token"]
        return token

    out = cli.ok("login", "cli-ann", "--password-stdin", "--json", input=PASSWORD + "\n")
    token = stored_token()
    assert token is not None and token not in out and "expires_at" in json.loads(out)

    said = cli.ok("account", "password", "--password-stdin", input=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert "changed the password" in said
    fresh = stored_token()
    assert fresh is not None and fresh != token and fresh not in said
    assert status_with(house_server.url, token) == 401
    assert json.loads(cli.ok("account", "show", "--json"))["id"] == "cli-ann"
    wrong = cli.run("account", "password", "--password-stdin", input=f"{PASSWORD}\nwhatever12\n")
    assert wrong.returncode == 2 and "unauthorized" in wrong.stderr
    assert PASSWORD not in wrong.stderr + wrong.stdout

    said = cli.ok("logout")
    assert "logged out cli-ann" in said and fresh not in said
    assert stored_token() is None
    assert status_with(house_server.url, fresh) == 401
    shown = cli.run("account", "show")
    assert shown.returncode == 2 and "unauthorized" in shown.stderr
    # Logging out again (nothing stored) is a clear error, not a crash.
    again = cli.run("logout")
    assert again.returncode == 2 and "unauthorized" in again.stderr


def test_a_house_url_with_credentials_is_refused_without_echoing_them() -> None:
    from auctionhouse.client import normalize_house
    from auctionhouse.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as info:
        normalize_house("http://ann:hunter2-secret@127.0.0.1:8000")
    assert "hunter2-secret" not in str(info.value)
