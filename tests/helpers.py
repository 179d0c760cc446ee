"""Small builders shared by the tests: HTTP requests the way the Functions host builds them,
and reads of the ACS sandbox's ledgers."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import httpx


def http_request(
    method: str,
    route: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    all_headers = {"content-type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    return func.HttpRequest(
        method,
        f"http://127.0.0.1:7071/api/{route}",
        headers=all_headers,
        params=params or {},
        route_params=route_params or {},
        body=data,
    )


def response_json(response: func.HttpResponse) -> Any:
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


def sandbox_get(url: str, path: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}{path}", params=params, timeout=5)
    response.raise_for_status()
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def sandbox_post(url: str, path: str, payload: dict[str, Any]) -> httpx.Response:
    response = httpx.post(f"{url}{path}", json=payload, timeout=5)
    response.raise_for_status()
    return response


def sandbox_config(url: str, **config: Any) -> dict[str, Any]:
    response = httpx.put(f"{url}/sandbox/config", json=config, timeout=5)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result
