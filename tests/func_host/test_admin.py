"""The /admin endpoints: host status, function metadata, and running a function by hand."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.func_host.conftest import HostProcess, RecordsReader, wait_for


def test_status_is_running_and_names_the_functions_that_failed(client: httpx.Client) -> None:
    status = client.get("/admin/host/status").json()
    assert status["state"] == "Running"
    assert status["functions"] == [
        "boom",
        "hello",
        "item_by_name",
        "item_special",
        "items",
        "nightly",
        "on_event",
        "records",
        "tick",
    ]
    assert sorted(status["errors"]) == ["broken_binding", "broken_import", "wrong_trigger"]
    assert status["errors"]["broken_binding"] == (
        "FunctionLoadError: cannot load the broken_binding function: the following parameters "
        "are declared in Python but not in function.json: {'req'}"
    )
    assert status["disabled"] == ["disabled_fn", "switched_off"]


def test_load_errors_are_explained_in_the_host_log(sample_host: HostProcess) -> None:
    log = sample_host.log()
    assert "Worker failed to load function: 'broken_import' with functionId: '" in log
    assert "ModuleNotFoundError: No module named 'samplelib.missing'" in log


def test_functions_listing(client: httpx.Client, sample_host: HostProcess) -> None:
    listing = {entry["name"]: entry for entry in client.get("/admin/functions").json()}
    items = listing["items"]
    assert items["trigger"] == "httpTrigger"
    assert items["route"] == "items/{id:int}"
    assert items["methods"] == ["GET", "POST"]
    assert items["invoke_url_template"] == f"{sample_host.url}/api/items/{{id:int}}"
    assert listing["boom"]["methods"] is None  # all methods
    assert listing["tick"]["schedule"] == "*/1 * * * * *"
    assert listing["nightly"]["schedule"] == "0 30 2 * * *"
    assert listing["nightly"]["runOnStartup"] is True
    assert listing["on_event"]["webhook"].endswith(
        "/runtime/webhooks/EventGrid?functionName=on_event"
    )
    assert listing["switched_off"] == {"name": "switched_off", "isDisabled": True}
    assert "error" in listing["broken_import"]
    assert client.get("/admin/functions/items").json()["route"] == "items/{id:int}"


def test_run_a_timer_function_now(client: httpx.Client, records: RecordsReader) -> None:
    before = len(records.of_kind("nightly"))
    response = client.post("/admin/functions/Nightly", json={"input": ""})  # any case
    assert response.status_code == 202
    wait_for(lambda: len(records.of_kind("nightly")) > before)


def test_run_an_event_grid_function_now(client: httpx.Client, records: RecordsReader) -> None:
    event = {
        "id": str(uuid.uuid4()),
        "subject": "/phonenumber/15555555555",
        "eventType": "Microsoft.Communication.SMSReceived",
        "eventTime": "2020-09-18T00:27:47Z",
        "dataVersion": "1.0",
        "data": {"message": "by hand"},
    }
    response = client.post("/admin/functions/on_event", json={"input": json.dumps(event)})
    assert response.status_code == 202
    wait_for(lambda: any(r.get("id") == event["id"] for r in records.of_kind("event")))


def test_run_now_refusals(client: httpx.Client) -> None:
    assert client.post("/admin/functions/items", json={"input": ""}).status_code == 400
    assert client.post("/admin/functions/on_event", json={"input": "{nope"}).status_code == 400
    assert client.post("/admin/functions/nope", json={"input": ""}).status_code == 404
    assert client.post("/admin/functions/switched_off", json={"input": ""}).status_code == 404
    assert client.delete("/admin/functions/nightly").status_code == 405


def test_running_a_function_that_failed_to_load_fails_in_the_log(
    client: httpx.Client, sample_host: HostProcess
) -> None:
    event = json.dumps({"id": "by-hand", "subject": "s", "eventType": "t", "data": {}})
    assert client.post("/admin/functions/broken_import", json={"input": event}).status_code == 202
    wait_for(
        lambda: "Functions.broken_import' trigger=eventGridTrigger outcome=" in sample_host.log()
    )


def test_ping_and_home_page(client: httpx.Client) -> None:
    assert client.get("/admin/host/ping").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/admin/nothing").status_code == 404
