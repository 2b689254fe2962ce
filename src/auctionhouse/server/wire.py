"""The one place where errors become wire answers (HTTP and WebSocket), STYLE.md rule 6.

``error_body`` gives ``{"error": {"code", "message", ...fields}}`` for any exception: a
deliberate ``AuctionhouseError`` keeps its code and public fields; anything else becomes
``internal_error`` with no detail (the traceback goes to the server log only).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response

from auctionhouse.errors import (
    AuctionhouseError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    RateLimited,
)

log = logging.getLogger("auctionhouse.server")

INTERNAL = {"code": "internal_error", "message": "the server could not complete the request"}


def as_house_error(exc: BaseException) -> AuctionhouseError | None:
    """The deliberate error behind ``exc``, or None for a bug (logged by the caller)."""
    return exc if isinstance(exc, AuctionhouseError) else None


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """HTTP status and body for any exception (the WebSocket uses the body only)."""
    err = as_house_error(exc)
    if err is None:
        log.error("unexpected error", exc_info=exc)
        return 500, {"error": dict(INTERNAL)}
    return err.http_status, {"error": err.to_dict()}


def retry_after_header(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if isinstance(exc, AuctionhouseError) and exc.code == "overloaded":
        return {"Retry-After": "1"}
    return {}


def error_response(exc: BaseException) -> Response:
    status, body = error_body(exc)
    return JSONResponse(body, status_code=status, headers=retry_after_header(exc))


def validation_error(errors: list[Any]) -> InvalidRequest:
    """FastAPI/pydantic validation errors as one ``invalid_request`` with a readable message."""
    parts = []
    for err in errors[:5]:
        if tuple(err.get("loc", ())) == ("body",) and err.get("type") == "model_attributes_type":
            parts.append("the body must be a JSON object (Content-Type: application/json)")
            continue
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        msg = str(err.get("msg", "invalid"))
        parts.append(f"{loc}: {msg}" if loc else msg)
    return InvalidRequest("; ".join(parts) or "the request is invalid")


def http_status_error(status: int, detail: object) -> AuctionhouseError:
    """Starlette's own HTTP errors (unknown path, wrong method) in the house's shape."""
    if status == 404:
        return NotFound("no such path")
    if status == 405:
        return MethodNotAllowed("this path does not answer that method")
    err = InvalidRequest(str(detail) if isinstance(detail, str) else "the request is invalid")
    return err


def dumps(message: dict[str, Any]) -> str:
    """Fast JSON text for WebSocket frames."""
    return orjson.dumps(message).decode()


def decode_message(raw: str | bytes) -> tuple[dict[str, Any], Any]:
    """One WebSocket message of a client (``/api/v1/ws`` and ``/api/v1/markets/ws``): the JSON
    object and its request id (``id``: a string, an integer or None; anything else counts as
    None, so an answer never echoes a value it should not). Raises ``InvalidRequest`` when
    the message is not one JSON object."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("a message must be one JSON object") from None
    if not isinstance(message, dict):
        raise InvalidRequest("a message must be one JSON object")
    request_id = message.get("id")
    if not isinstance(request_id, str | int | None) or isinstance(request_id, bool):
        request_id = None
    return message, request_id
