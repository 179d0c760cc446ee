"""The Event Grid webhook, `/runtime/webhooks/EventGrid?functionName=<name>`.

Mirrors the Event Grid extension (`EventGridExtensionConfigProvider` + `HttpRequestProcessor`
in Azure/azure-sdk-for-net): unknown function 404 `cannot find function: '<name>'`; OPTIONS is
the CloudEvents abuse-protection handshake; `aeg-event-type` (compared case-insensitively)
`SubscriptionValidation` answers `{"validationResponse": ...}` with 200, `Notification` invokes
the function once per event, all in parallel, then 202 if every one succeeded or 500 if any
failed, a conversion in the worker or a function that failed to load included (Event Grid then
redelivers the whole batch), `Unsubscribe` 202, anything else 400.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from local.func_host.invoke import FunctionRunner, invoke_logged
from local.func_host.model import EVENT_GRID_TRIGGER, IndexedFunction
from local.func_host.payloads import event_data

logger = logging.getLogger("func_host.eventgrid")

WEBHOOK_PATH = "/runtime/webhooks/eventgrid"
# Clouds whose origin the extension echoes; any other origin gets the public cloud's.
_KNOWN_ORIGINS = {
    "eventgrid.azure.net",
    "eventgrid.azure.us",
    "eventgrid.azure.eaglex.ic.gov",
    "eventgrid.azure.microsoft.scloud",
    "eventgrid.azure.cn",
}
_PUBLIC_ORIGIN = "eventgrid.azure.net"


class _BadPayload(ValueError):
    """A body the handler cannot use; answered 400."""


async def handle_webhook(
    request: web.Request, functions: Mapping[str, IndexedFunction], runner: FunctionRunner
) -> web.Response:
    # .NET's ParseQueryString ignores the case of parameter names; the name itself must match.
    name = next((v for k, v in request.query.items() if k.lower() == "functionname"), "")
    function = functions.get(name)
    if function is None or function.trigger_type != EVENT_GRID_TRIGGER:
        available = [n for n, f in functions.items() if f.trigger_type == EVENT_GRID_TRIGGER]
        logger.info("cannot find function: '%s', available function names: %s", name, available)
        return web.Response(status=404, text=f"cannot find function: '{name}'")
    if request.method == "OPTIONS":
        origin = request.headers.get("WebHook-Request-Origin", "")
        allowed = origin if origin in _KNOWN_ORIGINS else _PUBLIC_ORIGIN
        return web.Response(status=200, headers={"WebHook-Allowed-Origin": allowed})
    event_type = request.headers.get("aeg-event-type", "").lower()
    try:
        if event_type == "subscriptionvalidation":
            code = _validation_code(await _read_json(request))
            logger.info("perform handshake with eventGrid for function: %s", name)
            return web.json_response({"validationResponse": code})
        if event_type == "notification":
            events = _events(await _read_json(request))
            return await _dispatch(function, events, runner)
    except _BadPayload as error:
        return web.Response(status=400, text=str(error))
    if event_type == "unsubscribe":
        return web.Response(status=202)
    return web.Response(status=400, text="missing or unknown aeg-event-type header")


async def invoke_event(function: IndexedFunction, event: Any, runner: FunctionRunner) -> bool:
    """Run the function for one event and write its invocation line; True if it succeeded."""
    data, metadata = event_data(event)
    return await invoke_logged(function, data, EVENT_GRID_TRIGGER, runner, metadata)


async def _dispatch(
    function: IndexedFunction, events: list[Any], runner: FunctionRunner
) -> web.Response:
    results = await asyncio.gather(
        *(runner.track(invoke_event(function, event, runner)) for event in events)
    )
    if all(results):
        return web.Response(status=202)
    # The extension answers with the invocation exception's message, not the function's.
    return web.Response(
        status=500, text=f"Exception while executing function: Functions.{function.name}"
    )


async def _read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError as error:
        raise _BadPayload(f"the request body is not valid JSON: {error}") from None
    except RecursionError:  # nested deeper than any event: a bad request, not a crash
        raise _BadPayload("the request body is nested too deeply") from None


def _events(payload: Any) -> list[Any]:
    """An array of events, or a single object (CloudEvents deliver one event per request)."""
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        if not all(isinstance(event, dict) for event in payload):
            raise _BadPayload("every event in the array must be a JSON object")
        return payload
    raise _BadPayload(
        "The request content should be parseable into a JSON object or array, "
        f"but was {type(payload).__name__}."
    )


def _validation_code(payload: Any) -> str:
    try:
        if isinstance(payload, list):
            return str(payload[0]["data"]["validationCode"])
        if isinstance(payload, dict):
            data = payload["data"]
            # A CloudEvent's subscription event may carry its data double-encoded.
            data = json.loads(data) if isinstance(data, str) else data
            return str(data["validationCode"])
    except (LookupError, TypeError, ValueError):
        pass
    raise _BadPayload("no data.validationCode in the subscription validation event")
