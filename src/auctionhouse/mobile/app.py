"""``create_site_app(config)``: the house's app (``server.app``) with its agent host mounted.

``auctionhouse serve`` runs this app, so every house hosts visiting agents unless its
``[agents]`` policy says ``enabled = false`` (then ``POST /api/v1/agents`` refuses every
visitor with ``agent_refused``, while home records stay readable).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from auctionhouse.errors import ConfigError
from auctionhouse.house import Clock
from auctionhouse.mobile.host import AgentHost
from auctionhouse.mobile.records import HomeRecords
from auctionhouse.mobile.routes import router
from auctionhouse.server.app import create_app
from auctionhouse.server.config import ServerConfig


def records_path(config: ServerConfig) -> Path:
    """Home's records of its agents and the hops the site took: ``DB.agents`` beside the
    house's SQLite file (a shared house keeps both in its database)."""
    path = Path(f"{config.db}.agents")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path.parent} for the agents' records: {exc}") from None
    return path


def create_site_app(config: ServerConfig | None = None, *, clock: Clock | None = None) -> FastAPI:
    config = config or ServerConfig()
    app = create_app(config, clock=clock)
    records: HomeRecords
    if config.database_url is not None:  # every instance's records: one table of the house
        from auctionhouse.mobile.shared_records import SharedHomeRecords

        records = SharedHomeRecords(config.database_url)
    else:
        records = HomeRecords(records_path(config))
    # the hops a site took are kept in the same file (house/visitors.py; on a shared house
    # in its database, with the visits of every instance: house/shared_visitors.py)
    host = AgentHost(app.state.server, config.agents, records, hops_path=records_path(config))
    app.state.agents = host
    app.include_router(router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[None]:
        async with inner(application):
            await host.start()
            try:
                yield
            finally:
                await host.stop()

    app.router.lifespan_context = lifespan
    return app
