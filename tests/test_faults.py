"""The README's promises under faults: nobody is texted twice, nothing is lost, a STOP wins over
a send in flight, and the API answers honestly, and in bounded time, when storage fails.

Real processes only: Azurite behind the fault proxy (`local/tcp_proxy.py`), the ACS sandbox with
its fault injection, and the local function host, killed and started again where a case says so.
Each case drives sends through one point of the pipeline with a fault, then counts, from the
handsets' inboxes and the app's own API, four broken promises: texted twice, lost, stuck and
sent after an opt-out. All four must be 0. The figures of every case are printed at the end of
the run ("fault suite").
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import ARTIFACTS
from tests.faults_judge import Figures, Sent, batch_of, judge, new_text, record, settle
from tests.faults_kit import (
    SENDERS,
    Answer,
    Api,
    FaultStack,
    Proxy,
    RigError,
    Sandbox,
    eventually,
    numbers,
    require,
    retry_after,
)

pytestmark = pytest.mark.slow

SETTLE = 40.0  # seconds a case gives the app (and a retrying client) once its fault is over:
# `settle` ends as soon as the batch is done; on a loaded two-core machine a 700-row outbox
# tick can take 25 s
ANSWER_BOUND = 30.0  # seconds within which the API must answer, whatever storage does


@pytest.fixture(scope="module")
def stack() -> Iterator[FaultStack]:
    running = FaultStack.start(ARTIFACTS / "faults")
    yield running
    running.stop()


@dataclass
class Case:
    stack: FaultStack
    api: Api
    sandbox: Sandbox
    proxy: Proxy
    began: float

    def done(self, figures: Figures, **also: bool) -> None:
        """Print the case's figures (whatever they are), then hold it to all four promises and
        to the case's own (`also`, each named for what it promises)."""
        record(figures, time.monotonic() - self.began)
        for promise, kept in also.items():
            assert kept, f"{promise.replace('_', ' ')}: {figures.line()}"
        assert figures.broken() == dict.fromkeys(figures.broken(), 0), figures.line()


@pytest.fixture
async def case(stack: FaultStack) -> AsyncIterator[Case]:
    """A host of its own on fresh tables, a fresh sandbox, the proxy passing."""
    stack.fresh_sandbox()
    stack.start_host("f" + uuid.uuid4().hex[:12])
    async with httpx.AsyncClient() as http:
        proxy = Proxy(http, stack.control_port)
        await proxy.set("pass")
        sandbox = Sandbox(http, stack.sandbox.port)
        try:
            yield Case(stack, Api(http, stack.host_port), sandbox, proxy, time.monotonic())
        finally:
            await proxy.set("pass")
            stack.kill_host()  # its tables are never used again: no need to be gentle


async def requests_with(sandbox: Sandbox, **wanted: Any) -> list[dict[str, Any]]:
    return [r for r in await sandbox.requests() if all(r[k] == v for k, v in wanted.items())]


def left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


async def retry_until_accepted(
    api: Api, body: dict[str, Any], key: str, *, deadline: float
) -> list[Answer]:
    """A client retrying with its Idempotency-Key until a 202, waiting as told (Retry-After,
    at most 2 s at a time so the case stays short); answers every answer it got."""
    answers: list[Answer] = []
    while True:
        answer = await api.send(body, key=key, within=max(1.0, min(left(deadline), ANSWER_BOUND)))
        answers.append(answer)
        if answer.status == 202 or time.monotonic() >= deadline:
            return answers
        await asyncio.sleep(min(retry_after(answer.headers) or 1.0, 2.0))


def batch_id_of(answers: list[Answer]) -> str | None:
    for answer in reversed(answers):
        if answer.status == 202:
            return str(answer.body["batchId"])
    return None


def no_faults_left(sandbox: Sandbox) -> Callable[[], Awaitable[bool]]:
    """Every injected fault has hit a request."""

    async def check() -> bool:
        return not await sandbox.faults()

    return check


def answered_in_time(answer: Answer) -> bool:
    """An answer within the bound: a success or a client error, or a 503 saying when to retry."""
    if answer.status is None or answer.seconds > ANSWER_BOUND:
        return False
    return answer.status < 500 or (answer.status == 503 and retry_after(answer.headers) is not None)


def statuses_of(answers: list[Answer]) -> str:
    return "answers " + " → ".join(str(a.status or "none") for a in answers)


