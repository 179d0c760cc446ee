"""`/api/verifications` against a real Azurite and the ACS sandbox: the code arrives on the
handset (read from the sandbox's inbox, the only place it may be), checks approve once, wrong
codes exhaust, 50 guesses at once get `maxChecks` tries, resends text the same code."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

import send_sms
import verifications
from shared.acs_client import AcsSmsClient
from shared.clock import utcnow
from shared.config import load_settings
from shared.runtime import Services, build_services, get_services
from shared.storage import Storage
from shared.tables.verifications import VERIFICATIONS, partition_of
from shared.verifications import Verifications
from shared.verify_sending import ranked_senders
from tests.helpers import http_request, response_json, sandbox_config, sandbox_get, sandbox_post

pytestmark = pytest.mark.usefixtures("app_env")
CODE = re.compile(r"\b(\d{4,10})\b")


async def call(
    method: str,
    vid: str | None = None,
    action: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    params = {k: v for k, v in (("id", vid), ("action", action)) if v is not None}
    response = await verifications.main(
        http_request(method, "verifications", body=body, route_params=params, headers=headers)
    )
    return response.status_code, response_json(response), dict(response.headers)


async def start(to: str, **fields: Any) -> dict[str, Any]:
    status, body, _ = await call("POST", body={"to": to, **fields})
    assert status == 201, body
    return dict(body)


def codes_received(sandbox_url: str, to: str) -> list[str]:
    texts = [m["message"] for m in sandbox_get(sandbox_url, "/sandbox/messages", to=to)]
    return [found.group(1) for t in texts if (found := CODE.search(t))]


async def entity(vid: str) -> dict[str, Any]:
    services = await get_services()
    partition = partition_of(vid)
    assert partition is not None
    row = await services.storage.gateway.get(VERIFICATIONS, partition, vid)
    assert row is not None
    return dict(row)


async def usage(kind: str) -> list[dict[str, Any]]:
    services = await get_services()
    rows = await services.storage.gateway.query_all("usageEvents", "Kind eq @k", {"k": kind})
    return [dict(r) for r in rows]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


async def test_the_code_arrives_and_checks_once(sandbox_url: str) -> None:
    to = "+14255550123"
    started = await start(to, domain="example.com")
    assert {k: started[k] for k in ("to", "status", "checksRemaining", "sendsRemaining")} == {
        "to": "+1425*****23",
        "status": "pending",
        "checksRemaining": 5,
        "sendsRemaining": 4,
    }
    assert started["delivery"] == "accepted"
    [text] = sandbox_get(sandbox_url, "/sandbox/messages", to=to)
    code = codes_received(sandbox_url, to)[0]
    assert text["message"].endswith(f"\n@example.com #{code}")
    assert text["message"].startswith(f"Your Contoso code is {code}. It expires in 10 minutes.")
    row = await entity(started["id"])
    assert {"Seed", "CheckValue"} <= set(row) and code not in repr(row)

    status, checked, _ = await call("POST", started["id"], "check", {"code": wrong(code)})
    assert (status, checked["status"], checked["checksRemaining"]) == (200, "pending", 4)
    status, approved, _ = await call("POST", started["id"], "check", {"code": code})
    assert (status, approved["status"]) == (200, "approved")
    status, again, _ = await call("POST", started["id"], "check", {"code": code})
    assert (status, again["status"], again["endedAt"]) == (200, "approved", approved["endedAt"])
    assert len(await usage("verifyApproved")) == 1  # one approval, however often it is checked
    assert len(await usage("verifyStarted")) == 1
    row = await entity(started["id"])
    assert not {"Seed", "CheckValue"} & set(row)  # nothing left that could give a code back
    status, read, _ = await call("GET", started["id"])
    assert (status, read["status"]) == (200, "approved")
    assert read["delivery"] in ("accepted", "delivered")


async def test_wrong_codes_exhaust_it_and_the_right_one_is_then_too_late(sandbox_url: str) -> None:
    to = "+14255550124"
    started = await start(to, maxChecks=3, codeLength=4)
    code = codes_received(sandbox_url, to)[0]
    assert len(code) == 4
    answers = [
        (await call("POST", started["id"], "check", {"code": wrong(code)}))[1] for _ in range(3)
    ]
    assert [(a["status"], a["checksRemaining"]) for a in answers] == [
        ("pending", 2),
        ("pending", 1),
        ("exhausted", 0),
    ]
    _, late, _ = await call("POST", started["id"], "check", {"code": code})
    assert late["status"] == "exhausted"
    row = await entity(started["id"])
    assert row["Checks"] == 3 and "CheckValue" not in row


async def _second_instance() -> tuple[Services, Callable[[], Any]]:
    """Another instance of the app: its own storage clients and caches, the same tables."""
    settings = load_settings()
    storage = Storage.from_connection_string(
        settings.tables_connection_string, prefix=settings.table_prefix
    )
    acs = AcsSmsClient.from_connection(settings.acs, max_retry_after=0.0)
    twin = build_services(settings, storage, acs)

    async def close() -> None:
        await acs.aclose()
        await storage.aclose()

    return twin, close


async def test_fifty_concurrent_wrong_guesses_get_max_checks_tries(sandbox_url: str) -> None:
    to = "+14255550125"
    started = await start(to)
    code = codes_received(sandbox_url, to)[0]
    guesses = [f"{(int(code) + 1 + i) % 10**6:06d}" for i in range(50)]  # all of them wrong
    services = await get_services()
    twin, close = await _second_instance()
    try:
        answers = await asyncio.gather(
            *(
                (services if i % 2 else twin).verifications.check(started["id"], guess)
                for i, guess in enumerate(guesses)
            )
        )
    finally:
        await close()
    # Each try is decided on the record it is saved over: exactly 5 were tried.
    pending = sorted(a.verification.checks_remaining for a in answers if a.verification.is_pending)
    assert pending == [1, 2, 3, 4]
    assert all(a.verification.status.value in ("pending", "exhausted") for a in answers)
    row = await entity(started["id"])
    assert (row["Status"], row["Checks"]) == ("exhausted", 5)
    _, late, _ = await call("POST", started["id"], "check", {"code": code})
    assert late["status"] == "exhausted"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def _verifier(clock: Clock) -> Verifications:
    s = await get_services()
    return Verifications(s.settings, s.storage, s.sender, s.reports, clock=clock)


async def test_a_code_expires_and_its_secrets_go(sandbox_url: str) -> None:
    clock = Clock()
    verifier = await _verifier(clock)
    to = "+14255550126"
    started = await start(to, ttlSeconds=60)
    code = codes_received(sandbox_url, to)[0]
    clock.now += timedelta(seconds=61)
    answer = await verifier.check(started["id"], code)
    assert answer.verification.status.value == "expired"
    assert answer.verification.checks == 0  # a check after the end is no attempt
    assert not {"Seed", "CheckValue"} & set(await entity(started["id"]))


async def test_the_sweep_ends_verifications_nobody_reads_again(sandbox_url: str) -> None:
    clock = Clock()
    verifier = await _verifier(clock)
    t0 = clock.now
    started = [await start(f"+1425555013{i}", ttlSeconds=60) for i in range(3)]
    assert await verifier.expire_due() == 0  # none has run out yet
    clock.now = t0 + timedelta(seconds=61)
    assert await verifier.expire_due() == 3
    started.append(await start("+14255550139", ttlSeconds=60))  # runs out at about t0 + 61 s
    clock.now = t0 + timedelta(seconds=100)
    assert await verifier.expire_due() == 0  # the sweep runs at most once a minute
    clock.now = t0 + timedelta(seconds=125)
    assert await verifier.expire_due() == 1
    for one in started:
        row = await entity(one["id"])
        assert row["Status"] == "expired" and "Seed" not in row


async def test_resend_texts_the_same_code_after_its_wait(sandbox_url: str) -> None:
    clock = Clock()
    verifier = await _verifier(clock)
    to = "+14255550127"
    started = await start(to, ttlSeconds=3600)
    status, early, headers = await call("POST", started["id"], "resend")
    assert (status, early["error"]["innererror"]["code"]) == (429, "resendAfter")
    assert 1 <= int(headers["Retry-After"]) <= 30
    clock.now += timedelta(seconds=31)
    answer = await verifier.resend(started["id"], ip=None)
    assert (answer.verification.sends, answer.delivery) == (2, "accepted")
    assert answer.verification.resend_after == clock.now + timedelta(seconds=60)
    first, second = codes_received(sandbox_url, to)
    assert first == second
    senders = {m["from"] for m in sandbox_get(sandbox_url, "/sandbox/messages", to=to)}
    assert len(senders) == 1  # delivered: the same number again
    for _ in range(3):
        clock.now += timedelta(minutes=5)
        await verifier.resend(started["id"], ip=None)
    clock.now += timedelta(minutes=5)
    status, refused, _ = await call("POST", started["id"], "resend")
    assert (status, refused["error"]["code"]) == (409, "NotResendable")
    assert len(set(codes_received(sandbox_url, to))) == 1
    assert len(codes_received(sandbox_url, to)) == 5


async def test_a_resend_after_a_failed_report_goes_from_another_number(sandbox_url: str) -> None:
    clock = Clock()
    verifier = await _verifier(clock)
    to = "+14255550128"
    ranked = ranked_senders((await get_services()).settings.from_numbers, to)
    # The carrier drops texts to this number from its sticky sender (the first text's) only.
    sandbox_config(sandbox_url, neverDeliver=[f"{to}@{ranked[0]}"])
    started = await start(to)
    assert started["delivery"] == "accepted"
    assert sandbox_get(sandbox_url, "/sandbox/messages", to=to) == []
    await asyncio.sleep(1.2)  # the report exists (the sandbox's pull API) after a second
    clock.now += timedelta(seconds=31)
    answer = await verifier.resend(started["id"], ip=None)
    assert answer.verification.senders == (ranked[0], ranked[1])
    [received] = sandbox_get(sandbox_url, "/sandbox/messages", to=to)
    assert received["from"] == ranked[1]
    code = codes_received(sandbox_url, to)[0]
    assert (await verifier.check(started["id"], code)).verification.status.value == "approved"


async def test_a_new_verification_cancels_the_pending_one(sandbox_url: str) -> None:
    to = "+14255550129"
    first = await start(to)
    second = await start(to)
    _, old, _ = await call("GET", first["id"])
    assert (old["status"], old["endReason"]) == ("canceled", "replaced by a newer verification")
    old_code, new_code = codes_received(sandbox_url, to)
    _, checked, _ = await call("POST", first["id"], "check", {"code": old_code})
    assert checked["status"] == "canceled"
    _, checked, _ = await call("POST", second["id"], "check", {"code": new_code})
    assert checked["status"] == "approved"


async def test_a_country_outside_sms_verify_countries_is_refused(sandbox_url: str) -> None:
    status, body, _ = await call("POST", body={"to": "+447400123456"})  # GB: allowed for sends
    assert status == 403
    assert (body["error"]["code"], body["error"]["target"]) == ("CountryNotAllowed", "to")
    assert body["error"]["innererror"] == {"code": "country"}
    assert sandbox_get(sandbox_url, "/sandbox/requests") == []
    [blocked] = await usage("verifyBlocked")
    assert (blocked["Reason"], blocked["Country"]) == ("country", "GB")


async def test_an_opted_out_number_gets_no_code_and_the_answer_says_so(sandbox_url: str) -> None:
    import optouts

    to = "+14255550130"
    await optouts.main(http_request("PUT", "optouts", route_params={"phone": to}))
    status, body, _ = await call("POST", body={"to": to})
    assert (status, body["error"]["code"]) == (403, "RecipientOptedOut")
    assert "STOP" in body["error"]["message"]
    assert sandbox_get(sandbox_url, "/sandbox/messages", to=to) == []
    assert [r["Reason"] for r in await usage("verifyBlocked")] == ["optedOut"]


async def test_an_unknown_id_is_a_404_like_any_other() -> None:
    status, body, _ = await call("GET", "01KMX8R6Q3V3J8C4S5ZB2W1N0D")
    other = await send_sms.main(
        http_request("GET", "sms/x", route_params={"id": "01KMX8R6Q3V3J8C4S5ZB2W1N0D-0"})
    )
    assert status == other.status_code == 404
    assert body["error"]["code"] == response_json(other)["error"]["code"] == "NotFound"
    assert set(body["error"]) == set(response_json(other)["error"])
    for vid, action in (
        ("nope", None),
        ("01KMX8R6Q3V3J8C4S5ZB2W1N0D", "check"),
        ("D0000000000000000000000000", None),  # ULID-shaped, its time past any date
        ("ZZZZZZZZZZZZZZZZZZZZZZZZZZ", "resend"),
    ):
        code = {"code": "123456"} if action == "check" else None
        status, body, _ = await call("POST" if action else "GET", vid, action, code)
        assert (status, body["error"]["code"]) == (404, "NotFound")
    status, _, _ = await call("POST", "01KMX8R6Q3V3J8C4S5ZB2W1N0D", "approve", {})
    assert status == 404


async def test_a_repeated_start_with_its_key_texts_once(sandbox_url: str) -> None:
    to = "+14255550131"
    headers = {"Idempotency-Key": "signin-4711"}
    status, first, _ = await call("POST", body={"to": to}, headers=headers)
    status2, again, replay = await call("POST", body={"to": to}, headers=headers)
    assert (status, status2, again["id"], replay.get("Idempotent-Replayed")) == (
        201,
        201,
        first["id"],
        "true",
    )
    assert len(sandbox_get(sandbox_url, "/sandbox/messages", to=to)) == 1
    status, _, _ = await call("POST", body={"to": to, "codeLength": 8}, headers=headers)
    assert status == 422


async def test_a_text_acs_defers_goes_from_the_outbox_with_its_code(sandbox_url: str) -> None:
    sandbox_post(sandbox_url, "/sandbox/faults", {"kind": "status", "status": 429, "retryAfter": 1})
    to = "+14255550132"
    started = await start(to)
    assert started["delivery"] == "queued"
    services = await get_services()
    batch_id = (await entity(started["id"]))["Batches"]
    header = await services.storage.messages.get_header(batch_id)
    assert header is not None and "*" * 6 in header.message  # kept masked
    await asyncio.sleep(1.2)
    await services.drainer.drain()
    [code] = codes_received(sandbox_url, to)
    assert (
        await services.verifications.check(started["id"], code)
    ).verification.is_pending is False


async def test_the_outbox_never_sends_the_code_of_an_ended_verification(sandbox_url: str) -> None:
    sandbox_post(sandbox_url, "/sandbox/faults", {"kind": "status", "status": 429, "retryAfter": 1})
    to = "+14255550133"
    first = await start(to)
    await start(to)  # cancels the first, whose text waits in the outbox
    services = await get_services()
    await asyncio.sleep(1.2)
    await services.drainer.drain()
    assert len(sandbox_get(sandbox_url, "/sandbox/messages", to=to)) == 1  # the second's only
    batch_id = (await entity(first["id"]))["Batches"]
    found = await services.storage.messages.get_message(batch_id, 0)
    assert found is not None and found[1].status.value == "canceled"
