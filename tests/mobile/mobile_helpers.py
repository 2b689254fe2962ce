"""Shared set-up for the mobile agent tests: real houses on loopback, each an agent site."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

import http_helpers
from auctionhouse.client.keys import BidKey
from auctionhouse.mobile.owner import build_mandate
from auctionhouse.mobile.travel import RECEIPT_CONTEXT, new_travel, statement_holds
from serve_process import ServeProcess, free_port

PASSWORD = "mobile-test-password"
FAST_SITE = {"move_timeout": 5, "overdue_grace": 0.5}  # a loaded site may answer slowly


def policy_toml(policy: dict[str, Any]) -> str:
    lines = ["[agents]"]
    for key, value in policy.items():
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n[house]\naddress_rate = 100000\naddress_burst = 100000\n"


class Site:
    """A real ``auctionhouse serve`` with an [agents] policy, and a seller account on it."""

    def __init__(
        self,
        tmp: Path,
        name: str,
        policy: dict[str, Any] | None = None,
        *,
        database_url: str | None = None,
        key_file: Path | None = None,
    ) -> None:
        """``database_url``: an instance of the shared house there (every instance needs the
        same ``key_file``), its data directory (home's records) in its own directory."""
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "house.toml"
        self.policy = dict(policy or {})
        self.key_file = key_file
        self.db: Path | str = database_url or self.dir / "house.db"
        env = {"AUCTIONHOUSE_CONFIG": str(self.config), "XDG_DATA_HOME": str(self.dir / "data")}
        self.proc = ServeProcess(self.db, self.dir / "house.log", env)  # type: ignore[arg-type]
        self.url = self.proc.url
        self.token: str | None = None

    def start(self) -> Site:
        top = f'key_file = "{self.key_file}"\n' if self.key_file is not None else ""
        self.config.write_text(top + policy_toml({**FAST_SITE, **self.policy}))
        self.proc.start()
        return self

    def info(self) -> dict[str, Any]:
        return dict(http_helpers.get(f"{self.url}/api/v1/agents/site").json())

    def stop(self) -> None:
        self.proc.stop()

    def seller(self, name: str = "seller") -> str:
        http_helpers.post(f"{self.url}/api/v1/accounts", json={"name": name, "password": PASSWORD})
        answer = http_helpers.post(
            f"{self.url}/api/v1/sessions", json={"name": name, "password": PASSWORD}
        )
        self.token = answer.json()["token"]
        return self.token

    def auction(self, item: str, method: str, **rules: Any) -> dict[str, Any]:
        if self.token is None:
            self.seller()
        answer = http_helpers.post(
            f"{self.url}/api/v1/auctions",
            json={"item": {"name": item}, "method": method, "rules": rules},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def view(self, auction_id: str) -> dict[str, Any]:
        return dict(http_helpers.get(f"{self.url}/api/v1/auctions/{auction_id}").json())


def dead_url() -> str:
    """A loopback URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def start_all(*group: Site) -> None:
    """Start the sites at once (each start waits for its house to answer)."""
    with ThreadPoolExecutor(2) as pool:  # two cores
        for future in [pool.submit(site.start) for site in group]:
            future.result()


@contextmanager
def sites(tmp: Path, *policies: dict[str, Any] | None) -> Iterator[list[Site]]:
    group = [Site(tmp, f"site{n}", policy) for n, policy in enumerate(policies)]
    try:
        start_all(*group)
        yield group
    finally:
        for site in group:
            site.stop()


def mandate_for(tmp: Path, home: str, schedule: list[str], **fields: Any) -> tuple[dict, BidKey]:
    data: dict[str, Any] = {
        "home": home,
        "key_file": str(tmp / "owner.pem"),
        "create_key": True,
        "item": "antique*",
        "site_cap": 50_000,
        "budget": 80_000,
        "return_in": 30,
        "schedule": schedule,
    }
    data.update(fields)
    return build_mandate(data, now=time.time())


def launch(home: str, mandate: dict[str, Any]) -> httpx.Response:
    document = {"mandate": mandate, "travel": new_travel(tuple(mandate["schedule"]))}
    return http_helpers.post(f"{home}/api/v1/agents", json=document)


def record(home: str, agent: str) -> dict[str, Any]:
    return dict(http_helpers.get(f"{home}/api/v1/agents/{agent}").json())


def wait_record(
    home: str, agent: str, done: Callable[[dict[str, Any]], bool], deadline: float = 20.0
) -> dict[str, Any]:
    """Poll home's record until ``done`` holds (bounded by ``deadline`` seconds)."""
    end = time.monotonic() + deadline
    last: dict[str, Any] = {}
    while time.monotonic() < end:
        last = record(home, agent)
        if done(last):
            return last
        time.sleep(0.05)  # polling a remote record, bounded by the deadline above
    raise AssertionError(f"agent {agent} did not get there in {deadline} s: {last}")


def document(mandate: dict[str, Any], hop: int = 1) -> dict[str, Any]:
    """An agent document as a site sends it on (MOVING, on ``hop``)."""
    travel = new_travel(tuple(mandate["schedule"]))
    travel.update(state="MOVING", hop=hop)
    return {"mandate": mandate, "travel": travel}


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The refusal's body, once its status, code and signature are checked."""
    assert answer.status_code == status, answer.text
    body = dict(answer.json())
    assert body["error"]["code"] == code
    assert statement_holds(RECEIPT_CONTEXT, body["refusal"])  # signed by the refusing site
    return body


def home_again(rec: dict[str, Any]) -> bool:
    return rec.get("status") == "home"
