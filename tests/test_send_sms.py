"""`send_sms` through its real entry point, against Azurite and the ACS sandbox over HTTP."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

import send_sms
from shared.runtime import get_services
from tests.conftest import SENDERS
from tests.helpers import (
    http_request,
    response_json,
    sandbox_get,
    sandbox_post,
)

pytestmark = pytest.mark.usefixtures("app_env")


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1206555{i:04d}" for i in range(start, start + count)]


async def post_sms(body: object, headers: dict[str, str] | None = None):
    return await send_sms.main(http_request("POST", "sms", body=body, headers=headers))


async def test_bulk_send_of_250(sandbox_url: str) -> None:
    # The sandbox enforces ACS's 200/minute per number: spread over the pool, 244 texts fit.
    services = await get_services()
    valid = numbers(244)
    opted = numbers(2, start=5000)
    for number in opted:
        await services.storage.opt_outs.add(number, at=datetime.now(UTC), source="test")
    invalid = ["+1555", "not a number", "+19005550123"]
    to = valid[:100] + invalid + opted + valid[100:] + [valid[3].replace("+1", "")]  # 1 duplicate
    assert len(to) == 250
    body = {"to": to, "message": "Your order has shipped", "tag": "orders"}

    response = await post_sms(body, {"Idempotency-Key": "order-batch-1"})
    assert response.status_code == 202
    answer = response_json(response)
    results = answer["results"]
    assert len(results) == 249  # one per distinct recipient
    assert [r["to"] for r in results] == valid[:100] + invalid + opted + valid[100:]
    statuses = Counter(r["status"] for r in results)
    assert statuses == {"accepted": 244, "invalid": 3, "optedOut": 2}
    assert (answer["encoding"], answer["segments"]) == ("GSM-7", 1)
    assert all(r["acsMessageId"] for r in results if r["status"] == "accepted")
    assert {r["error"]["code"] for r in results if r["status"] == "invalid"} == {"InvalidNumber"}

    requests = sandbox_get(sandbox_url, "/sandbox/requests")
    assert len(requests) == 3  # spread over the pool: one request per sender, each ≤ 100
    assert sorted(r["from"] for r in requests) == sorted(SENDERS)
    assert sum(len(r["recipients"]) for r in requests) == 244
    inbox = sandbox_get(sandbox_url, "/sandbox/messages")
    assert Counter(m["to"] for m in inbox) == Counter(valid)  # each valid, opted-in number once
    assert not {m["to"] for m in inbox} & set(opted)

    again = await post_sms(body, {"Idempotency-Key": "order-batch-1"})
    assert again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert response_json(again) == answer
    assert len(sandbox_get(sandbox_url, "/sandbox/requests")) == 3
    assert len(sandbox_get(sandbox_url, "/sandbox/messages")) == 244

    changed = await post_sms({**body, "message": "Other"}, {"Idempotency-Key": "order-batch-1"})
    assert changed.status_code == 422
    assert response_json(changed)["error"]["target"] == "Idempotency-Key"


async def test_retry_after_503_delivers_once(sandbox_url: str) -> None:
    sandbox_post(sandbox_url, "/sandbox/faults", {"kind": "status", "status": 503, "times": 1})
    response = await post_sms({"to": "+14255550100", "message": "hello"})
    result = response_json(response)["results"][0]
    assert result["status"] == "accepted"
    requests = sandbox_get(sandbox_url, "/sandbox/requests")
    assert [r["status"] for r in requests] == [503, 202]
    assert requests[0]["repeatabilityRequestIds"] == requests[1]["repeatabilityRequestIds"]
    assert len(sandbox_get(sandbox_url, "/sandbox/messages", to="+14255550100")) == 1


async def test_lost_response_is_retried_without_a_second_text(sandbox_url: str) -> None:
    sandbox_post(sandbox_url, "/sandbox/faults", {"kind": "drop-response", "times": 1})
    response = await post_sms({"to": "+14255550101", "message": "hello"})
    result = response_json(response)["results"][0]
    assert result["status"] == "accepted"
    inbox = sandbox_get(sandbox_url, "/sandbox/messages", to="+14255550101")
    assert len(inbox) == 1
    assert inbox[0]["messageId"] == result["acsMessageId"]
    assert len(sandbox_get(sandbox_url, "/sandbox/requests")) == 2


async def test_get_message_reads_back_what_was_sent() -> None:
    sent = response_json(await post_sms({"to": "4255550102", "message": "hi 😀", "tag": "t1"}))
    message_id = sent["results"][0]["id"]
    response = await send_sms.main(
        http_request("GET", f"sms/{message_id}", route_params={"id": message_id})
    )
    assert response.status_code == 200
    view = response_json(response)
    assert view["id"] == message_id
    assert view["batchId"] == sent["batchId"]
    assert (view["to"], view["from"], view["status"]) == ("+14255550102", SENDERS[0], "accepted")
    assert (view["tag"], view["encoding"], view["segments"]) == ("t1", "UCS-2", 1)
    assert view["acsMessageId"] == sent["results"][0]["acsMessageId"]
    assert view["sentAt"] and view["createdAt"] and view["deliveredAt"] is None
    assert [h["status"] for h in view["history"]] == ["queued", "accepted"]


@pytest.mark.parametrize("message_id", ["nope", "01ARZ3NDEKTSV4RRFFQ69G5FAV-0"])
async def test_unknown_message_is_404(message_id: str) -> None:
    response = await send_sms.main(
        http_request("GET", f"sms/{message_id}", route_params={"id": message_id})
    )
    assert response.status_code == 404
    assert response_json(response)["error"]["target"] == "id"


async def test_dry_run_sends_and_records_nothing(sandbox_url: str) -> None:
    services = await get_services()
    await services.storage.opt_outs.add("+14255550105", at=datetime.now(UTC), source="test")
    response = await post_sms(
        {"to": ["+14255550104", "+14255550105", "x"], "message": "é" * 161, "dryRun": True}
    )
    answer = response_json(response)
    assert answer["dryRun"] is True and answer["batchId"] is None
    assert (answer["encoding"], answer["segments"]) == ("GSM-7", 2)
    assert [r["status"] for r in answer["results"]] == ["queued", "optedOut", "invalid"]
    assert all("id" not in r for r in answer["results"])
    assert sandbox_get(sandbox_url, "/sandbox/requests") == []


async def test_explicit_sender_is_used(sandbox_url: str) -> None:
    await post_sms({"to": "+14255550106", "message": "hi", "from": SENDERS[2]})
    assert sandbox_get(sandbox_url, "/sandbox/messages")[0]["from"] == SENDERS[2]


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "target"),
    [
        (b"{not json", "application/json", 400, "body"),
        (b"", "application/json", 400, "body"),
        (b"to=1", "application/x-www-form-urlencoded", 415, None),
        (b'{"to": "+14255550100"}', "application/json", 400, "message"),
        (
            b'{"to": "+14255550100", "message": "x", "sendAt": "2030-01-01T00:00:00Z"}',
            "application/json",
            400,
            "sendAt",
        ),
    ],
)
async def test_bad_requests_get_4xx_json(
    raw: bytes, content_type: str, status: int, target: str | None, sandbox_url: str
) -> None:
    response = await send_sms.main(
        http_request("POST", "sms", raw=raw, headers={"content-type": content_type})
    )
    assert response.status_code == status
    error = response_json(response)["error"]
    assert error.get("target") == target and error["code"] and error["message"]
    assert sandbox_get(sandbox_url, "/sandbox/requests") == []


async def test_delete_and_wrong_methods_are_clear_errors() -> None:
    delete = await send_sms.main(http_request("DELETE", "sms/x", route_params={"id": "x"}))
    assert delete.status_code == 404
    sent = response_json(await post_sms({"to": "+12065550199", "message": "hi"}))["results"][0]
    gone = await send_sms.main(
        http_request("DELETE", f"sms/{sent['id']}", route_params={"id": sent["id"]})
    )
    assert gone.status_code == 409
    assert response_json(gone)["error"]["code"] == "NotCancelable"
    get_all = await send_sms.main(http_request("GET", "sms"))
    assert get_all.status_code == 405


async def test_sender_not_owned_by_acs_is_rejected_not_500(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    from shared.runtime import close_services

    monkeypatch.setenv("SMS_FROM_NUMBERS", "+18005550199")
    await close_services()
    response = await post_sms({"to": "+14255550107", "message": "hi"})
    assert response.status_code == 202
    result = response_json(response)["results"][0]
    assert result["status"] == "rejected"
    assert result["error"]["code"] == "Unauthorized"
    assert len(sandbox_get(sandbox_url, "/sandbox/requests")) == 1  # a 401 is not retried


async def test_storage_down_answers_503_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    from local.stack import azurite_tables_connection_string, free_port
    from shared.runtime import close_services

    monkeypatch.setenv("TABLES_CONNECTION_STRING", azurite_tables_connection_string(free_port()))
    await close_services()
    response = await post_sms({"to": "+14255550108", "message": "hi"})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response_json(response)["error"]["code"] == "ServiceUnavailable"
    assert sandbox_get(sandbox_url, "/sandbox/requests") == []


async def test_a_stop_acknowledged_while_a_send_is_retrying_wins(sandbox_url: str) -> None:
    """ACS answers 503, the client backs off; meanwhile the person's STOP is handled. The retry
    reads the opt-outs again: the text never reaches them, the message is `optedOut`."""
    import asyncio

    import on_sms_received
    from tests.helpers import inbound_payload, trigger_event

    person, other = "+12065550950", "+12065550951"
    sandbox_post(sandbox_url, "/sandbox/faults", {"kind": "status", "status": 503, "times": 1})
    send = asyncio.create_task(
        post_sms({"to": [person, other], "message": "Your table is ready", "from": SENDERS[0]})
    )
    for _ in range(200):  # until ACS has answered the first attempt
        if sandbox_get(sandbox_url, "/sandbox/requests"):
            break
        await asyncio.sleep(0.005)
    stop = inbound_payload(sender=person, to=SENDERS[1], message="STOP", event_id="stop-in-flight")
    await on_sms_received.main(trigger_event(stop))  # acknowledged once this returns
    answer = response_json(await send)
    statuses = {r["to"]: r["status"] for r in answer["results"]}
    assert statuses == {person: "optedOut", other: "accepted"}
    inbox = sandbox_get(sandbox_url, "/sandbox/messages", to=person)
    assert [m["message"] for m in inbox if m["message"] == "Your table is ready"] == []
    [first, retry] = sandbox_get(sandbox_url, "/sandbox/requests")[:2]
    assert person in first["recipients"] and person not in retry["recipients"]


async def test_a_lone_surrogate_or_a_deep_body_is_a_400_naming_it() -> None:
    raw = b'{"to": "+14255550123", "message": "hi \\ud800"}'
    response = await send_sms.main(
        http_request("POST", "sms", raw=raw, headers={"content-type": "application/json"})
    )
    assert response.status_code == 400
    assert response_json(response)["error"]["target"] == "message"
    deep = b"[" * 100_000 + b"]" * 100_000
    response = await send_sms.main(
        http_request("POST", "sms", raw=deep, headers={"content-type": "application/json"})
    )
    assert response.status_code == 400
    assert response_json(response)["error"]["target"] == "body"


async def test_recipients_outside_the_allowed_countries_are_never_sent(sandbox_url: str) -> None:
    response = await post_sms({"to": ["+447911123456", "+14255550160"], "message": "hi"})
    results = {r["to"]: r for r in response_json(response)["results"]}
    assert results["+447911123456"]["status"] == "invalid"
    assert "SMS_ALLOWED_COUNTRIES" in results["+447911123456"]["error"]["message"]
    assert results["+14255550160"]["status"] == "accepted"
    assert [r["recipients"] for r in sandbox_get(sandbox_url, "/sandbox/requests")] == [
        ["+14255550160"]
    ]


async def test_a_repeat_failing_on_storage_never_frees_the_first_requests_key(
    sandbox_url: str,
) -> None:
    """The first request with a key is still running; a repeat fails because storage is
    unreachable while it asks for the key. It must not release the key: the next repeat would
    then send the whole batch a second time."""
    from dataclasses import replace
    from datetime import timedelta

    from shared.errors import IdempotencyKeyInUseError, NothingSentError, StoreUnavailableError
    from shared.send_request import parse_send_request
    from shared.sending import SmsSender
    from shared.tables.idempotency_keys import IdempotencyKeys

    class UnreachableKeys(IdempotencyKeys):
        async def claim(self, *args: object, **kwargs: object) -> Any:
            raise StoreUnavailableError("Table Storage unavailable: ServiceRequestError")

    services = await get_services()
    request = parse_send_request(
        {"to": "+14255550180", "message": "once"}, pool=SENDERS, default_region="US"
    )
    key = "order-4711"
    now = datetime.now(UTC)
    first = await services.storage.idempotency.claim(
        key, fingerprint=request.fingerprint, batch_id="first", now=now, lease=timedelta(minutes=2)
    )
    assert first.outcome == "new"  # the first request holds it and is still at work
    storage = replace(services.storage, idempotency=UnreachableKeys(services.storage.gateway))
    flaky = SmsSender(services.settings, storage, services.sender.dispatcher)
    with pytest.raises(NothingSentError):
        await flaky.send(request, idempotency_key=key)
    with pytest.raises(IdempotencyKeyInUseError):  # still the first request's
        await services.sender.send(request, idempotency_key=key)
    assert sandbox_get(sandbox_url, "/sandbox/messages", to="+14255550180") == []
