"""No secret in any log line, URL, metric label or error message.

A real ``auctionhouse serve`` at log level debug and trace (uvicorn's access log, its WebSocket
"[accepted]" lines, the frames and the ASGI messages on) goes through sign-ups, logins, wrong and malformed passwords, signed
bids, the page's WebSocket flow, an old client's ``?token=`` URL, a password change and a
logout; then its whole stdout/stderr, the answers and ``/metrics`` are searched for every
secret used."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets
from nacl.signing import SigningKey
from server_helpers import free_port, signed_bid, write_config, ws_auth, ws_until

import http_helpers
from auctionhouse.server.redact import RedactingFilter, redact_text
from free_ports import wait_listening

pytestmark = pytest.mark.e2e

PASSWORD = "Tr0ub4dor-and-3-horses"
NEW_PASSWORD = "correct-horse-battery-staple-2"
WRONG = "guess-W7rong-Pa55word"
SHORT = "s3cr7!"  # too short for a new account: refused without being echoed


def start(tmp: Path, level: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp / "serve.log"
    config = write_config(tmp / "house.toml")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "auctionhouse",
            "serve",
            "--db",
            str(tmp / "house.db"),
            "--port",
            str(port),
            "--config",
            str(config),
            "--log-level",
            level,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_listening(proc, log)  # a reserved port; the house is open once it listens
    return proc, f"http://127.0.0.1:{port}", log


@pytest.mark.parametrize("level", ["debug", "trace"])
def test_no_secret_reaches_a_log_a_url_a_label_or_an_answer(tmp_path: Path, level: str) -> None:
    proc, url, log = start(tmp_path, level)
    answers: list[str] = []
    key = SigningKey.generate()
    secrets = [PASSWORD, NEW_PASSWORD, WRONG, SHORT, key.encode().hex()]
    try:
        with http_helpers.client(base_url=url, timeout=10) as http:

            def call(method: str, path: str, **kw: object) -> httpx.Response:
                r = http.request(method, path, **kw)  # type: ignore[arg-type]
                if r.status_code >= 400 or path == "/metrics":  # not the token a login issues
                    answers.append(r.text)
                return r

            public = key.verify_key.encode().hex()
            assert (
                call(
                    "POST",
                    "/api/v1/accounts",
                    json={"name": "alice", "password": PASSWORD, "public_key": public},
                ).status_code
                == 201
            )
            call("POST", "/api/v1/accounts", json={"name": "seller", "password": PASSWORD})
            r = call("POST", "/api/v1/accounts", json={"name": "bob", "password": SHORT})
            assert r.status_code == 400
            r = call("POST", "/api/v1/sessions", json={"name": "alice", "password": WRONG})
            assert r.status_code == 401
            r = call("POST", "/api/v1/sessions", json={"name": WRONG, "password": WRONG})
            assert r.status_code == 401
            r = call("POST", "/api/v1/sessions", json={"name": "alice", "password": [WRONG]})
            assert r.status_code == 400
            token = call(
                "POST", "/api/v1/sessions", json={"name": "alice", "password": PASSWORD}
            ).json()["token"]
            seller = call(
                "POST", "/api/v1/sessions", json={"name": "seller", "password": PASSWORD}
            ).json()["token"]
            secrets += [token, seller]
            auth = {"Authorization": f"Bearer {token}"}
            aid = call(
                "POST",
                "/api/v1/auctions",
                json={"item": {"name": "lamp"}, "method": "english", "rules": {"duration": 600}},
                headers={"Authorization": f"Bearer {seller}"},
            ).json()["id"]
            body = signed_bid(key, "alice", aid, 100, 1, time.time())
            assert (
                call("POST", f"/api/v1/auctions/{aid}/bids", json=body, headers=auth).status_code
                == 201
            )
            # Malformed credentials: a token with junk, a wrong scheme; both refused, unechoed.
            r = call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}x"})
            assert r.status_code == 401
            r = call("GET", "/api/v1/me", headers={"Authorization": f"Basic {token}"})
            assert r.status_code == 401
            # Secrets in a URL are refused (and the log shows [redacted], never the value).
            for query in (f"token={token}", f"password={PASSWORD}", f"access_token={token}"):
                r = call("GET", f"/api/v1/me?{query}")
                assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"

            async def sockets() -> None:
                ws_url = url.replace("http", "ws") + "/api/v1/ws"
                # The page's way: no token in the URL, the first message authenticates.
                async with websockets.connect(ws_url) as ws:
                    await ws_auth(ws, token)
                    body = signed_bid(key, "alice", aid, 200, 2, time.time())
                    await ws.send(json.dumps({"op": "bid", "id": 1, "auction": aid, **body}))
                    ack, _ = await ws_until(ws, lambda m: m.get("id") == 1)
                    assert ack["type"] == "ack"
                    await ws.send(json.dumps({"op": "auth", "token": token + "x", "id": 2}))
                    err, _ = await ws_until(ws, lambda m: m.get("id") == 2)
                    answers.append(json.dumps(err))
                # An old client's URL token: refused with 4001, never used, never logged.
                async with websockets.connect(f"{ws_url}?token={token}") as old:
                    err, _ = await ws_until(old, lambda m: m["type"] == "error")
                    assert "URL" in err["error"]["message"]
                    with pytest.raises(websockets.ConnectionClosed):
                        await asyncio.wait_for(old.recv(), 5)
                    assert old.close_code == 4001

            asyncio.run(sockets())
            change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            r = call("PUT", "/api/v1/me/password", json=change, headers=auth)
            assert r.status_code == 200
            fresh = r.json()["token"]
            secrets.append(fresh)
            bad_change = {"current_password": WRONG, "new_password": NEW_PASSWORD}
            r = call(
                "PUT",
                "/api/v1/me/password",
                json=bad_change,
                headers={"Authorization": f"Bearer {fresh}"},
            )
            assert r.status_code == 401
            r = call(
                "DELETE", "/api/v1/sessions/current", headers={"Authorization": f"Bearer {fresh}"}
            )
            assert r.status_code == 200
            metrics = call("GET", "/metrics").text
            assert 'auctionhouse_logins_total{result="unauthorized"}' in metrics
            assert len(answers) >= 12
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    text = log.read_text(errors="replace")
    # The log is really on: uvicorn's WebSocket line and the access log are there...
    assert '"WebSocket /api/v1/ws" [accepted]' in text
    assert "token=[redacted]" in text and "GET /api/v1/me?" in text
    assert "POST /api/v1/sessions" in text
    # ... and not one secret, in the log or in any answer.
    for secret in secrets:
        assert secret not in text, f"a secret reached the server log: {secret[:4]}..."
        for answer in answers:
            assert secret not in answer, f"a secret was echoed in an answer: {secret[:4]}..."


def test_the_log_filter_redacts_what_slips_through() -> None:
    assert redact_text("GET /a?x=1&token=abc.DEF-123&y=2") == "GET /a?x=1&token=[redacted]&y=2"
    assert redact_text("auth: Bearer abcdefgh12345678") == "auth: Bearer [redacted]"
    assert redact_text('"WebSocket /api/v1/ws?Password=hunter22"') == (
        '"WebSocket /api/v1/ws?Password=[redacted]"'
    )
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s"',
        ("1.2.3.4", "/ws?token=s3cret"),
        None,
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == '1.2.3.4 - "WebSocket /ws?token=[redacted]"'
