"""Invocation in-process: Datum shapes through azure.functions' converters, and the results."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.func_host.httptrigger import to_web_response
from local.func_host.invoke import FunctionRunner, Invocation
from local.func_host.model import Binding, FunctionSpec, LoadedFunction
from local.func_host.payloads import HttpInput, TimerInput, event_datum, http_datum, timer_datum

HTTP = (Binding("req", "httpTrigger", "in", {}), Binding("$return", "http", "out", {}))


def loaded(
    entry_point: Callable[..., Any],
    bindings: tuple[Binding, ...] = HTTP,
    *,
    requires_context: bool = False,
    output_params: tuple[str, ...] = (),
) -> LoadedFunction:
    spec = FunctionSpec(
        name="fn",
        folder=Path("/app/fn"),
        script_file=Path("/app/fn/__init__.py"),
        entry_point="main",
        bindings=bindings,
        config={},
    )
    return LoadedFunction(
        spec, entry_point, requires_context=requires_context, output_params=output_params
    )


def request(body: bytes = b"", content_type: str = "") -> HttpInput:
    return HttpInput(
        method="post",
        url="http://127.0.0.1:7071/api/fn?x=1",
        headers={"Content-Type": content_type, "X-Trace": "t"} if content_type else {},
        query={"x": "1"},
        route_params={"id": "9"},
        body=body,
        content_type=content_type,
    )


async def run(function: LoadedFunction, datum: Any) -> Invocation:
    runner = FunctionRunner()
    try:
        return await runner.invoke(function, datum)
    finally:
        await runner.drain(1)


async def test_http_request_built_by_the_worker_converter() -> None:
    seen: dict[str, Any] = {}

    async def main(req: func.HttpRequest) -> func.HttpResponse:
        seen.update(
            method=req.method,
            url=req.url,
            params=dict(req.params),
            route=dict(req.route_params),
            header=req.headers.get("x-trace"),
            json=req.get_json(),
        )
        return func.HttpResponse("ok")

    await run(loaded(main), http_datum(request(b'{"a": 1}', "application/json")))
    assert seen == {
        "method": "POST",
        "url": "http://127.0.0.1:7071/api/fn?x=1",
        "params": {"x": "1"},
        "route": {"id": "9"},
        "header": "t",
        "json": {"a": 1},
    }


@pytest.mark.parametrize(
    ("body", "content_type", "datum_type"),
    [
        (b"", "", "bytes"),
        (b'{"a": 1}', "application/json; charset=utf-8", "json"),
        (b"{broken", "application/json", "string"),
        (b"a=1&b=2", "application/x-www-form-urlencoded", "string"),
        (b"\x00\xff", "application/octet-stream", "bytes"),
        (b"\xff\xfe", "text/plain", "bytes"),
    ],
)
def test_http_body_typed_like_the_host(body: bytes, content_type: str, datum_type: str) -> None:
    datum = http_datum(request(body, content_type))
    assert datum.value["body"].type == datum_type


def test_responses_go_through_the_response_converter() -> None:
    function = loaded(lambda req: None)
    json_response = to_web_response(
        function,
        Invocation(
            "i", result=func.HttpResponse('{"a":1}', status_code=202, mimetype="application/json")
        ),
    )
    assert json_response.status == 202
    assert json_response.headers["Content-Type"] == "application/json"
    html = to_web_response(
        function, Invocation("i", result=func.HttpResponse("<p>", mimetype="text/html"))
    )
    assert html.headers["Content-Type"] == "text/html; charset=utf-8"
    text = to_web_response(function, Invocation("i", result="plain"))
    assert (text.status, text.body, text.content_type) == (200, b"plain", "text/plain")


def test_none_from_an_http_function_is_an_error_like_in_the_worker() -> None:
    with pytest.raises(TypeError, match='unsupported type "http" for Python type "NoneType"'):
        to_web_response(loaded(lambda req: None), Invocation("i", result=None))


def test_unset_out_parameter_means_no_content() -> None:
    function = loaded(
        lambda req, res: None,
        (HTTP[0], Binding("res", "http", "out", {})),
        output_params=("res",),
    )
    assert to_web_response(function, Invocation("i", outputs={"res": None})).status == 204


async def test_sync_function_runs_in_a_worker_thread_with_context() -> None:
    seen: dict[str, Any] = {}

    def main(req: func.HttpRequest, context: func.Context) -> str:
        seen.update(
            thread=threading.current_thread().name,
            name=context.function_name,
            directory=context.function_directory,
            local_id=getattr(context.thread_local_storage, "invocation_id", None),
            invocation_id=context.invocation_id,
            retries=context.retry_context.retry_count,
        )
        return "done"

    invocation = await run(loaded(main, requires_context=True), http_datum(request()))
    assert invocation.result == "done"
    assert seen["thread"].startswith("func")
    assert (seen["name"], seen["directory"], seen["retries"]) == ("fn", "/app/fn", 0)
    assert seen["local_id"] == seen["invocation_id"] == invocation.invocation_id


async def test_returning_a_value_without_return_binding_fails() -> None:
    function = loaded(lambda event: "oops", (Binding("event", "eventGridTrigger", "in", {}),))
    with pytest.raises(RuntimeError, match="without a \\$return binding returned a non-None"):
        await run(function, event_datum({"id": "1", "data": {}}))


async def test_event_datum_gives_event_grid_events_and_cloud_events() -> None:
    received: list[Any] = []
    function = loaded(
        lambda event: received.append(event), (Binding("event", "eventGridTrigger", "in", {}),)
    )
    await run(
        function,
        event_datum({"id": "1", "eventType": "t", "eventTime": "2024-01-01T00:00:00Z", "data": {}}),
    )
    await run(function, event_datum({"specversion": "1.0", "id": "2", "type": "t", "data": {}}))
    grid, cloud = received
    assert isinstance(grid, func.EventGridEvent) and grid.event_type == "t"
    assert grid.event_time == datetime(2024, 1, 1, tzinfo=UTC)
    assert isinstance(cloud, func.CloudEvent) and cloud.id == "2"


async def test_raw_trigger_annotation_gets_the_payload_string() -> None:
    received: list[Any] = []
    function = loaded(
        lambda event: received.append(event), (Binding("event", "eventGridTrigger", "in", {}),)
    )
    raw = LoadedFunction(function.spec, function.entry_point, False, raw_trigger=True)
    await run(raw, event_datum({"id": "1"}))
    assert received == [json.dumps({"id": "1"})]


async def test_timer_datum_gives_a_timer_request() -> None:
    received: list[Any] = []
    function = loaded(
        lambda timer: received.append(timer), (Binding("timer", "timerTrigger", "in", {}),)
    )
    moment = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    await run(function, timer_datum(TimerInput(True, None, moment, moment)))
    (timer,) = received
    assert timer.past_due is True
    assert timer.schedule_status == {
        "Last": "0001-01-01T00:00:00",
        "Next": "2024-01-01T00:05:00+00:00",
        "LastUpdated": "2024-01-01T00:05:00+00:00",
    }
    assert timer.schedule == {"AdjustForDST": True}
