"""The app's repositories over one table gateway: what a service is given to keep its state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.tables.conversations import ConsentLedger, ThreadRepository
from shared.tables.event_deliveries import EventDeliveries
from shared.tables.event_log import EventLog
from shared.tables.gateway import TableGateway
from shared.tables.idempotency_keys import IdempotencyKeys
from shared.tables.messages import MessageRepository
from shared.tables.opt_outs import OptOutRepository
from shared.tables.outbox import OutboxRepository
from shared.tables.parked_events import ParkedEvents
from shared.tables.pending_events import PendingEvents
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
    pending_events: PendingEvents
    event_log: EventLog
    event_deliveries: EventDeliveries

    @classmethod
    def over(cls, gateway: TableGateway) -> Storage:
        pending = PendingEvents(gateway)
        return cls(
            gateway,
            MessageRepository(gateway, pending),
            OptOutRepository(gateway),
            ConsentLedger(gateway, pending),
            ThreadRepository(gateway, pending),
            OutboxRepository(gateway),
            RateBucketRepository(gateway),
            IdempotencyKeys(gateway),
            UsageRepository(gateway),
            ParkedEvents(gateway),
            VerificationRepository(gateway, pending),
            pending,
            EventLog(gateway),
            EventDeliveries(gateway, pending),
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
