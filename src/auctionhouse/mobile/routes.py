"""The mobile agents' endpoints (docs/api.md, "Mobile agents"), mounted on every house.

- ``POST /api/v1/agents``: an agent arrives (or is launched from home, or comes home): 201 with
  a receipt signed by the house key, or the error with a signed ``refusal`` beside it;
- ``GET /api/v1/agents/site``: this site's URL, key, policy and the sites it knows;
- ``POST /api/v1/agents/{id}/progress``: a site's signed progress message, at the agent's home;
- ``GET /api/v1/agents/{id}``: home's live record of an agent (status travelling, home, overdue);
- ``GET /api/v1/agents/{id}/log``: the trip log that came home, and what its verification found.

The agent id is a random 128-bit name: it is the capability to read the agent's record.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from auctionhouse.errors import AuctionhouseError, InvalidRequest
from auctionhouse.mobile.host import AgentHost
from auctionhouse.server.routes import ERRORS, check_address
from auctionhouse.server.wire import error_body, retry_after_header

AgentId = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

router = APIRouter(prefix="/api/v1/agents", dependencies=[Depends(check_address)], responses=ERRORS)


def host_of(request: Request) -> AgentHost:
    host: AgentHost = request.app.state.agents
    return host


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InvalidRequest("the body must be a JSON agent document") from None
    except ClientDisconnect:  # the sender hung up mid-body: it will retry or mark us dead
        raise InvalidRequest("the sender hung up before the whole document arrived") from None


@router.post("", status_code=201, tags=["mobile agents"])
async def arrive(request: Request) -> Response:
    """An agent document arrives: a signed receipt, or the refusal (signed) with its code."""
    host = host_of(request)
    body = await _json_body(request)
    try:
        receipt = host.arrive(body, str(request.base_url))
    except AuctionhouseError as exc:
        host.counts[f"refused_{exc.code}"] += 1
        status, error = error_body(exc)
        error["refusal"] = host.refusal(exc, body)
        return JSONResponse(error, status_code=status, headers=retry_after_header(exc))
    return JSONResponse(receipt, status_code=201)


@router.get("/site", tags=["mobile agents"])
async def site(request: Request) -> dict[str, Any]:
    return host_of(request).describe(str(request.base_url))


@router.post("/{agent_id}/progress", status_code=202, tags=["mobile agents"])
async def progress(agent_id: AgentId, request: Request) -> dict[str, Any]:
    message = await _json_body(request)
    if not isinstance(message, dict):
        raise InvalidRequest("a progress message is an object")
    host_of(request).records.progress(agent_id, message)
    return {"accepted": True}


@router.get("/{agent_id}", tags=["mobile agents"])
async def record(agent_id: AgentId, request: Request) -> dict[str, Any]:
    host = host_of(request)
    return host.records.view(agent_id, host.now(), host.policy.overdue_grace)


@router.get("/{agent_id}/log", tags=["mobile agents"])
async def trip_log(agent_id: AgentId, request: Request) -> dict[str, Any]:
    return host_of(request).records.log(agent_id)
