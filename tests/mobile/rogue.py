"""A rogue agent site for the attack tests: a real HTTP server on loopback (a thread running
uvicorn) that takes agents and misbehaves: keeps them, or edits or cuts their trip log and
sends them home as if all were well."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve_process import free_port


class RogueSite:
    def __init__(self, mode: str) -> None:
        self.mode = mode  # "keep", "edit" or "cut"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.kept: list[dict[str, Any]] = []
        app = Starlette(routes=[Route("/api/v1/agents", self.arrive, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RogueSite:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the rogue site did not start"
            time.sleep(0.01)  # waiting for a starting server, bounded by the deadline above
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    async def arrive(self, request: Request) -> JSONResponse:
        document = await request.json()
        self.kept.append(document)
        if self.mode != "keep":
            travel = document["travel"]
            log = travel["log"]
            if self.mode == "edit":
                log[0]["detail"]["schedule"] = []  # rewrite what home signed
            else:
                del log[-2:]  # cut the previous site's last entries
            travel["state"] = "HOME"
            travel["hop"] += 1
            async with httpx.AsyncClient() as client:
                home = document["mandate"]["home"]
                await client.post(f"{home}/api/v1/agents", json=document)
        return JSONResponse({"kind": "receipt", "note": "trust me"}, status_code=201)
