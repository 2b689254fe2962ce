"""The mobile agents' endpoints (docs/api.md, "Mobile agents"), mounted on every house.

- ``POST /api/v1/agents``: an agent arrives (or is launched from home, or comes home): 201 with
  a receipt signed by the house key, or the error with a signed ``refusal`` beside it;
- ``POST /api/v1/agents/batch``: several agents at once (``{"agents": [...]}``, from a site's
  courier): ``{"results": [{"status", "body"}, ...]}``, each what the single POST answers;
- ``POST /api/v1/agents/progress``: a site's signed batch of progress messages, at home;
- ``GET /api/v1/agents/site``: this site's URL, key, policy and the sites it knows;
- ``POST /api/v1/agents/{id}/progress``: a site's signed progress message, at the agent's home;
- ``GET /api/v1/agents/mine``: the signed-in owner's agents (by the account's registered key);
- ``GET /api/v1/agents/{id}``: home's live record of an agent (status travelling, home, overdue);
- ``GET /api/v1/agents/{id}/log``: the trip log that came home, and what its verification found.

The agent id is a random 128-bit name: it is the capability to read the agent's record.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from auctionhouse.errors import AuctionhouseError, InvalidRequest
from auctionhouse.mobile.courier import MAX_BATCH
from auctionhouse.mobile.host import AgentHost
from auctionhouse.server.routes import ERRORS, User, check_address
from auctionhouse.server.wire import error_body, retry_after_header

AgentId = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

router = APIRouter(prefix="/api/v1/agents", dependencies=[Depends(check_address)], responses=ERRORS)


def host_of(request: Request) -> AgentHost:
    host: AgentHost = request.app.state.agents
    return host


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _json_body(request: Request) -> Any:
    """The body as standard JSON: NaN and Infinity are refused (they have no canonical form, so
    no site could have signed them, and no answer could carry them)."""
    try:
        return json.loads(await request.body(), parse_constant=_no_constant)
    except ValueError:  # also UnicodeDecodeError
        raise InvalidRequest("the body must be a JSON agent document") from None
    except ClientDisconnect:  # the sender hung up mid-body: it will retry or mark us dead
        raise InvalidRequest("the sender hung up before the whole document arrived") from None


async def _arrive(host: AgentHost, body: Any, base_url: str) -> tuple[int, dict[str, Any], Any]:
    """(status, answer, the refusal's error) for one arriving document."""
    try:
        return 201, await host.arrive(body, base_url), None
    except AuctionhouseError as exc:
        host.counts[f"refused_{exc.code}"] += 1
        status, error = error_body(exc)
        error["refusal"] = host.refusal(exc, body)
        return status, error, exc


@router.post("", status_code=201, tags=["mobile agents"])
async def arrive(request: Request) -> Response:
    """An agent document arrives: a signed receipt, or the refusal (signed) with its code."""
    body = await _json_body(request)
    status, answer, exc = await _arrive(host_of(request), body, str(request.base_url))
    headers = retry_after_header(exc) if exc is not None else None
    return JSONResponse(answer, status_code=status, headers=headers)


@router.post("/batch", tags=["mobile agents"])
async def arrive_batch(request: Request) -> dict[str, Any]:
    """Several agent documents (a site's courier): each answered as by ``POST``, in order."""
    body = await _json_body(request)
    agents = body.get("agents") if isinstance(body, dict) else None
    if not isinstance(agents, list) or not 1 <= len(agents) <= MAX_BATCH:
        raise InvalidRequest(f"a batch is {{agents: [1 to {MAX_BATCH} agent documents]}}")
    host, base_url = host_of(request), str(request.base_url)
    results = []
    for document in agents:
        status, answer, _ = await _arrive(host, document, base_url)
        results.append({"status": status, "body": answer})
    return {"results": results}


@router.post("/progress", status_code=202, tags=["mobile agents"])
async def progress_batch(request: Request) -> dict[str, Any]:
    """A site's signed batch of progress messages about agents of this house."""
    batch = await _json_body(request)
    return {"accepted": host_of(request).records.progress_batch(batch)}


@router.get("/site", tags=["mobile agents"])
async def site(request: Request) -> dict[str, Any]:
    host = host_of(request)  # the house-wide count of visitors: a query on a shared house
    return await run_in_threadpool(host.describe, str(request.base_url))


@router.post("/{agent_id}/progress", status_code=202, tags=["mobile agents"])
async def progress(agent_id: AgentId, request: Request) -> dict[str, Any]:
    message = await _json_body(request)
    if not isinstance(message, dict):
        raise InvalidRequest("a progress message is an object")
    host_of(request).records.progress(agent_id, message)
    return {"accepted": True}


@router.get("/mine", tags=["mobile agents"])
async def mine(account: User, request: Request) -> dict[str, Any]:
    """The signed-in owner's agents launched from this house: those whose mandate its
    registered key signed (an owner-key account's own key), newest first."""
    host = host_of(request)
    key = account.public_key
    agents = host.records.owned(key, host.now(), host.policy.overdue_grace) if key else []
    return {"owner_key": key, "agents": agents}


@router.get("/{agent_id}", tags=["mobile agents"])
async def record(agent_id: AgentId, request: Request) -> dict[str, Any]:
    host = host_of(request)
    return host.records.view(agent_id, host.now(), host.policy.overdue_grace)


@router.get("/{agent_id}/log", tags=["mobile agents"])
async def trip_log(agent_id: AgentId, request: Request) -> dict[str, Any]:
    return host_of(request).records.log(agent_id)
