"""One-time codes: checks per second with several clients at once, through the real entry
point against Azurite, and the code each handset received read back from the sandbox."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter

from bench import app
from bench.results import Run
from bench.stack import Stack
from shared.runtime import close_services

CODE = re.compile(r"\b(\d{6})\b")
WRONG_PER_VERIFICATION = 4  # then the right code: five checks, the last one approving
# Many verifications from one process and one prefix: the limits are not what is measured.
UNLIMITED = {
    "SMS_VERIFY_LIMIT_NUMBER": "off",
    "SMS_VERIFY_LIMIT_IP": "off",
    "SMS_VERIFY_LIMIT_PREFIX": "off",
    "SMS_VERIFY_LIMIT_COUNTRY": "off",
    "SMS_VERIFY_LIMIT_TOTAL": "off",
    "SMS_VERIFY_GUARD_MIN_SENDS": "1000000",
    "SMS_VERIFY_GUARD_COUNTRY_MIN_SENDS": "1000000",
}


@contextmanager
def settings(changes: dict[str, str]) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def check_throughput(stack: Stack, verifications: int, concurrency: int) -> Run:
    """`verifications` started, then checked by `concurrency` clients at once: each client
    takes a verification and sends it four wrong codes and then the right one."""
    stack.use()
    with settings(UNLIMITED):
        await close_services()
        started = []
        for i in range(verifications):
            started.append(await app.verify("POST", body={"to": f"+1617555{i:04d}"}))
        inbox = stack.sandbox("GET", "/sandbox/messages").json()["value"]
        codes = {}
        for message in inbox:
            found = CODE.search(message["message"])
            if found:
                codes[message["to"]] = found.group(1)
        work = [(s["id"], codes[f"+1617555{i:04d}"]) for i, s in enumerate(started)]
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for item in work:
            queue.put_nowait(item)
        approved = 0

        async def client() -> None:
            nonlocal approved
            while not queue.empty():
                vid, code = queue.get_nowait()
                for n in range(WRONG_PER_VERIFICATION):
                    wrong = f"{(int(code) + 1 + n) % 1_000_000:06d}"
                    await app.verify("POST", {"id": vid, "action": "check"}, {"code": wrong})
                answer = await app.verify("POST", {"id": vid, "action": "check"}, {"code": code})
                approved += answer["status"] == "approved"

        began = perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = perf_counter() - began
        await close_services()
    if approved != verifications:
        raise RuntimeError(f"{approved} of {verifications} verifications approved")
    checks = verifications * (WRONG_PER_VERIFICATION + 1)
    return Run(checks, seconds, {"approved": approved})
