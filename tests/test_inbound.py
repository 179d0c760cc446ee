"""`on_sms_received` through its real entry point, against Azurite and the ACS sandbox."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import conversations
import on_delivery_report
import on_sms_received
import optouts
import send_sms
from shared.config import DEFAULT_HELP_REPLY, DEFAULT_START_REPLY, DEFAULT_STOP_REPLY
from shared.runtime import close_services, get_services
from tests.conftest import SENDERS
from tests.helpers import (
    delivery_report_payload,
    http_request,
    inbound_payload,
    response_json,
    sandbox_config,
    sandbox_get,
    trigger_event,
)

pytestmark = pytest.mark.usefixtures("app_env")
PERSON = "+12065550150"
LOCAL_NUMBER = "+12065550999"  # a non-toll-free sender of the pool: carriers do not act on STOP


async def inbound(
    text: str, event_id: str, *, to: str = SENDERS[0], sender: str = PERSON, **kw: Any
) -> None:
    payload = inbound_payload(sender=sender, to=to, message=text, event_id=event_id, **kw)
    await on_sms_received.main(trigger_event(payload))


async def send(to: str | list[str], sender: str | None = None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"to": to, "message": "Your appointment is tomorrow at 9"}
    if sender:
        body["from"] = sender
    response = await send_sms.main(http_request("POST", "sms", body=body))
    results: list[dict[str, Any]] = response_json(response)["results"]
    return results


async def send_and_deliver(sandbox_url: str) -> dict[str, Any]:
    """A message to PERSON and its delivery report, so the thread has an outbound message."""
    [sent] = await send(PERSON)
    [received] = sandbox_get(sandbox_url, "/sandbox/messages", to=PERSON)
    payload = delivery_report_payload(
        acs_message_id=sent["acsMessageId"], sender=received["from"], to=PERSON, tag=received["tag"]
    )
    await on_delivery_report.main(trigger_event(payload))
    return sent


def texts_to(sandbox_url: str, number: str) -> list[str]:
    return [m["message"] for m in sandbox_get(sandbox_url, "/sandbox/messages", to=number)]


async def test_stop_to_toll_free_stops_every_sender_without_our_reply(sandbox_url: str) -> None:
    await send(PERSON)
    await inbound("STOP", "in-stop-1")
    await inbound("STOP", "in-stop-1")  # Event Grid duplicate
    assert texts_to(sandbox_url, PERSON) == ["Your appointment is tomorrow at 9"]  # no confirmation
    for sender in SENDERS:
        assert (await send(PERSON, sender))[0]["status"] == "optedOut"
    bulk = await send(["+12065550151", PERSON, "+12065550152"])
    assert [r["status"] for r in bulk] == ["accepted", "optedOut", "accepted"]
    assert len(texts_to(sandbox_url, PERSON)) == 1


async def test_quit_gets_one_confirmation_under_duplicates(sandbox_url: str) -> None:
    await inbound("Quit", "in-quit-1")
    await inbound("Quit", "in-quit-1")
    await inbound("Quit", "in-quit-1")
    assert texts_to(sandbox_url, PERSON) == [DEFAULT_STOP_REPLY]
    assert (await send(PERSON))[0]["status"] == "optedOut"


async def test_start_resumes_sending(sandbox_url: str) -> None:
    await inbound("unsubscribe", "in-u-1")
    await inbound("START", "in-start-1", received="2030-01-01T00:02:00Z")
    await inbound("START", "in-start-1", received="2030-01-01T00:02:00Z")
    assert texts_to(sandbox_url, PERSON) == [DEFAULT_STOP_REPLY, DEFAULT_START_REPLY]
    assert (await send(PERSON))[0]["status"] == "accepted"


async def test_help_is_answered_once(sandbox_url: str) -> None:
    await inbound("help", "in-help-1")
    await inbound("help", "in-help-1")
    assert texts_to(sandbox_url, PERSON) == [DEFAULT_HELP_REPLY]
    assert "Msg&data rates may apply" in DEFAULT_HELP_REPLY


async def test_yes_is_an_answer_unless_opted_out(sandbox_url: str) -> None:
    await inbound("Yes", "in-yes-1")
    assert texts_to(sandbox_url, PERSON) == []  # a reply to "reply YES to confirm"
    await inbound("cancel", "in-c-1", received="2030-01-01T00:02:00Z")
    await inbound("yes", "in-yes-2", received="2030-01-01T00:03:00Z")
    assert texts_to(sandbox_url, PERSON) == [DEFAULT_STOP_REPLY, DEFAULT_START_REPLY]


async def test_opt_out_ledger_names_the_last_message_and_flags_free_text(sandbox_url: str) -> None:
    sent = await send_and_deliver(sandbox_url)
    await inbound("please stop texting me now", "in-free-1", received="2030-01-01T00:05:00Z")
    response = await optouts.main(
        http_request(
            "GET", f"optouts/{PERSON}/history", route_params={"phone": PERSON, "view": "history"}
        )
    )
    [entry] = response_json(response)["entries"]
    assert (entry["action"], entry["scope"], entry["source"]) == ("optOut", "*", "freeText")
    assert entry["needsReview"] is True
    assert entry["lastMessageId"] == sent["id"]
    assert entry["text"] == "please stop texting me now"


async def test_conversation_thread_is_newest_first_and_paged(sandbox_url: str) -> None:
    sent = await send_and_deliver(sandbox_url)
    await inbound("see you then", "in-t-1", received="2099-01-01T00:00:01Z")
    await inbound("actually can we move it?", "in-t-2", received="2099-01-01T00:00:02Z", cloud=True)
    await inbound("actually can we move it?", "in-t-2", received="2099-01-01T00:00:02Z", cloud=True)

    async def page(token: str | None = None) -> dict[str, Any]:
        params = {"limit": "2", **({"continuationToken": token} if token else {})}
        response = await conversations.main(
            http_request(
                "GET", f"conversations/{PERSON}", route_params={"phone": PERSON}, params=params
            )
        )
        assert response.status_code == 200
        result: dict[str, Any] = response_json(response)
        return result

    first = await page()
    assert [m["text"] for m in first["messages"]] == ["actually can we move it?", "see you then"]
    assert all(m["direction"] == "inbound" for m in first["messages"])
    second = await page(first["continuationToken"])
    [outbound] = second["messages"]
    assert (outbound["direction"], outbound["id"], outbound["status"]) == (
        "outbound",
        sent["id"],
        "delivered",
    )
    assert outbound["text"] == "Your appointment is tomorrow at 9"
    assert second["continuationToken"] is None


@pytest.fixture
async def webhook() -> AsyncIterator[dict[str, Any]]:
    state: dict[str, Any] = {"calls": [], "statuses": [503]}

    async def receive(request: web.Request) -> web.Response:
        state["calls"].append((dict(request.headers), await request.read()))
        return web.Response(status=state["statuses"].pop(0) if state["statuses"] else 204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state["url"] = str(server.make_url("/hook"))
    yield state
    await server.close()


async def test_plain_text_is_forwarded_signed(
    monkeypatch: pytest.MonkeyPatch, webhook: dict[str, Any]
) -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    monkeypatch.setenv("SMS_INBOUND_WEBHOOK_URL", webhook["url"])
    monkeypatch.setenv("SMS_INBOUND_WEBHOOK_SECRET", secret)
    await close_services()
    await inbound("Can I bring my dog?", "in-plain-1")
    calls = webhook["calls"]
    assert len(calls) == 2  # one 503, then accepted
    headers, body = calls[-1]
    assert json.loads(body)["message"] == "Can I bring my dog?"
    assert json.loads(body)["from"] == PERSON
    # The Standard Webhooks reference verifier is the judge: it accepts what we sent...
    from standardwebhooks import Webhook
    from standardwebhooks.exceptions import WebhookVerificationError

    verified = Webhook(secret).verify(body, headers)
    assert verified["message"] == "Can I bring my dog?"
    # ...and refuses it under another secret or with the body changed.
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret-32").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"dog", b"cat"), headers)
    assert headers["webhook-id"] == "in-plain-1" == calls[0][0]["webhook-id"]


async def test_opt_out_api_check_add_remove_and_history() -> None:
    async def call(method: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        response = await optouts.main(
            http_request(
                method, f"optouts/{PERSON}", route_params={"phone": PERSON}, params=params or {}
            )
        )
        assert response.status_code == 200
        result: dict[str, Any] = response_json(response)
        return result

    assert (await call("GET"))["optedOut"] is False
    added = await call("PUT", {"from": SENDERS[1]})
    assert added["optedOut"] is True and added["optOuts"][0]["scope"] == SENDERS[1]
    assert (await call("GET", {"from": SENDERS[0]}))["optedOut"] is False
    assert (await send(PERSON, SENDERS[1]))[0]["status"] == "optedOut"
    assert (await send(PERSON, SENDERS[0]))[0]["status"] == "accepted"
    await call("PUT")
    assert (await send(PERSON, SENDERS[0]))[0]["status"] == "optedOut"
    await call("DELETE")
    await call("DELETE", {"from": SENDERS[1]})
    assert (await call("GET"))["optedOut"] is False
    history = await optouts.main(
        http_request(
            "GET", f"optouts/{PERSON}/history", route_params={"phone": PERSON, "view": "history"}
        )
    )
    actions = [(e["action"], e["scope"], e["source"]) for e in response_json(history)["entries"]]
    assert sorted(actions) == sorted(
        [
            ("optOut", SENDERS[1], "api"),
            ("optOut", "*", "api"),
            ("optIn", "*", "api"),
            ("optIn", SENDERS[1], "api"),
        ]
    )


@pytest.mark.parametrize(
    ("route", "params", "target"),
    [
        ("optouts/{p}", {"phone": "nonsense"}, "phone"),
        ("conversations/{p}", {"phone": "12"}, "phone"),
    ],
)
async def test_read_routes_reject_bad_numbers(
    route: str, params: dict[str, str], target: str
) -> None:
    module = optouts if route.startswith("optouts") else conversations
    response = await module.main(http_request("GET", route, route_params=params))
    assert response.status_code == 400
    assert response_json(response)["error"]["target"] == target


async def test_stop_to_a_local_number_is_confirmed(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    monkeypatch.setenv("SMS_FROM_NUMBERS", ",".join([LOCAL_NUMBER, *SENDERS]))
    await close_services()
    sandbox_config(sandbox_url, senders=[LOCAL_NUMBER, *SENDERS])
    await inbound("STOP", "in-stop-local", to=LOCAL_NUMBER)
    [reply] = sandbox_get(sandbox_url, "/sandbox/messages", to=PERSON)
    assert (reply["from"], reply["message"]) == (LOCAL_NUMBER, DEFAULT_STOP_REPLY)
    services = await get_services()
    assert await services.storage.opt_outs.find_opted_out(list(SENDERS), [PERSON]) == {PERSON}


async def test_an_inbound_message_with_a_hostile_id_is_threaded() -> None:
    hostile = "Incoming_" + "#" * 20000
    await inbound("Is the shop open on Sunday?", hostile)
    services = await get_services()
    entries, _ = await services.storage.threads.list(PERSON, limit=5, continuation=None)
    assert [e.text for e in entries] == ["Is the shop open on Sunday?"]


async def test_an_inbound_message_storage_cannot_keep_is_parked_not_retried() -> None:
    """A text over Table Storage's 64 KiB property limit: parked for a person and
    acknowledged, since Event Grid retrying it for a day could never succeed."""
    from shared.tables.parked_events import POISON

    await inbound("x" * 40_000, "in-too-big-1")  # does not raise
    services = await get_services()
    [parked] = await services.storage.gateway.first_rows(POISON, 10)
    assert parked["RowKey"] == "in-too-big-1" and "refused" in parked["Reason"]


async def test_a_stop_is_mirrored_to_acs_opt_out_list_and_start_lifts_it(sandbox_url: str) -> None:
    def listed() -> set[str]:
        return {
            o["from"]
            for o in sandbox_get(sandbox_url, "/sandbox/optouts")
            if o["optedOut"] and o["to"] == PERSON
        }

    await inbound("stop please", "in-mirror-stop", to=SENDERS[1])
    assert listed() == set(SENDERS)  # a pool-wide opt-out: every number of the pool
    assert texts_to(sandbox_url, PERSON) == [DEFAULT_STOP_REPLY]  # confirmed before it
    await inbound("START", "in-mirror-start", to=SENDERS[1])
    assert listed() == set()
