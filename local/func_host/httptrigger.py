"""HTTP triggers: an aiohttp request in, the function's `func.HttpResponse` out.

The response goes through `HttpResponseConverter.encode`, as in the worker, so the status,
headers, cookies, mimetype and charset reach the client as they would from Azure. An uncaught
exception (or a value the converter refuses, such as None) is a 500 with an empty body: the
traceback goes to the host log only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

from aiohttp import web
from azure.functions.http import HttpResponseConverter
from multidict import CIMultiDict, MultiMapping

from local.func_host.invoke import FunctionRunner, Invocation, new_id
from local.func_host.logs import log_invocation
from local.func_host.model import HTTP_TRIGGER, LoadedFunction
from local.func_host.payloads import HttpInput, http_datum

logger = logging.getLogger("func_host.http")

# Headers aiohttp computes itself from the body it sends.
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection"}


async def run_http_function(
    request: web.Request,
    function: LoadedFunction,
    route_values: Mapping[str, str],
    runner: FunctionRunner,
) -> web.Response:
    http_input = HttpInput(
        method=request.method,
        url=str(request.url),
        headers=_joined(request.headers),
        query=_joined(request.query),
        route_params=dict(route_values),
        body=await request.read(),
        content_type=request.headers.get("Content-Type", ""),
    )
    return await runner.track(_invoke_http(function, http_input, runner))


async def _invoke_http(
    function: LoadedFunction, http_input: HttpInput, runner: FunctionRunner
) -> web.Response:
    invocation_id = new_id()
    started = time.perf_counter()
    try:
        invocation = await runner.invoke(function, http_datum(http_input), invocation_id)
        response = to_web_response(function, invocation)
        outcome, failed = str(response.status), response.status >= 500
    except Exception as error:
        logger.error(
            "Function 'Functions.%s' (Id=%s) failed", function.name, invocation_id, exc_info=True
        )
        response = web.Response(status=500)
        outcome, failed = f"500 {type(error).__name__}", True
    elapsed = (time.perf_counter() - started) * 1000
    log_invocation(function.name, HTTP_TRIGGER, elapsed, outcome, invocation_id, failed=failed)
    return response


def to_web_response(function: LoadedFunction, invocation: Invocation) -> web.Response:
    """The client's response for what the function produced (its $return or Out value)."""
    if function.has_return:
        value = invocation.result
    elif function.output_params:
        value = invocation.outputs.get(function.output_params[0])
        if value is None:
            return web.Response(status=204)  # the worker skips an unset Out parameter
    else:
        return web.Response(status=204)  # no http output binding: nothing to send back
    try:
        datum = HttpResponseConverter.encode(value, expected_type=None)
    except NotImplementedError:
        raise TypeError(
            'unable to encode outgoing TypedData: unsupported type "http" for Python type '
            f'"{type(value).__name__}"'
        ) from None
    if datum.type == "string":
        return web.Response(
            status=200,
            body=str(datum.value).encode("utf-8"),
            content_type="text/plain",
            charset="utf-8",
        )
    return _from_http_datum(datum.value)


def _from_http_datum(value: Mapping[str, Any]) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, header in value["headers"].items():
        if name.lower() not in _HOP_HEADERS:
            headers.add(name, str(header.value))
    cookies: list[SimpleCookie] | None = value.get("cookies")
    for cookie in cookies or []:
        for morsel in cookie.values():
            headers.add("Set-Cookie", morsel.OutputString())
    body = value["body"].value
    return web.Response(
        status=int(value["status_code"].value),
        body=body if isinstance(body, bytes) else str(body).encode("utf-8"),
        headers=headers,
    )


def _joined(values: MultiMapping[str]) -> dict[str, str]:
    """One value per name, repeated values joined with commas (as the host's StringValues)."""
    return {name: ",".join(values.getall(name)) for name in values}
