"""HTTP for the tests with one explicit, generous timeout.

httpx waits 5 s by default for a connection, a read or a write: on a loaded 2-core machine
(four engineers' test runs, PostgreSQL, Chromium) a house can take longer than that to answer
one request, and a test failed on a ``ReadTimeout`` that says nothing about the house. Every
test's HTTP call goes through here (or passes its own ``timeout``); a call still returns as soon
as its answer comes, so a generous bound costs nothing when the machine is quiet.
"""

from __future__ import annotations

from typing import Any

import httpx

TIMEOUT = httpx.Timeout(60.0, connect=30.0)
"""Seconds a test waits for an answer (and for a connection) before it fails."""


def _with_timeout(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.setdefault("timeout", TIMEOUT)
    return kwargs


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, **_with_timeout(kwargs))


def post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, **_with_timeout(kwargs))


def put(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.put(url, **_with_timeout(kwargs))


def delete(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.delete(url, **_with_timeout(kwargs))


def client(**kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` with the tests' timeout (unless given)."""
    return httpx.Client(**_with_timeout(kwargs))


def async_client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with the tests' timeout (unless given)."""
    return httpx.AsyncClient(**_with_timeout(kwargs))
