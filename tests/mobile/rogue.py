"""A rogue agent site for the attack tests: a real HTTP server on loopback (a thread running
uvicorn) that takes agents and misbehaves: keeps them, or edits or cuts their trip log and
sends them home as if all were well; or, "slow", keeps them but answers the first delivery
after ``delay`` seconds (a loaded site) and a repeated hop with ``replayed_hop``, as a real
site does."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import http_helpers
from serve_process import free_port


class RogueSite:
    def __init__(self, mode: str, delay: float = 0.0) -> None:
        self.mode = mode  # "keep", "edit", "cut" or "slow"
        self.delay = delay
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.kept: list[dict[str, Any]] = []
        app = Starlette(routes=[Route("/api/v1/agents", self.arrive, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RogueSite:
        self.thread.start()
        deadline = time.monotonic() + 60  # generous: a loaded machine is slow
        while not self.server.started:
            assert self.thread.is_alive(), "the rogue site could not start"
            assert time.monotonic() < deadline, "the rogue site did not start"
            time.sleep(0.01)  # waiting for a starting server, bounded by the deadline above
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    async def arrive(self, request: Request) -> JSONResponse:
        document = await request.json()
        if self.mode == "slow":
            if any(d["travel"]["hop"] == document["travel"]["hop"] for d in self.kept):
                error = {"code": "replayed_hop", "message": "this hop came here already"}
                return JSONResponse({"error": error}, status_code=409)
            self.kept.append(document)
            await asyncio.sleep(self.delay)  # it has the agent; its answer is late
            return JSONResponse({"kind": "receipt", "note": "slow"}, status_code=201)
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
            async with http_helpers.async_client() as client:
                home = document["mandate"]["home"]
                await client.post(f"{home}/api/v1/agents", json=document)
        return JSONResponse({"kind": "receipt", "note": "trust me"}, status_code=201)
