"""No secret in a URL or a log line.

Bearer tokens travel in the ``Authorization`` header (HTTP) or in the first ``auth`` message of
a WebSocket, never in a URL: URLs end up in access logs, proxies' logs and browser history.

- :class:`SecretsInUrls` (pure ASGI, outermost) finds query parameters named like a secret
  (``token``, ``password``, ...), replaces their values in the request's scope *in place*
  (uvicorn writes its ``"WebSocket /path?query" [accepted]`` and access lines from that same
  scope, so they show ``[redacted]``) and refuses the request: HTTP 400 ``invalid_request``; a
  WebSocket gets the error as its one message and close code 4001.
- :class:`RedactingFilter` is the second layer: on every log handler of the server, it rewrites
  a record whose text holds ``token=...``, ``password=...`` or ``Bearer ...`` before it is
  written.
"""

from __future__ import annotations

import logging
import re
import sys
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from auctionhouse.errors import Unauthorized
from auctionhouse.server.wire import dumps, error_body, error_response

SECRET_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "auth",
        "authorization",
        "bearer",
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
        "ticket",
        "session",
        "seed",
        "private_key",
    }
)
REDACTED = "[redacted]"
SCOPE_FLAG = "auctionhouse.secret_in_url"
CLOSE_UNAUTHORIZED = 4001
URL_REFUSAL = (
    "credentials in a URL are refused (URLs are written to logs): send the token in an"
    " 'Authorization: Bearer' header, or on a WebSocket as the first message {op: auth, token}"
)

_SECRET_TEXT = re.compile(
    r"(?i)\b(" + "|".join(sorted(SECRET_PARAMS, key=len, reverse=True)) + r")=([^&\s\"']+)"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
# A JSON member whose name holds a secret word (``"token": "..."``, ``"new_password": ...``):
# the websockets library logs frames at debug level, ``auth`` messages included. The value may
# be cut short by the logger ("..."), so the closing quote is optional.
_SECRET_NAME = r"[a-z_]*(?:token|password|passwd|secret|seed|private_key|ticket)[a-z_]*"
_SECRET_JSON = re.compile(
    r'(?i)("' + _SECRET_NAME + r'"\s*:\s*")(?:[^"\\]|\\.)*("|$)'  # {"token": "..."}
)
_SECRET_JSON_ESCAPED = re.compile(
    r'(?i)(\\"' + _SECRET_NAME + r'\\"\s*:\s*\\")(?:(?!\\").)*(\\"|$)'  # {\"token\": \"...\"}
)


def redact_text(text: str) -> str:
    """``text`` with the values of secret-named parameters and JSON members, and of bearer
    tokens, replaced by ``[redacted]``."""
    text = _SECRET_TEXT.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _SECRET_JSON_ESCAPED.sub(lambda m: f"{m[1]}{REDACTED}{m[2]}", text)
    text = _SECRET_JSON.sub(lambda m: f"{m[1]}{REDACTED}{m[2]}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def scrub_scope(scope: Scope) -> bool:
    """Redact secret-named query parameters of ``scope`` in place; True if there were any."""
    raw = scope.get("query_string") or b""
    if not raw:
        return False
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMS for name, _ in pairs):
        return False
    clean = [(n, REDACTED if n.lower() in SECRET_PARAMS else v) for n, v in pairs]
    scope["query_string"] = urlencode(clean, safe="[]").encode("latin-1")
    scope[SCOPE_FLAG] = True
    return True


class SecretsInUrls:
    """Refuse (and never log) a request that carries a secret in its query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scrub_scope(scope):
            await self.app(scope, receive, send)
            return
        err = Unauthorized(URL_REFUSAL)
        if scope["type"] == "http":
            await error_response(err)(scope, receive, send)
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        _, body = error_body(err)
        await send({"type": "websocket.send", "text": dumps({"type": "error", "id": None, **body})})
        await send({"type": "websocket.close", "code": CLOSE_UNAUTHORIZED, "reason": err.code})


class RedactingFilter(logging.Filter):
    """Rewrite a log record whose text holds a secret (a second layer behind the fixes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken record: leave it to the handler
            return True
        clean = redact_text(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "auctionhouse")


def install_log_redaction(level: int = logging.WARNING) -> None:
    """Put :class:`RedactingFilter` on every handler of the server's loggers; give the root
    logger (the house's own ``auctionhouse.*`` records) a filtered stderr handler if it has
    none, instead of logging's unfiltered last resort."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s: %(message)s"))
        handler.setLevel(level)
        root.addHandler(handler)
    for name in SERVER_LOGGERS:
        for each in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in each.filters):
                each.addFilter(RedactingFilter())
