"""Sync HTTP function (run in the thread pool) that also takes the invocation context."""

from __future__ import annotations

import threading

import azure.functions as func


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    name = req.route_params["name"]
    thread = threading.current_thread().name
    return func.HttpResponse(
        f"name={name} function={context.function_name} thread={thread}",
        headers={"X-Invocation-Id": context.invocation_id},
    )
