"""How a verification's text goes out: through the one send path (`SmsSender.send`), once per
send number, and never stored.

- Each text is a send of its own, with the Idempotency-Key `verification <id> <n>` and the
  batch id the verification recorded for it before it went: a retried request, a repeated start
  or a process dying half-way sends text `n` at most once (and the repeat finds its outcome).
- The batch keeps the text with the code masked; the code itself lives only in memory, in the
  request that sends it. If the outbox has to send it (ACS said "later", or the process died
  with the text claimed), `text_for` derives it again from the verification — as long as it is
  pending; after that the message is canceled unsent.
- It goes at once: no `sendAt` (quiet hours hold only scheduled sends), `priority` (ahead of
  bulk traffic in the sender's budget), and `validUntil` its expiry (never a late code).
  Opt-outs apply as to every send.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from shared.acs_errors import AcsError
from shared.config import SettingsError
from shared.delivery_reports import DeliveryReports
from shared.pacing import sticky_sender
from shared.records import MessageRecord
from shared.send_request import SendRequest
from shared.status import Status
from shared.storage import Storage
from shared.verification import Verification
from shared.verify_codes import code_for
from shared.verify_config import VerifySettings

TAG = "verification"
REF_PREFIX = "verification:"
UNDELIVERED = frozenset({Status.FAILED, Status.REJECTED})


def require_secret(settings: VerifySettings) -> bytes:
    if settings.secret is None:
        raise SettingsError(
            "SMS_VERIFY_SECRET: required for /api/verifications (a Key Vault reference on Azure)"
        )
    return settings.secret


def idempotency_key(verification: Verification, send: int) -> str:
    return f"verification {verification.id} {send}"


def text_ref(verification: Verification, send: int) -> str:
    return f"{REF_PREFIX}{verification.id}:{send}"


def ranked_senders(pool: Sequence[str], to: str) -> list[str]:
    """The pool in the order a verification tries it: the recipient's sticky number first."""
    rest = list(pool)
    ranked: list[str] = []
    while rest:
        ranked.append(sticky_sender(rest, to))
        rest.remove(ranked[-1])
    return ranked


def text_request(settings: VerifySettings, verification: Verification, send: int) -> SendRequest:
    """Text number `send` (1-based) of a pending verification, from the sender it recorded."""
    assert verification.seed is not None, "only a pending verification has a code"
    code = code_for(
        require_secret(settings), verification.id, verification.seed, verification.code_length
    )
    options = verification.text_options
    sender = verification.senders[send - 1]
    return SendRequest(
        to=[verification.to],
        message=settings.texts.render_hidden(verification.code_length, options),
        sender=sender,
        tag=TAG,
        delivery_report=True,
        dry_run=False,
        fingerprint=hashlib.sha256(f"{text_ref(verification, send)}|{sender}".encode()).hexdigest(),
        valid_until=verification.expires_at,
        private_text=settings.texts.render(code, options),
        text_ref=text_ref(verification, send),
        priority=True,
    )


class TextRoutes:
    """Which pool number a verification's next text goes from, and how its last one fared."""

    def __init__(self, pool: Sequence[str], storage: Storage, reports: DeliveryReports) -> None:
        self._pool = pool
        self._storage = storage
        self._reports = reports

    async def last_message(self, verification: Verification) -> MessageRecord | None:
        if not verification.batches:
            return None
        found = await self._storage.messages.get_message(verification.batches[-1], 0)
        return None if found is None else found[1]

    async def last_delivery(self, verification: Verification) -> str | None:
        message = await self.last_message(verification)
        return None if message is None else message.status.value

    async def next_sender(self, verification: Verification) -> str:
        """The last text's number again, or the next one of the pool if that text failed. A
        last text without a report yet is asked about first (`GET /deliveryReports/{id}`):
        its report may be late, while the person waiting for a code is not."""
        ranked = ranked_senders(self._pool, verification.to)
        last = verification.senders[-1] if verification.senders else ranked[0]
        message = await self.last_message(verification)
        if message is not None and message.status is Status.ACCEPTED:
            try:
                if await self._reports.pull(message):
                    message = await self.last_message(verification)
            except AcsError:
                pass  # ACS cannot say now: judge by what we know
        if message is None or message.status not in UNDELIVERED or len(ranked) < 2:
            return last if last in ranked else ranked[0]
        position = ranked.index(last) if last in ranked else -1
        return ranked[(position + 1) % len(ranked)]


class VerificationTextSource:
    """The dispatcher's `PrivateTexts` for verification texts the outbox sends."""

    def __init__(self, settings: VerifySettings, storage: Storage) -> None:
        self._settings = settings
        self._storage = storage

    async def text_for(self, ref: str) -> str | None:
        if not ref.startswith(REF_PREFIX):
            return None
        verification_id, _, send = ref[len(REF_PREFIX) :].partition(":")
        verification = await self._storage.verifications.get(verification_id)
        if (
            verification is None
            or not verification.is_pending
            or verification.seed is None
            or not send.isdigit()
            or not 1 <= int(send) <= verification.sends
        ):
            return None
        return text_request(self._settings, verification, int(send)).private_text
