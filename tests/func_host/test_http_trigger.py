"""HTTP triggers end to end: a real host process serving the sample app, over real HTTP."""

from __future__ import annotations

import re

import httpx

from tests.func_host.conftest import HostProcess, RecordsReader, wait_for


def test_request_parts_reach_an_async_function(
    client: httpx.Client, sample_host: HostProcess
) -> None:
    response = client.get(
        "/api/items/42", params=[("a", "1"), ("a", "2"), ("b", "x")], headers={"X-Sample": "yes"}
    )
    assert response.status_code == 200
    echo = response.json()
    assert echo["method"] == "GET"
    assert echo["url"] == f"{sample_host.url}/api/items/42?a=1&a=2&b=x"
    assert echo["route_params"] == {"id": "42"}
    assert echo["params"] == {"a": "1,2", "b": "x"}  # repeated values joined, as the host does
    assert echo["x_sample"] == "yes"


def test_response_status_headers_cookies_and_mimetype(client: httpx.Client) -> None:
    response = client.post("/api/items/7", json={"x": 1})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-handled-by"] == "items"
    assert response.headers["set-cookie"] == "session=abc; path=/"  # as ASP.NET Core writes it
    echo = response.json()
    assert echo["body"] == '{"x":1}'
    assert echo["json"] == {"x": 1}
    assert echo["content_type"] == "application/json"


def test_text_return_value_and_sync_function_with_context(client: httpx.Client) -> None:
    response = client.get("/api/items/abc")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    # A sync function runs in the worker library's thread pool.
    assert re.fullmatch(
        r"name=abc function=item_by_name thread=ThreadPoolExecutor-\d+_\d+", response.text
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["x-invocation-id"])


def test_literal_route_wins_over_parameter_routes(client: httpx.Client) -> None:
    response = client.get("/api/items/special")
    assert (response.status_code, response.text) == (200, "special")


def test_constraint_decides_between_routes(client: httpx.Client) -> None:
    assert client.get("/api/items/5").json()["route_params"] == {"id": "5"}
    assert client.get("/api/items/five").text.startswith("name=five ")


def test_paths_are_case_insensitive_and_ignore_a_trailing_slash(client: httpx.Client) -> None:
    assert client.get("/API/Items/5/").status_code == 200


def test_method_outside_methods_is_404_like_the_real_host(client: httpx.Client) -> None:
    assert client.delete("/api/items/5").status_code == 404
    assert client.post("/api/items/special").status_code == 404


def test_optional_route_parameter_and_app_settings(
    client: httpx.Client, sample_host: HostProcess
) -> None:
    plain = client.get("/api/hello").json()
    assert plain["greeting"] == "hello from settings, world"  # local.settings.json + samplelib
    assert plain["override"] == "from env"  # the environment beats local.settings.json
    assert plain["route_params"] == {}
    assert plain["cwd"] == str(sample_host.root)  # functions run in the app root, as in Azure
    assert client.get("/api/hello/bob").json()["greeting"] == "hello from settings, bob"
    assert client.get("/api/hello/b0b").status_code == 404  # {who:alpha?}


def test_exception_is_500_with_empty_body_and_a_masked_log(
    client: httpx.Client, sample_host: HostProcess
) -> None:
    response = client.put("/api/boom", content=b"anything")  # default route, all methods
    assert response.status_code == 500
    assert response.content == b""
    wait_for(lambda: "Functions.boom' trigger=httpTrigger outcome=500" in sample_host.log())
    wait_for(lambda: "boom printed" in sample_host.log())  # the worker's stdout, read apart
    log = sample_host.log()
    assert "ValueError: cannot reach +1555*****67" in log  # the worker's exception is logged...
    assert "boom was asked to text +1555*****67" in log  # ...so is the function's logging...
    assert "boom printed +1555*****67" in log  # ...and what it printed (the worker's stdout)...
    assert "+15551234567" not in log  # ...with the phone number masked


def test_one_log_line_per_invocation(client: httpx.Client, sample_host: HostProcess) -> None:
    invocation_id = client.get("/api/items/zed").headers["x-invocation-id"]
    pattern = (
        r"Executed 'Functions.item_by_name' trigger=httpTrigger outcome=200 "
        rf"duration_ms=\d+ id={invocation_id}"
    )
    wait_for(lambda: re.search(pattern, sample_host.log()))
    assert sample_host.log().count(invocation_id) == 1


def test_out_parameter_http_binding(client: httpx.Client, records: RecordsReader) -> None:
    assert isinstance(records.all(), list)
    assert client.request("PATCH", "/api/records").status_code == 404


def test_disabled_and_unknown_functions_have_no_route(client: httpx.Client) -> None:
    for name in ("disabled_fn", "switched_off", "nothing_here"):
        assert client.get(f"/api/{name}").status_code == 404, name
    assert client.get("/items/5").status_code == 404  # the route prefix is required


def test_a_function_that_failed_to_load_answers_500_with_its_load_error_logged(
    client: httpx.Client, sample_host: HostProcess
) -> None:
    # As on Azure: the host knows the route from function.json; the worker could not load it.
    response = client.get("/api/broken_binding")
    assert (response.status_code, response.content) == (500, b"")
    wait_for(
        lambda: (
            "Functions.broken_binding' (Id=" in sample_host.log()
            and "failed: the function failed to load: FunctionLoadError" in sample_host.log()
        )
    )