async def test_a_lost_answer_then_a_429_texts_nobody_twice(case: Case) -> None:
    sends: list[Sent] = []
    # 300 recipients from one sender: three requests of 100. Each first attempt is acted on by
    # ACS but its answer is lost; each retry is then throttled.
    for recipients in (numbers(1000, 300), ["+14255550150"]):
        requests = -(-len(recipients) // 100)
        await case.sandbox.fault("drop-response", times=requests)
        await case.sandbox.fault("status", status=429, retryAfter=1, times=requests)
        text = new_text("a")
        answer = await case.api.send({"to": recipients, "message": text, "from": SENDERS[0]})
        assert answer.status == 202, answer.short()
        sends.append(Sent(answer.body["batchId"], text, recipients))
        require(await eventually(no_faults_left(case.sandbox), within=SETTLE), "faults unused")
        await settle(case.api, [answer.body["batchId"]], within=SETTLE)  # then the next send
    figures = await judge("a. answer lost, then 429 (300 + 1)", case.api, case.sandbox, sends)
    case.done(figures)


async def test_b_host_killed_mid_send_is_finished_exactly_once(case: Case) -> None:
    recipients = numbers(2000, 1000)
    text = new_text("b")
    body = {"to": recipients, "message": text}
    key = f"fault-b-{uuid.uuid4()}"
    # ACS acts on each request at once but answers 3 s late: the kill lands while it "thinks".
    await case.sandbox.fault("delay", seconds=3, times=30)
    began = time.monotonic()
    first = asyncio.create_task(case.api.send(body, key=key, within=ANSWER_BOUND))
    require(await eventually(case.sandbox.requests, within=15), "no request reached ACS")
    await asyncio.sleep(0.3)
    killed_at = time.monotonic() - began
    case.stack.kill_host()
    lost_answer = await first
    await case.sandbox.clear_faults()
    reached = len({to for r in await case.sandbox.requests() for to in r["recipients"]})

    case.stack.start_host()  # the same tables; Azurite itself never goes down
    # The dead process's claims must lapse first (SMS_CLAIM_LEASE_SECONDS=8 here): a few
    # seconds more than the other cases.
    deadline = time.monotonic() + SETTLE + 5
    answers = await retry_until_accepted(case.api, body, key, deadline=deadline)
    batch_id = batch_id_of(answers) or batch_of(text, await case.sandbox.messages())
    if batch_id:
        await settle(case.api, [batch_id], within=left(deadline))
    figures = await judge(
        "b. host killed mid-send (1,000)",
        case.api,
        case.sandbox,
        [Sent(batch_id, text, recipients)],
    )
    figures.notes += [
        f"killed {killed_at:.1f} s in, {reached} recipients had reached ACS",
        f"first answer: {lost_answer.short()}",
        statuses_of(answers),
    ]
    case.done(figures)


async def test_c_storage_unreachable_during_the_acs_call(case: Case) -> None:
    recipients = numbers(3000, 700)
    text = new_text("c")
    # No delivery reports asked for: nothing but the app itself can settle these messages.
    body = {"to": recipients, "message": text, "deliveryReport": False}
    await case.sandbox.fault("delay", seconds=1, times=30)
    sending = asyncio.create_task(case.api.send(body, within=ANSWER_BOUND * 2))
    require(await eventually(case.sandbox.requests, within=15), "no request reached ACS")
    down = await case.proxy.set("refuse")  # while ACS holds its answers
    answer = await sending  # the app gave up on storage (or finished without it)
    up = await case.proxy.set("pass")
    await case.sandbox.clear_faults()
    batch_id = (
        answer.body["batchId"]
        if answer.status == 202
        else batch_of(text, await case.sandbox.messages())
    )
    if batch_id:
        await settle(case.api, [batch_id], within=SETTLE)
    figures = await judge(
        "c. storage refused during the ACS call (700)",
        case.api,
        case.sandbox,
        [Sent(batch_id, text, recipients)],
    )
    figures.notes += [
        f"answer {answer.short()}",
        f"connections refused {up['refused'] - down['refused']}",
    ]
    case.done(figures)


async def test_d_a_stop_wins_over_a_send_being_retried(case: Case) -> None:
    person = "+14255550151"
    recipients = [person, *numbers(4000, 199)]
    text = new_text("d")
    # Two requests of 100 from our first number; each attempt but the fourth (the ACS client's
    # last) is answered 503 without ACS doing anything.
    await case.sandbox.fault("status", status=503, times=6)
    sending = asyncio.create_task(
        case.api.send({"to": recipients, "message": text, "from": SENDERS[0]})
    )
    require(await eventually(lambda: requests_with(case.sandbox, status=503), within=15), "no 503")
    # The handset texts STOP to another number of the pool: a keyword opt-out covers the whole
    # pool, while the carrier only blocks the pair it saw (so a late text still reaches it).
    inbound = await case.sandbox.inbound(person, SENDERS[1], "STOP")

    async def acknowledged() -> bool:
        return any(e["id"] == inbound and e["delivered"] for e in await case.sandbox.events())

    if not await eventually(acknowledged, within=10):
        seen = [
            {k: e[k] for k in ("state", "attempts", "lastStatus", "lastError")}
            for e in await case.sandbox.events()
            if e["id"] == inbound
        ]
        raise RigError(f"the host did not acknowledge the STOP within 10 s: {seen}")
    stop_acked = datetime.now(UTC)  # no earlier than the host's 2xx to the event
    assert await case.api.opted_out(person)
    answer = await sending
    assert answer.status == 202, answer.short()
    await settle(case.api, [answer.body["batchId"]], within=SETTLE)
    figures = await judge(
        "d. STOP during 503 retries (200)",
        case.api,
        case.sandbox,
        [Sent(answer.body["batchId"], text, recipients)],
        opted_out_at={person: stop_acked},
    )
    case.done(figures)


async def test_e_storage_down_after_acs_took_part_of_a_send(case: Case) -> None:
    recipients = numbers(5000, 700)
    text = new_text("e")
    body = {"to": recipients, "message": text}
    key = f"fault-e-{uuid.uuid4()}"
    # The first three requests are throttled (ACS takes nothing); the others ACS takes at once
    # and answers a second late, and storage goes away meanwhile.
    await case.sandbox.fault("status", status=429, retryAfter=1, times=3)
    await case.sandbox.fault("delay", seconds=1, times=30)
    sending = asyncio.create_task(case.api.send(body, key=key, within=ANSWER_BOUND * 2))
    require(await eventually(lambda: requests_with(case.sandbox, status=202), within=15), "no 202")
    await case.proxy.set("reset")
    answer = await sending
    await case.proxy.set("pass")
    await case.sandbox.clear_faults()
    taken = {to for r in await requests_with(case.sandbox, status=202) for to in r["recipients"]}

    deadline = time.monotonic() + SETTLE
    await asyncio.sleep(min(retry_after(answer.headers) or 1.0, 2.0))
    answers = [answer, *await retry_until_accepted(case.api, body, key, deadline=deadline)]
    batch_id = batch_id_of(answers) or batch_of(text, await case.sandbox.messages())
    if batch_id:
        await settle(case.api, [batch_id], within=left(deadline))
    figures = await judge(
        "e. storage down after ACS took part (700)",
        case.api,
        case.sandbox,
        [Sent(batch_id, text, recipients)],
    )
    says = answer.body.get("error", {}).get("message") if isinstance(answer.body, dict) else None
    figures.notes += [
        f"ACS took {len(taken)}",
        f"first answer {answer.short()}" + (f" {says!r}" if says else ""),
        statuses_of(answers),
    ]
    case.done(
        figures,
        the_answer_does_not_say_nothing_was_sent="nothing was sent" not in answer.text.lower(),
        a_503_says_when_to_retry=answer.status != 503 or retry_after(answer.headers) is not None,
    )


async def test_f_storage_that_hangs_gets_an_answer_in_bounded_time(case: Case) -> None:
    first = Sent(None, new_text("f"), ["+14255550152"])
    answer = await case.api.send({"to": first.recipients, "message": first.text})
    require(answer.status == 202, f"the send before the fault: {answer.short()}")
    first = Sent(answer.body["batchId"], first.text, first.recipients)
    message_id = answer.body["results"][0]["id"]

    second_to, second_text = "+14255550153", new_text("f")
    second_body = {"to": [second_to], "message": second_text}
    key = f"fault-f-{uuid.uuid4()}"
    await case.proxy.set("hang")
    posted, read = await asyncio.gather(
        case.api.send(second_body, key=key, within=ANSWER_BOUND),
        case.api.message(message_id, within=ANSWER_BOUND),
    )
    await case.proxy.set("pass")

    deadline = time.monotonic() + SETTLE
    answers = await retry_until_accepted(case.api, second_body, key, deadline=deadline)
    second = Sent(batch_id_of(answers), second_text, [second_to])
    batch_ids = [s.batch_id for s in (first, second) if s.batch_id]
    await settle(case.api, batch_ids, within=left(deadline))
    figures = await judge(
        f"f. storage hangs (answers within {ANSWER_BOUND:.0f} s)",
        case.api,
        case.sandbox,
        [first, second],
    )
    figures.notes += [f"POST {posted.short()}", f"GET {read.short()}", statuses_of(answers)]
    case.done(
        figures,
        post_answered_in_time=answered_in_time(posted),
        get_answered_in_time=answered_in_time(read),
    )


async def test_mixed_storm_texts_each_recipient_once(case: Case) -> None:
    recipients = numbers(6000, 500)
    text = new_text("storm")
    # First attempts throttled (ACS took nothing), then 503s, then answers lost after ACS acted;
    # a throttle never follows a lost answer, which the app handles correctly already.
    await case.sandbox.fault("status", status=429, retryAfter=1, times=2)
    await case.sandbox.fault("status", status=503, times=2)
    await case.sandbox.fault("drop-response", times=2)
    answer = await case.api.send({"to": recipients, "message": text})
    assert answer.status == 202, answer.short()
    await settle(case.api, [answer.body["batchId"]], within=SETTLE)
    require(await eventually(no_faults_left(case.sandbox), within=SETTLE), "faults unused")
    dropped = len(await requests_with(case.sandbox, dropped=True))
    figures = await judge(
        "mixed storm: 429, 503, lost answers (500)",
        case.api,
        case.sandbox,
        [Sent(answer.body["batchId"], text, recipients)],
    )
    figures.notes.append(f"{dropped} answers lost")
    case.done(figures)
