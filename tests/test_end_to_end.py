"""The whole app as `make run` starts it: Azurite, the ACS sandbox and the function host as real
processes, driven over HTTP only — delivery reports and inbound messages travel as Event Grid
webhooks from the sandbox to the host."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.stack import Ports
from tests.conftest import ARTIFACTS, SENDERS
from tests.stack_kit import running_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Ports]:
    with running_stack(ARTIFACTS / "end-to-end", "e2e") as ports:
        yield ports


def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_host_is_running_every_function(stack: Ports) -> None:
    status = httpx.get(f"http://127.0.0.1:{stack.host}/admin/host/status", timeout=5).json()
    assert status["state"] == "Running"
    assert status["errors"] == {}
    assert {"send_sms", "on_delivery_report", "on_sms_received", "optouts", "conversations"} <= set(
        status["functions"]
    )


def test_send_report_stop_and_thread(stack: Ports) -> None:
    api = f"http://127.0.0.1:{stack.host}/api"
    sandbox = f"http://127.0.0.1:{stack.sandbox}"
    person = "+12065550170"
    with httpx.Client(timeout=10) as http:
        sent = http.post(f"{api}/sms", json={"to": [person], "message": "hello"})
        assert sent.status_code == 202
        [result] = sent.json()["results"]
        assert result["status"] == "accepted"

        def delivered() -> bool:
            return bool(http.get(f"{api}/sms/{result['id']}").json()["status"] == "delivered")

        assert eventually(delivered), "the delivery report did not reach on_delivery_report"

        inbound = http.post(
            f"{sandbox}/sandbox/inbound", json={"from": person, "to": SENDERS[1], "message": "STOP"}
        )
        assert inbound.status_code == 202
        assert eventually(lambda: http.get(f"{api}/optouts/{person}").json()["optedOut"])

        again = http.post(f"{api}/sms", json={"to": [person], "message": "still there?"})
        assert again.json()["results"][0]["status"] == "optedOut"
        handset = http.get(f"{sandbox}/sandbox/messages", params={"to": person}).json()["value"]
        assert [m["message"] for m in handset] == ["hello"]

        thread = http.get(f"{api}/conversations/{person}").json()["messages"]
        assert [(m["direction"], m["text"]) for m in thread] == [
            ("inbound", "STOP"),
            ("outbound", "hello"),
        ]

        events = http.get(f"{sandbox}/sandbox/events").json()["value"]
        assert events and all(e["delivered"] for e in events)  # the host answered 202 every time


def test_a_scheduled_message_goes_out_through_the_timer(stack: Ports) -> None:
    from datetime import UTC, datetime, timedelta

    api = f"http://127.0.0.1:{stack.host}/api"
    person = "+12065550171"
    send_at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    with httpx.Client(timeout=10) as http:
        answer = http.post(f"{api}/sms", json={"to": person, "message": "later", "sendAt": send_at})
        [result] = answer.json()["results"]
        assert result["status"] == "scheduled"

        def status() -> str:
            return str(http.get(f"{api}/sms/{result['id']}").json()["status"])

        assert eventually(lambda: status() == "delivered", within=20), status()
        batch = http.get(f"{api}/sms/batches/{answer.json()['batchId']}").json()
        assert batch["counts"] == {"delivered": 1} and batch["done"] is True


def test_errors_over_http_are_json_not_stack_traces(stack: Ports) -> None:
    api = f"http://127.0.0.1:{stack.host}/api"
    bad = httpx.post(f"{api}/sms", content=b"{oops", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/json")
    assert bad.json()["error"]["target"] == "body"
    assert httpx.get(f"{api}/sms/01ARZ3NDEKTSV4RRFFQ69G5FAV-0").status_code == 404


def test_fuzzing_every_route_finds_no_5xx_and_no_answer_off_the_document(stack: Ports) -> None:
    """schemathesis, from GET /api/openapi.json, against the running host (loopback only, a
    bounded number of examples per operation, a fixed seed so a failure can be replayed)."""
    base = f"http://127.0.0.1:{stack.host}/api"
    checks = "not_a_server_error,response_schema_conformance,status_code_conformance"
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{base}/openapi.json",
            "--url",
            base,
            "--checks",
            checks + ",content_type_conformance",
            "--max-examples",
            "25",
            "--seed",
            "20261201",
            "--request-timeout",
            "30",
            "--warnings",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = done.stdout[-3000:]
    print(summary)
    assert done.returncode == 0, summary


def test_no_log_of_the_run_holds_a_number_or_a_text_it_sent(stack: Ports) -> None:
    """Runs last in this module: every log file the three processes wrote is read for the full
    numbers and the texts the run sent (phone numbers are personal data; logs mask them)."""
    sandbox = f"http://127.0.0.1:{stack.sandbox}"
    sent = httpx.get(f"{sandbox}/sandbox/messages", timeout=5).json()["value"]
    assert sent, "the run sent nothing to look for"
    numbers = {m["to"] for m in sent}
    texts = {m["message"] for m in sent if len(m["message"]) >= 12}
    logs = sorted((ARTIFACTS / "end-to-end").glob("*.log"))
    assert logs, "no log files were written"
    for log in logs:
        content = log.read_text(errors="replace")
        leaked = sorted(n for n in numbers if n in content or n.lstrip("+") in content)
        assert not leaked, f"{log.name} names {len(leaked)} full numbers, e.g. {leaked[0][:5]}…"
        shown = [t for t in texts if t in content]
        assert not shown, f"{log.name} holds a message text"
