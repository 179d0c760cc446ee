"""One-time codes for sign-in and two-factor: start, check, resend, read, expire.

- **start**: the country must be allowed (SMS_VERIFY_COUNTRIES, within SMS_ALLOWED_COUNTRIES),
  the layered limits and the conversion guard must admit the text (`verify_admission`), then the
  verification is written — its seed and check value, never its code — and becomes the number's
  latest (the one before it is canceled), and its first text goes (`verify_sending`).
- **check**: one attempt of the verification's `maxChecks`, decided on the record and saved
  ETag-conditionally; when the save meets a change (another check at the same moment) the
  record is read again and the attempt decided again, so 50 guesses at once still get exactly
  `maxChecks` tries. A check of a verification that is no longer pending changes nothing: an
  approved one answers `approved` again, and no second approval is counted.
- **resend**: the same code after `resendAfter`, at most 5 texts, through the same limits;
  from the next number of the pool when the last text's delivery report failed.
Every change is conditional on what it was decided from, so retried requests and concurrent
ones are safe; each text has its own Idempotency-Key, so none goes twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.clock import utcnow
from shared.config import Settings
from shared.delivery_reports import DeliveryReports
from shared.errors import (
    AlreadyExistsError,
    ConcurrentUpdateError,
    ConflictError,
    CountryNotAllowedError,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    NotFoundError,
    NotResendableError,
    RecipientOptedOutError,
    StoreUnavailableError,
    ThrottledError,
    ValidationError,
)
from shared.ids import new_batch_id
from shared.phone import mask
from shared.sending import SmsSender
from shared.status import Status
from shared.storage import Storage
from shared.usage import country_of
from shared.verification import (
    MAX_SENDS,
    Verification,
    VerifyStatus,
    after_check,
    after_send,
    ended,
)
from shared.verify_admission import Admission
from shared.verify_codes import check_value, code_for, code_matches, new_seed
from shared.verify_request import StartRequest
from shared.verify_sending import (
    TextRoutes,
    idempotency_key,
    ranked_senders,
    require_secret,
    text_request,
)

log = logging.getLogger("sms.verify")

MAX_TRIES = 12  # conditional saves of one verification before answering 409
KEY_LEASE = timedelta(minutes=2)
SWEEP_EVERY = timedelta(minutes=1)
SWEEP_WINDOW = timedelta(hours=3)
FIRST_SWEEP_WINDOW = timedelta(hours=26)
SWEEP_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Answer:
    verification: Verification
    delivery: str | None = None  # the status of its last text
    replayed: bool = False


class Verifications:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        sender: SmsSender,
        reports: DeliveryReports,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._verify = settings.verify
        self._storage = storage
        self._sender = sender
        self._admission = Admission(settings.verify, storage)
        self._texts = TextRoutes(settings.from_numbers, storage, reports)
        self._clock = clock
        self._swept_at: datetime | None = None

    async def start(self, request: StartRequest, *, key: str | None) -> Answer:
        secret = require_secret(self._verify)
        now = self._clock()
        country = country_of(request.to) or ""
        if not {country} <= self._verify.countries & self._settings.allowed_countries:
            await self._admission.count_block("country", country=country or None, at=now)
            raise CountryNotAllowedError(
                f"codes are not sent to numbers in {country or 'this country'} "
                "(SMS_VERIFY_COUNTRIES)",
                target="to",
                reason="country",
            )
        verification_id = new_batch_id()
        if key is not None:
            claimed = await self._claim_key(key, request, verification_id, now)
            if isinstance(claimed, Answer):
                return claimed
            verification_id = claimed
        try:
            previous = await self._admission.admit(
                to=request.to, country=country, ip=request.ip, now=now, current=verification_id
            )
        except (ThrottledError, StoreUnavailableError):
            if key is not None:  # nothing was written: a repeat may try afresh
                await self._storage.idempotency.release(_key(key))
            raise
        seed = new_seed()
        code = code_for(secret, verification_id, seed, request.code_length)
        verification = after_send(
            Verification(
                id=verification_id,
                to=request.to,
                status=VerifyStatus.PENDING,
                created_at=now,
                expires_at=now + timedelta(seconds=request.ttl_seconds),
                code_length=request.code_length,
                max_checks=request.max_checks,
                locale=request.locale,
                app_hash=request.app_hash,
                domain=request.domain,
                user_id=request.user_id,
                session=request.session,
                seed=seed,
                check_value=check_value(secret, verification_id, code),
            ),
            batch_id=new_batch_id(),
            sender=ranked_senders(self._settings.from_numbers, request.to)[0],
            now=now,
        )
        try:
            verification = await self._storage.verifications.create(verification)
        except AlreadyExistsError:  # a repeat with the key, after its first attempt wrote it
            return await self._replay(verification_id, key)
        if previous is not None and previous != verification.id:
            await self._end(previous, VerifyStatus.CANCELED, "replaced by a newer verification")
        delivery = await self._deliver(verification, 1)
        await self._admission.count_started(verification)
        if key is not None:
            await self._storage.idempotency.complete(_key(key))
        return Answer(verification, delivery)

    async def check(self, verification_id: str, code: str) -> Answer:
        secret = require_secret(self._verify)

        def decide(verification: Verification, now: datetime) -> Verification:
            assert verification.check_value is not None
            matched = not verification.is_due_to_expire(now) and code_matches(
                secret, verification.id, code, verification.check_value
            )
            return after_check(verification, matched, now)

        verification, changed = await self._update(verification_id, decide)
        if changed and verification.status is VerifyStatus.APPROVED:
            # Counted once: only the check that moved it to approved gets here.
            await self._admission.count_approved(verification)
        return Answer(verification)

    async def resend(self, verification_id: str, *, ip: str | None) -> Answer:
        require_secret(self._verify)
        for _ in range(MAX_TRIES):
            verification = await self._read(verification_id)
            if verification.is_due_to_expire(self._clock()):
                verification = await self._end(
                    verification.id, VerifyStatus.EXPIRED, "its time ran out"
                )
            if not verification.is_pending:
                raise NotResendableError(f"the verification is {verification.status.value}")
            if verification.sends >= MAX_SENDS:
                raise NotResendableError(f"all {MAX_SENDS} texts of this verification were sent")
            now = self._clock()
            after = verification.resend_after
            if after is not None and after > now:
                raise ThrottledError(
                    "the code was just sent; resend after resendAfter",
                    retry_after=(after - now).total_seconds(),
                    reason="resendAfter",
                )
            sender = await self._texts.next_sender(verification)
            await self._admission.admit(
                to=verification.to,
                country=country_of(verification.to) or "",
                ip=ip,
                now=now,
                current=None,
            )
            wanted = after_send(verification, batch_id=new_batch_id(), sender=sender, now=now)
            try:
                saved = await self._storage.verifications.replace(wanted)
            except ConcurrentUpdateError:
                continue  # a check or another resend changed it: decide again
            return Answer(saved, await self._deliver(saved, saved.sends))
        raise ConflictError("the verification is changing too fast; retry")

    async def get(self, verification_id: str) -> Answer:
        verification = await self._read(verification_id)
        if verification.is_due_to_expire(self._clock()):
            verification = await self._end(
                verification.id, VerifyStatus.EXPIRED, "its time ran out"
            )
        return Answer(verification, await self._texts.last_delivery(verification))

    async def expire_due(self) -> int:
        """End the pending verifications whose time ran out, so their seed and check value go
        even if nobody reads them again (the outbox tick runs this at most once a minute). A
        verification lives at most an hour: the last three hours' partitions hold every one
        that can still be pending — the first sweep of a process looks back a day."""
        now = self._clock()
        if self._swept_at is not None and now - self._swept_at < SWEEP_EVERY:
            return 0
        since = now - (SWEEP_WINDOW if self._swept_at is not None else FIRST_SWEEP_WINDOW)
        due = await self._storage.verifications.pending_expired(since, now, limit=SWEEP_LIMIT)
        for verification in due:
            await self._end(verification.id, VerifyStatus.EXPIRED, "its time ran out")
        self._swept_at = now if len(due) < SWEEP_LIMIT else None
        return len(due)

    async def _read(self, verification_id: str) -> Verification:
        verification = await self._storage.verifications.get(verification_id)
        if verification is None:
            raise NotFoundError("no verification has this id", target="id")
        return verification

    async def _update(
        self, verification_id: str, decide: Callable[[Verification, datetime], Verification]
    ) -> tuple[Verification, bool]:
        """Decide a change of a pending verification on its latest record and save it
        conditionally; a verification that is not pending is answered as it is."""
        for _ in range(MAX_TRIES):
            verification = await self._read(verification_id)
            if not verification.is_pending:
                return verification, False
            wanted = decide(verification, self._clock())
            try:
                return await self._storage.verifications.replace(wanted), True
            except ConcurrentUpdateError:
                continue
        raise ConflictError("too many requests changed this verification at once; retry")

    async def _end(self, verification_id: str, status: VerifyStatus, reason: str) -> Verification:
        verification, _ = await self._update(
            verification_id, lambda v, now: ended(v, status, now, reason)
        )
        return verification

    async def _deliver(self, verification: Verification, send: int) -> str:
        """Text number `send`; an opt-out ends the verification (STOP is honoured here too)."""
        outcome = await self._sender.send(
            text_request(self._verify, verification, send),
            idempotency_key=idempotency_key(verification, send),
            batch_id=verification.batches[send - 1],
        )
        message = outcome.messages[0]
        if message.status is Status.OPTED_OUT:
            await self._end(verification.id, VerifyStatus.CANCELED, "the recipient opted out")
            country = country_of(verification.to)
            await self._admission.count_block("optedOut", country=country, at=self._clock())
            raise RecipientOptedOutError(
                "the recipient opted out of texts (STOP); no code was sent. "
                "A text of START from them lifts it",
                target="to",
                reason="optedOut",
            )
        if message.status is Status.INVALID:
            await self._end(verification.id, VerifyStatus.CANCELED, "not a number to text")
            raise ValidationError("to", f"'to' cannot receive texts: {message.error_message}")
        log.info(
            "verification %s: text %d to %s %s",
            verification.id,
            send,
            mask(verification.to),
            message.status.value,
        )
        return message.status.value

    async def _claim_key(
        self, key: str, request: StartRequest, verification_id: str, now: datetime
    ) -> Answer | str:
        claimed = await self._storage.idempotency.claim(
            _key(key),
            fingerprint=request.fingerprint,
            batch_id=verification_id,
            now=now,
            lease=KEY_LEASE,
        )
        if claimed.outcome == "mismatch":
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was used with a different request body",
                target="Idempotency-Key",
            )
        if claimed.outcome == "in_progress":
            raise IdempotencyKeyInUseError(
                "a request with this Idempotency-Key is still being processed",
                target="Idempotency-Key",
                retry_after=claimed.retry_after,
            )
        found = claimed.outcome in ("replay", "resume") and (
            await self._storage.verifications.get(claimed.batch_id) is not None
        )
        if found:
            return await self._replay(claimed.batch_id, key)
        return claimed.batch_id

    async def _replay(self, verification_id: str, key: str | None) -> Answer:
        """A repeated start: the verification it made, its latest text sent if it had not gone
        (the text's own key makes that a no-op when it had)."""
        verification = await self._read(verification_id)
        delivery = None
        if verification.is_pending and verification.seed is not None:
            delivery = await self._deliver(verification, verification.sends)
        if key is not None:
            await self._storage.idempotency.complete(_key(key))
        return Answer(verification, delivery, replayed=True)


def _key(key: str) -> str:
    """Client keys of starts live apart from those of `POST /api/sms`."""
    return f"verifications {key}"
