"""The official `azure-communication-sms` SDK is the judge: it must work against the sandbox unchanged.

Note: `SmsClient.from_connection_string` drops the endpoint's scheme (its parser keeps only the
host) and then assumes https, so against a plain-HTTP sandbox the SDK is built either from the
endpoint URL directly or with an azure-core policy that keeps the request on http.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from azure.communication.sms import SmsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

from local.acs_sandbox import DEV_ACCESS_KEY, connection_string
from local.acs_sandbox.config import SandboxConfig
from local.acs_sandbox.testing import serve

SENDER = "+18005550100"
ALICE = "+14255550123"


class PlainHttp(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Keeps the SDK's requests on http:// (the sandbox has no TLS)."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.http_request.url = request.http_request.url.replace("https://", "http://", 1)


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    async with serve(SandboxConfig(time_scale=100.0, report_delay_seconds=0.0)) as url:
        yield url


async def control(method: str, url: str, **kwargs: Any) -> Any:
    """The control API, without blocking the loop that serves the in-process sandbox."""
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.request(method, url, **kwargs)
    response.raise_for_status()
    return response.json()


def sdk(endpoint: str, key: str = DEV_ACCESS_KEY) -> Any:
    """The SDK's type comments confuse mypy (`self: str`), so the client is used untyped."""
    return cast(Any, SmsClient)(endpoint, AzureKeyCredential(key))


def results(sent: list[Any]) -> list[tuple[str, int, bool, str | None]]:
    return [(r.to, r.http_status_code, r.successful, r.error_message) for r in sent]


async def test_sdk_send_gets_per_recipient_results(sandbox):
    client = sdk(sandbox)
    sent = await asyncio.to_thread(
        client.send,
        from_=SENDER,
        to=[ALICE, "+1234"],
        message="Hello from the SDK",
        enable_delivery_report=True,
        tag="sdk",
    )

    assert results(sent) == [
        (ALICE, 202, True, None),
        ("+1234", 400, False, "Invalid To phone number format."),
    ]
    assert sent[0].message_id.startswith("Outgoing_")
    inbox = (await control("GET", f"{sandbox}/sandbox/messages"))["value"]
    assert [(m["messageId"], m["tag"]) for m in inbox] == [(sent[0].message_id, "sdk")]


async def test_sdk_from_connection_string(sandbox):
    port = int(sandbox.rsplit(":", 1)[1])
    client = cast(Any, SmsClient).from_connection_string(
        connection_string(port), per_call_policies=[PlainHttp()]
    )
    sent = await asyncio.to_thread(client.send, from_=SENDER, to=ALICE, message="hi")
    assert results(sent) == [(ALICE, 202, True, None)]


async def test_sdk_retries_a_503_with_the_same_repeatability_ids(sandbox):
    await control("POST", f"{sandbox}/sandbox/faults", json={"kind": "status", "status": 503})
    client = sdk(sandbox)
    sent = await asyncio.to_thread(client.send, from_=SENDER, to=[ALICE], message="retry me")

    assert results(sent) == [(ALICE, 202, True, None)]
    requests = (await control("GET", f"{sandbox}/sandbox/requests"))["value"]
    assert [r["status"] for r in requests] == [503, 202]
    assert requests[0]["repeatabilityRequestIds"] == requests[1]["repeatabilityRequestIds"]
    assert len((await control("GET", f"{sandbox}/sandbox/messages"))["value"]) == 1


def test_sdk_against_the_sandbox_process(sandbox_url):
    """`python -m local.acs_sandbox`, as the local stack starts it."""
    client = sdk(sandbox_url)
    sent = client.send(from_=SENDER, to=[ALICE], message="via the process")
    wrong_key = sdk(sandbox_url, "d3Jvbmcta2V5")

    assert results(sent) == [(ALICE, 202, True, None)]
    messages = httpx.get(f"{sandbox_url}/sandbox/messages", params={"to": ALICE}).json()["value"]
    assert [m["message"] for m in messages] == ["via the process"]
    with pytest.raises(ClientAuthenticationError):
        wrong_key.send(from_=SENDER, to=[ALICE], message="denied")
