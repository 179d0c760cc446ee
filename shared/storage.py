"""The app's repositories over one table gateway: what a service is given to keep its state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.tables.conversations import ConsentLedger, ThreadRepository
from shared.tables.gateway import TableGateway
from shared.tables.idempotency_keys import IdempotencyKeys
from shared.tables.messages import MessageRepository
from shared.tables.opt_outs import OptOutRepository
from shared.tables.outbox import OutboxRepository
from shared.tables.parked_events import ParkedEvents
from shared.tables.rate_buckets import RateBucketRepository
from shared.tables.usage import UsageRepository
from shared.tables.verifications import VerificationRepository


@dataclass(frozen=True, slots=True)
class Storage:
    gateway: TableGateway
    messages: MessageRepository
    opt_outs: OptOutRepository
    consent: ConsentLedger
    threads: ThreadRepository
    outbox: OutboxRepository
    buckets: RateBucketRepository
    idempotency: IdempotencyKeys
    usage: UsageRepository
    parked: ParkedEvents
    verifications: VerificationRepository

    @classmethod
    def over(cls, gateway: TableGateway) -> Storage:
        return cls(
            gateway,
            MessageRepository(gateway),
            OptOutRepository(gateway),
            ConsentLedger(gateway),
            ThreadRepository(gateway),
            OutboxRepository(gateway),
            RateBucketRepository(gateway),
            IdempotencyKeys(gateway),
            UsageRepository(gateway),
            ParkedEvents(gateway),
            VerificationRepository(gateway),
        )

    @classmethod
    def from_connection_string(
        cls, connection_string: str, *, prefix: str, **client_kwargs: Any
    ) -> Storage:
        return cls.over(
            TableGateway.from_connection_string(connection_string, prefix=prefix, **client_kwargs)
        )

    async def aclose(self) -> None:
        await self.gateway.aclose()
