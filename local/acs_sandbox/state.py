"""Everything the sandbox remembers, in memory, and how `POST /sandbox/reset` forgets it."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .background import Background
from .config import SandboxConfig
from .delivery import EventDispatcher
from .faults import FaultQueue
from .optouts import OptOutBook
from .ratelimit import RateLimiter
from .repeatability import RepeatabilityStore
from .reports import DeliveryReport
from .sink_state import EventSink
from .timefmt import format_timestamp


@dataclass
class OutgoingMessage:
    """A message ACS accepted; `handset_received` is False when the carrier failed it."""

    message_id: str
    sender: str
    to: str
    message: str
    segments: int
    tag: str | None
    received_at: datetime
    handset_received: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "from": self.sender,
            "to": self.to,
            "message": self.message,
            "segments": self.segments,
            "tag": self.tag,
            "receivedAt": format_timestamp(self.received_at),
        }


@dataclass
class RequestRecord:
    """One ACS request as it arrived, whatever the answer, so tests can count ACS calls.

    `recipients` are a send's `smsRecipients[].to` or an opt-out call's `recipients[].to`.
    """

    method: str
    path: str
    sender: str | None
    recipients: list[str]
    repeatability_ids: list[str]
    at: datetime
    status: int | None = None
    dropped: bool = False

    @classmethod
    def parse(cls, method: str, path: str, body: bytes) -> RequestRecord:
        """Best effort: a body that is not a valid send request still gets a record."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        fields = data if isinstance(data, dict) else {}
        recipients = fields.get("smsRecipients", fields.get("recipients"))
        items = (
            [r for r in recipients if isinstance(r, dict)] if isinstance(recipients, list) else []
        )
        sender = fields.get("from")
        return cls(
            method,
            path,
            sender if isinstance(sender, str) else None,
            [r["to"] for r in items if isinstance(r.get("to"), str)],
            [
                r["repeatabilityRequestId"]
                for r in items
                if isinstance(r.get("repeatabilityRequestId"), str)
            ],
            datetime.now(UTC),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "dropped": self.dropped,
            "from": self.sender,
            "recipients": self.recipients,
            "repeatabilityRequestIds": self.repeatability_ids,
            "at": format_timestamp(self.at),
        }


@dataclass
class Sandbox:
    startup_config: SandboxConfig
    rng: random.Random
    config: SandboxConfig = field(init=False)
    background: Background = field(init=False, default_factory=Background)
    dispatcher: EventDispatcher = field(init=False)
    inbox: list[OutgoingMessage] = field(init=False, default_factory=list)
    sent: dict[str, OutgoingMessage] = field(init=False, default_factory=dict)
    reports: dict[str, DeliveryReport] = field(init=False, default_factory=dict)
    requests: list[RequestRecord] = field(init=False, default_factory=list)  # POST /sms
    calls: list[RequestRecord] = field(init=False, default_factory=list)  # every ACS route
    faults: FaultQueue = field(init=False, default_factory=FaultQueue)
    repeatability: RepeatabilityStore = field(init=False, default_factory=RepeatabilityStore)
    rate: RateLimiter = field(init=False, default_factory=RateLimiter)
    optouts: OptOutBook = field(init=False, default_factory=OptOutBook)
    sink: EventSink = field(init=False)  # /eventgrid/… topics and /sandbox/webhooks/… receivers

    def __post_init__(self) -> None:
        self.config = self.startup_config
        self.dispatcher = EventDispatcher(lambda: self.config, self.background, self.rng)
        self.sink = EventSink(lambda: self.config.eventgrid_key)

    async def reset(self) -> None:
        """Back to the start-up state; pending reports and event deliveries are cancelled."""
        await self.background.cancel_all()
        self.dispatcher.clear()
        for store in (self.inbox, self.sent, self.reports, self.requests, self.calls):
            store.clear()
        for component in (self.faults, self.repeatability, self.rate, self.optouts, self.sink):
            component.clear()
        self.config = self.startup_config

    async def aclose(self) -> None:
        await self.background.cancel_all()
        await self.dispatcher.aclose()


SANDBOX = web.AppKey("sandbox", Sandbox)
