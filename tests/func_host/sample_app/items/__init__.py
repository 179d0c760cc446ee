"""Async HTTP function: echoes what the host passed in, so tests can check the request."""

from __future__ import annotations

import json

import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()
    echo = {
        "method": req.method,
        "url": req.url,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "x_sample": req.headers.get("X-Sample"),
        "content_type": req.headers.get("content-type"),
        "body": body.decode("utf-8", "replace"),
        "json": req.get_json()
        if body and req.headers.get("content-type") == "application/json"
        else None,
    }
    return func.HttpResponse(
        json.dumps(echo),
        status_code=201 if req.method == "POST" else 200,
        mimetype="application/json",
        headers={"X-Handled-By": "items", "Set-Cookie": "session=abc; Path=/"},
    )
