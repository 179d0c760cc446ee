"""HTTP triggers: an aiohttp request in, the worker's answer out.

The request goes to the worker as the host's `RpcHttp`; the library builds the function's
`func.HttpRequest` from it and encodes the `func.HttpResponse` (status, headers, cookies, body)
it returns, so the client gets what it would get from Azure. A failed invocation (an exception,
a value the converter refuses such as None, a function that failed to load) is a 500 with an
empty body: the worker's message and stack trace go to the host log only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from aiohttp import web
from multidict import CIMultiDict, MultiMapping

from local.func_host import messages
from local.func_host.invoke import FunctionRunner, InvocationFailed, log_failure, new_id
from local.func_host.logs import log_invocation
from local.func_host.model import HTTP_TRIGGER, IndexedFunction
from local.func_host.payloads import HttpInput, http_answer, http_data

# Headers aiohttp computes itself from the body it sends.
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection"}


async def run_http_function(
    request: web.Request,
    function: IndexedFunction,
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
    )
    return await runner.track(_invoke_http(function, http_input, runner))


async def _invoke_http(
    function: IndexedFunction, http_input: HttpInput, runner: FunctionRunner
) -> web.Response:
    invocation_id = new_id()
    started = time.perf_counter()
    try:
        answer = await runner.invoke(function, http_data(http_input), invocation_id=invocation_id)
        response = to_web_response(function, answer)
        outcome, failed = str(response.status), response.status >= 500
    except InvocationFailed as error:
        log_failure(function, invocation_id, error)
        response = web.Response(status=500)
        outcome, failed = f"500 {error.kind}", True
    elapsed = (time.perf_counter() - started) * 1000
    log_invocation(function.name, HTTP_TRIGGER, elapsed, outcome, invocation_id, failed=failed)
    return response


def to_web_response(function: IndexedFunction, answer: messages.InvocationResponse) -> web.Response:
    """The client's response for the function's http output (its $return or its Out value)."""
    output = function.http_output
    if output is None:
        return web.Response(status=204)  # no http output binding: nothing to send back
    data: messages.TypedData | None
    if output == "$return":
        data = answer.return_value
    else:
        data = next((b.data for b in answer.output_data if b.name == output), None)
        if data is None:
            return web.Response(status=204)  # the library sends nothing for an unset Out
    parts = http_answer(data)
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in parts.headers:
        if name.lower() not in _HOP_HEADERS:
            headers.add(name, value)
    return web.Response(status=parts.status, body=parts.body, headers=headers)


def _joined(values: MultiMapping[str]) -> dict[str, str]:
    """One value per name, repeated values joined with commas (as the host's StringValues)."""
    return {name: ",".join(values.getall(name)) for name in values}
