"""One-time codes through the whole app as `make run` starts it (Azurite, the ACS sandbox, the
function host as real processes, over HTTP only): codes arrive on handsets, approve once,
exhaust under 50 guesses at once, expire, resend the same code (from another number after a
failed report), and blocked countries and a pumping burst are refused with their reasons.
Then every log line, table entity and answer of the run is searched for the codes: none may
hold one, except the texts the handsets received."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.data.tables import TableServiceClient

from local.stack import Ports, azurite_tables_connection_string
from shared.verify_sending import ranked_senders
from tests.conftest import ARTIFACTS, SENDERS
from tests.stack_kit import running_stack

LOGS = ARTIFACTS / "verify-end-to-end"
PREFIX = "v2e"
CODE = re.compile(r"#(\d{8})$")
NEVER_DELIVERED = "+14255550262"  # from its sticky sender: the carrier drops those texts


@pytest.fixture(scope="module")
def stack() -> Iterator[Ports]:
    sticky = ranked_senders(SENDERS, NEVER_DELIVERED)[0]
    with running_stack(
        LOGS,
        PREFIX,
        app_env={"SMS_VERIFY_BRAND": "Contoso", "SMS_VERIFY_GUARD_MIN_SENDS": "3"},
        sandbox_env={"ACS_SANDBOX_NEVER_DELIVER": f"{NEVER_DELIVERED}@{sticky}"},
    ) as ports:
        yield ports


class Run:
    """The API and the sandbox over HTTP; every answer of the app is kept to be searched."""

    def __init__(self, ports: Ports) -> None:
        self.api = f"http://127.0.0.1:{ports.host}/api/verifications"
        self.sandbox = f"http://127.0.0.1:{ports.sandbox}"
        self.http = httpx.AsyncClient(timeout=30)
        self.answers: list[str] = []

    async def call(self, method: str, path: str = "", body: Any = None) -> tuple[int, Any]:
        response = await self.http.request(method, self.api + path, json=body)
        self.answers.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response.status_code, response.json()

    async def start(self, to: str, **fields: Any) -> dict[str, Any]:
        status, body = await self.call(
            "POST", body={"to": to, "codeLength": 8, "domain": "example.com", **fields}
        )
        assert status == 201, body
        return dict(body)

    async def inbox(self, to: str | None = None) -> list[dict[str, Any]]:
        params = {"to": to} if to else {}
        response = await self.http.get(f"{self.sandbox}/sandbox/messages", params=params)
        value: list[dict[str, Any]] = response.json()["value"]
        return value

    async def codes(self, to: str, *, count: int = 1) -> list[str]:
        deadline = time.monotonic() + 10
        while True:
            texts = [m["message"] for m in await self.inbox(to)]
            if len(texts) >= count or time.monotonic() > deadline:
                return [found.group(1) for t in texts if (found := CODE.search(t))]
            await asyncio.sleep(0.1)

    async def check(self, vid: str, code: str) -> dict[str, Any]:
        status, body = await self.call("POST", f"/{vid}/check", {"code": code})
        assert status == 200, body
        return dict(body)


def wrong(code: str, by: int = 1) -> str:
    return f"{(int(code) + by) % 10 ** len(code):0{len(code)}d}"


def table_rows(ports: Ports) -> list[str]:
    """Every entity of every table of the run, as text."""
    service = TableServiceClient.from_connection_string(
        azurite_tables_connection_string(ports.tables)
    )
    rows = []
    for table in service.list_tables():
        if table.name.startswith(PREFIX):
            client = service.get_table_client(table.name)
            rows += [
                f"{table.name} {json.dumps(dict(e), default=repr)} {e.metadata}"
                for e in client.list_entities()
            ]
    return rows


async def test_one_time_codes_end_to_end_and_no_code_outside_the_handsets(stack: Ports) -> None:
    run = Run(stack)
    try:
        await _the_story(run)
        logs = sorted(LOGS.glob("*.log"))
        handsets = await run.inbox()
        _nothing_holds_a_code(handsets, logs, run.answers, table_rows(stack))
    finally:
        await run.http.aclose()


async def _the_story(run: Run) -> None:
    expiring = await run.start("+12065550260", ttlSeconds=60)
    resent = await run.start("+13125550261")
    failing = await run.start(NEVER_DELIVERED)
    t0 = time.monotonic()  # the three have been texted: their waits have begun

    # Each story has a prefix of its own: the guard (3 texts of low conversion) judges prefixes.
    # Start → the code arrives → the right code approves, once.
    signin = await run.start("+15035550263")
    [code] = await run.codes("+15035550263")
    assert (await run.check(signin["id"], wrong(code)))["checksRemaining"] == 4
    assert (await run.check(signin["id"], code))["status"] == "approved"
    again = await run.check(signin["id"], code)
    assert again["status"] == "approved" and again["endReason"] == "the right code"

    # 50 wrong guesses at once: exactly maxChecks tries.
    guessed = await run.start("+16175550264")
    [code] = await run.codes("+16175550264")
    answers = await asyncio.gather(
        *(run.check(guessed["id"], wrong(code, 1 + i)) for i in range(50))
    )
    left = sorted(a["checksRemaining"] for a in answers if a["status"] == "pending")
    assert left == [1, 2, 3, 4]
    assert (await run.check(guessed["id"], code))["status"] == "exhausted"

    # A country outside SMS_VERIFY_COUNTRIES, and a pumping burst at one prefix.
    status, body = await run.call("POST", body={"to": "+447400123456"})
    assert (status, body["error"]["innererror"]["code"]) == (403, "country")
    statuses = []
    for n in range(5):
        burst = {"to": f"+1207555{n:04d}", "codeLength": 8, "domain": "example.com"}
        status, body = await run.call("POST", body=burst)
        statuses.append(body["error"]["innererror"]["code"] if status == 429 else status)
    assert statuses == [201, 201, 201, "lowConversion", "lowConversion"]

    # After resendAfter: the same code again; from the next number when the report failed.
    await asyncio.sleep(max(0.0, t0 + 31 - time.monotonic()))
    status, body = await run.call("POST", f"/{resent['id']}/resend")
    assert (status, body.get("sendsRemaining")) == (200, 3), body
    first, second = await run.codes("+13125550261", count=2)
    assert first == second
    _, failed = await run.call("GET", f"/{failing['id']}")
    assert failed["delivery"] == "failed"  # the report came through Event Grid
    status, body = await run.call("POST", f"/{failing['id']}/resend")
    assert status == 200
    [received] = await run.inbox(NEVER_DELIVERED)
    assert received["from"] == ranked_senders(SENDERS, NEVER_DELIVERED)[1]
    [code] = await run.codes(NEVER_DELIVERED)
    assert (await run.check(failing["id"], code))["status"] == "approved"

    # Expiry: the outbox tick's sweep ends it; a check then is too late.
    await asyncio.sleep(max(0.0, t0 + 62 - time.monotonic()))
    [code] = await run.codes("+12065550260")
    deadline = time.monotonic() + 70
    while (await run.call("GET", f"/{expiring['id']}"))[1]["status"] != "expired":
        assert time.monotonic() < deadline, "never expired"
        await asyncio.sleep(1)
    assert (await run.check(expiring["id"], code))["status"] == "expired"


def _nothing_holds_a_code(
    handsets: list[dict[str, Any]], logs: list[Any], answers: list[str], rows: list[str]
) -> None:
    codes = {found.group(1) for m in handsets if (found := CODE.search(m["message"]))}
    assert len(codes) >= 8, "the run texted too few codes to look for"
    assert logs and answers and rows
    alone = re.compile("|".join(rf"(?<!\d){c}(?!\d)" for c in sorted(codes)))
    for log in logs:
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            assert not alone.search(line), f"{log.name}:{number} holds a code"
    for answer in answers:
        assert not alone.search(answer), f"an answer holds a code: {answer[:80]}"
    for row in rows:
        assert not alone.search(row), f"a table entity holds a code: {row[:80]}"
    # What is kept of each text is masked.
    assert any("#********" in row for row in rows)
