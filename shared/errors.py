"""The domain's errors: what went wrong, in words a caller can act on, and never an HTTP status.

The HTTP edge (`http_api.py`) maps each type to its status in one table; the Event Grid and
timer entry points let the transient ones (`StoreUnavailableError`) raise so the platform
retries.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the edge answers on purpose. `target` names the field or parameter;
    `reason`, when set, says which of several rules refused (`perNumber`, `country`...)."""

    code = "InvalidRequest"
    reason: str | None = None

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target


class ValidationError(DomainError):
    """Bad input: `target` names the field, parameter or header that is wrong."""

    def __init__(self, target: str, message: str) -> None:
        super().__init__(message, target=target)


class TooManyRecipientsError(ValidationError):
    code = "TooManyRecipients"


class PayloadTooLargeError(DomainError):
    code = "PayloadTooLarge"


class UnsupportedMediaTypeError(DomainError):
    code = "UnsupportedMediaType"


class MethodNotAllowedError(DomainError):
    code = "MethodNotAllowed"


class NotFoundError(DomainError):
    code = "NotFound"


class NotCancelableError(DomainError):
    code = "NotCancelable"


class ConflictError(DomainError):
    """Someone else changed the thing meanwhile: read it again and retry."""

    code = "Conflict"


class IdempotencyKeyReusedError(DomainError):
    code = "IdempotencyKeyReused"


class IdempotencyKeyInUseError(DomainError):
    code = "IdempotencyKeyInUse"

    def __init__(self, message: str, *, target: str | None, retry_after: float) -> None:
        super().__init__(message, target=target)
        self.retry_after = retry_after


class ThrottledError(DomainError):
    """A limit was reached; `retry_after` says when trying again makes sense."""

    code = "TooManyRequests"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        target: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, target=target)
        self.retry_after = retry_after
        self.reason = reason


class RefusedError(DomainError):
    """A rule refuses this request whatever the moment: trying again will not help."""

    code = "Refused"

    def __init__(self, message: str, *, target: str | None = None, reason: str) -> None:
        super().__init__(message, target=target)
        self.reason = reason


class CountryNotAllowedError(RefusedError):
    code = "CountryNotAllowed"


class RecipientOptedOutError(RefusedError):
    code = "RecipientOptedOut"


class NotResendableError(DomainError):
    """The verification cannot send its code again: it ended, or used all its texts."""

    code = "NotResendable"


class DependencyUnavailableError(DomainError):
    """A service the app relies on (ACS) could not do its part now; `retry_after` says when
    trying again makes sense. What the app keeps itself was written: repeating is safe."""

    code = "ServiceUnavailable"

    def __init__(self, message: str, *, retry_after: float, target: str | None = None) -> None:
        super().__init__(message, target=target)
        self.retry_after = retry_after


class StoreError(Exception):
    """Table Storage refused or failed an operation."""


class StoreUnavailableError(StoreError):
    """Table Storage could not be reached, timed out or answered 5xx: worth retrying later."""


class StoreRejectedError(StoreError):
    """Table Storage refused what it was given (a key or value over its limits): retrying the
    same thing cannot help."""


class NothingSentError(StoreUnavailableError):
    """Storage failed before a send was committed: nothing was sent and nothing will be."""


class SendStateUnknownError(StoreUnavailableError):
    """Storage failed while committing a send: it may still go out, so it must not be repeated
    blindly (a repeat with the same Idempotency-Key answers its state)."""

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"storage failed while recording batch {batch_id}")
        self.batch_id = batch_id


class AlreadyExistsError(StoreError):
    """An insert met a row that is already there."""

    def __init__(self, message: str = "EntityAlreadyExists", *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class ConcurrentUpdateError(StoreError):
    """An ETag condition failed: someone else changed the row since it was read. `index` is the
    position of the failed operation in its transaction, when known."""

    def __init__(
        self, message: str = "UpdateConditionNotSatisfied", *, index: int | None = None
    ) -> None:
        super().__init__(message)
        self.index = index


class BadContinuationTokenError(ValidationError):
    def __init__(self, target: str = "continuationToken") -> None:
        super().__init__(target, f"'{target}' is not a token this listing gave out")
