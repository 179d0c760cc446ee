"""The official `azure-communication-sms` SDK is the judge: it must work against the sandbox unchanged.

`SmsClient.from_connection_string` keeps only the endpoint's host and then assumes https, so it
is tested against the sandbox's HTTPS listener, trusted through `REQUESTS_CA_BUNDLE` (the sync
client, on requests) or `SSL_CERT_FILE` (the async client, on aiohttp). The plain-HTTP sandbox
is reached with `SmsClient("http://…", AzureKeyCredential(key))`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from azure.communication.sms import SmsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from local.acs_sandbox import DEV_ACCESS_KEY, connection_string
from local.acs_sandbox.config import SandboxConfig
from local.acs_sandbox.testing import serve
from local.acs_sandbox.tls import TlsFiles, ensure_certificate
from local.stack import ROOT, Service, free_port, sandbox_service

SENDER = "+18005550100"
ALICE = "+14255550123"
FAST = SandboxConfig(time_scale=100.0, report_delay_seconds=0.0)


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    async with serve(FAST) as url:
        yield url


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def https_sandbox(tls: TlsFiles) -> AsyncIterator[str]:
    async with serve(FAST, tls=tls) as url:
        yield url


async def control(method: str, url: str, **kwargs: Any) -> Any:
    """The control API, without blocking the loop that serves the in-process sandbox."""
    async with httpx.AsyncClient(trust_env=False, verify=False) as http:
        response = await http.request(method, url, **kwargs)
    response.raise_for_status()
    return response.json()


def sdk(endpoint: str, key: str = DEV_ACCESS_KEY) -> Any:
    """The SDK's type comments confuse mypy (`self: str`), so the client is used untyped."""
    return cast(Any, SmsClient)(endpoint, AzureKeyCredential(key))


def sdk_from(conn_str: str) -> Any:
    return cast(Any, SmsClient).from_connection_string(conn_str)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


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


async def test_sdk_from_connection_string_over_https(https_sandbox, tls, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca))
    assert https_sandbox.startswith("https://127.0.0.1:")
    client = sdk_from(connection_string(port_of(https_sandbox), https=True))
    by_name = sdk_from(connection_string(port_of(https_sandbox), host="localhost", https=True))

    sent = await asyncio.to_thread(client.send, from_=SENDER, to=ALICE, message="over TLS")
    again = await asyncio.to_thread(by_name.send, from_=SENDER, to=ALICE, message="by name")

    assert results(sent) == [(ALICE, 202, True, None)]
    assert results(again) == [(ALICE, 202, True, None)]
    inbox = (await control("GET", f"{https_sandbox}/sandbox/messages"))["value"]
    assert [m["message"] for m in inbox] == ["over TLS", "by name"]


async def test_sdk_refuses_the_sandbox_certificate_unless_trusted(https_sandbox, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    client = sdk_from(connection_string(port_of(https_sandbox), https=True))
    with pytest.raises(ServiceRequestError):
        await asyncio.to_thread(client.send, from_=SENDER, to=ALICE, message="untrusted")
    assert (await control("GET", f"{https_sandbox}/sandbox/requests"))["value"] == []


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


@pytest.fixture(scope="module")
def https_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, int, Path]]:
    """A sandbox process serving HTTP and HTTPS, its certificate made on this first run."""
    tls_dir = tmp_path_factory.mktemp("process-tls")
    https_port = free_port()
    service = sandbox_service(
        free_port(),
        env={"ACS_SANDBOX_HTTPS_PORT": str(https_port), "ACS_SANDBOX_TLS_DIR": str(tls_dir)},
        log_path=tmp_path_factory.mktemp("logs") / "acs-sandbox.log",
    )
    service.start()
    yield service, https_port, tls_dir
    service.stop()


SDK_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from azure.communication.sms import SmsClient
    from azure.communication.sms.aio import SmsClient as AsyncSmsClient

    conn_str, sender, to = sys.argv[1:4]

    async def send_async():
        async with AsyncSmsClient.from_connection_string(conn_str) as client:
            return await client.send(from_=sender, to=[to], message="async SDK")

    sync = SmsClient.from_connection_string(conn_str).send(from_=sender, to=[to], message="sync SDK")
    both = sync + asyncio.run(send_async())
    print(json.dumps([[r.to, r.http_status_code, r.successful] for r in both]))
    """
)


def test_sdk_sync_and_async_against_the_https_process(https_process):
    """Unchanged SDK code in a fresh interpreter; trust comes from the environment only."""
    service, https_port, tls_dir = https_process
    ca = str(tls_dir / "ca.pem")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            SDK_SCRIPT,
            connection_string(https_port, https=True),
            SENDER,
            ALICE,
        ],
        env={"PATH": "/usr/bin:/bin", "SSL_CERT_FILE": ca, "REQUESTS_CA_BUNDLE": ca},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [[ALICE, 202, True], [ALICE, 202, True]]
    base = f"http://127.0.0.1:{service.port}"
    messages = httpx.get(f"{base}/sandbox/messages", params={"to": ALICE}).json()["value"]
    assert [m["message"] for m in messages] == ["sync SDK", "async SDK"]
    assert {p.name for p in tls_dir.iterdir()} >= {"ca.pem", "cert.pem", "key.pem"}
