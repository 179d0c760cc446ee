"""What `/api/verifications` answers about a verification: never its code, its seed or its check
value, and the number masked (the caller knows it; a log or a screen it ends up on need not)."""

from __future__ import annotations

from typing import Any

from shared.clock import iso
from shared.phone import mask
from shared.verification import Verification


def verification_view(verification: Verification, *, delivery: str | None) -> dict[str, Any]:
    """`delivery`: the status of its last text (`accepted`, `delivered`, `failed`...)."""
    out: dict[str, Any] = {
        "id": verification.id,
        "to": mask(verification.to),
        "status": verification.status.value,
        "createdAt": iso(verification.created_at),
        "expiresAt": iso(verification.expires_at),
        "resendAfter": iso(verification.resend_after),
        "checksRemaining": verification.checks_remaining,
        "sendsRemaining": verification.sends_remaining,
        "codeLength": verification.code_length,
        "delivery": delivery,
    }
    if verification.ended_at is not None:
        out["endedAt"] = iso(verification.ended_at)
        out["endReason"] = verification.end_reason
    context = {
        name: value
        for name, value in (("userId", verification.user_id), ("session", verification.session))
        if value is not None
    }
    if context:
        out["context"] = context
    return out
