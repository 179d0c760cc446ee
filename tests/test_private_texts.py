"""A text that must never be stored (a one-time code): the batch keeps it masked, the handset
gets the real one, and the outbox never sends the masked one in its place."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from shared.runtime import get_services
from shared.send_request import SendRequest
from tests.helpers import sandbox_get, sandbox_post

pytestmark = pytest.mark.usefixtures("app_env")


def private(to: str, ref: str) -> SendRequest:
    return SendRequest(
        to=[to],
        message="Your code is ******.",
        sender=None,
        tag="private",
        delivery_report=True,
        dry_run=False,
        fingerprint=hashlib.sha256(ref.encode()).hexdigest(),
        private_text="Your code is 271828.",
        text_ref=ref,
        priority=True,
    )


async def test_the_handset_gets_the_text_and_the_batch_keeps_it_masked(sandbox_url: str) -> None:
    services = await get_services()
    outcome = await services.sender.send(private("+14255550150", "test:1"), idempotency_key=None)
    assert outcome.messages[0].status.value == "accepted"
    [received] = sandbox_get(sandbox_url, "/sandbox/messages", to="+14255550150")
    assert received["message"] == "Your code is 271828."
    header = await services.storage.gateway.get("messages", outcome.batch.batch_id, "batch")
    assert header["Message"] == "Your code is ******." and header["TextRef"] == "test:1"
    assert "271828" not in repr(dict(header))


async def test_the_outbox_cancels_a_text_it_cannot_get_again(sandbox_url: str) -> None:
    sandbox_post(sandbox_url, "/sandbox/faults", {"kind": "status", "status": 429, "retryAfter": 1})
    services = await get_services()
    outcome = await services.sender.send(private("+14255550151", "test:2"), idempotency_key=None)
    assert outcome.messages[0].status.value == "queued"  # ACS said later: the outbox has it
    await asyncio.sleep(1.2)
    await services.drainer.drain()
    # Nothing knows a text for `test:2`: canceled unsent, never sent masked.
    assert sandbox_get(sandbox_url, "/sandbox/messages", to="+14255550151") == []
    found = await services.storage.messages.get_message(outcome.batch.batch_id, 0)
    assert found is not None and found[1].status.value == "canceled"
