"""Clients and services built once per worker process and reused by every invocation.

The aio clients belong to the event loop that made them; if the loop changes (as between
tests), they are rebuilt.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from shared.acs_client import AcsSmsClient
from shared.acs_messages import delivery_report_timeout_seconds
from shared.config import Settings, load_settings
from shared.consent import ConsentService
from shared.delivery_reports import DeliveryReports
from shared.dispatch import Dispatcher
from shared.event_publisher import EventPublisher
from shared.inbound import InboundMessages
from shared.outbox import OutboxDrainer
from shared.sending import SmsSender
from shared.storage import Storage
from shared.verifications import Verifications
from shared.verify_sending import VerificationTextSource
from shared.webhooks import WebhookForwarder


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    storage: Storage
    acs: AcsSmsClient
    consent: ConsentService
    sender: SmsSender
    reports: DeliveryReports
    inbound: InboundMessages
    forwarder: WebhookForwarder | None
    drainer: OutboxDrainer
    verifications: Verifications
    publisher: EventPublisher


# The Azure SDKs log every request URL at INFO; table keys hold phone numbers (personal data).
logging.getLogger("azure").setLevel(logging.WARNING)

_current: tuple[asyncio.AbstractEventLoop, Services] | None = None


def build_services(settings: Settings, storage: Storage, acs: AcsSmsClient) -> Services:
    lease = timedelta(seconds=settings.claim_lease_seconds)
    report_timeout = timedelta(minutes=settings.report_timeout_minutes)
    dispatcher = Dispatcher(
        storage,
        acs,
        report_timeout=report_timeout,
        acs_report_timeout=delivery_report_timeout_seconds(settings.report_timeout_minutes),
        private_texts=VerificationTextSource(settings.verify, storage),
    )
    consent = ConsentService(storage, acs, pool=settings.from_numbers)
    reports = DeliveryReports(storage, consent, acs, settings.default_region)
    sender = SmsSender(settings, storage, dispatcher, claim_lease=lease)
    forwarder = (
        WebhookForwarder(settings.inbound_webhook_url, settings.inbound_webhook_secret)
        if settings.inbound_webhook_url
        else None
    )
    return Services(
        settings,
        storage,
        acs,
        consent,
        sender,
        reports,
        InboundMessages(settings, storage, consent, sender, forwarder),
        forwarder,
        OutboxDrainer(
            storage,
            dispatcher,
            reports,
            rate_per_minute=settings.rate_per_number_per_minute,
            quiet_hours=settings.quiet_hours,
            report_timeout=report_timeout,
            claim_lease=lease,
        ),
        Verifications(settings, storage, sender, reports),
        EventPublisher(settings.events, storage),
    )


async def get_services() -> Services:
    global _current
    loop = asyncio.get_running_loop()
    if _current is not None and _current[0] is loop:
        return _current[1]
    settings = load_settings()
    storage = Storage.from_connection_string(
        settings.tables_connection_string, prefix=settings.table_prefix
    )
    # A throttled request goes back to the outbox (due after Retry-After) instead of holding up
    # the other senders' requests while it waits.
    acs = AcsSmsClient.from_connection(settings.acs, max_retry_after=0.0)
    services = build_services(settings, storage, acs)
    _current = (loop, services)
    return services


async def close_services() -> None:
    """Close the clients of this loop (tests; the worker keeps them for its lifetime)."""
    global _current
    if _current is None:
        return
    services = _current[1]
    _current = None
    await services.acs.aclose()
    await services.publisher.aclose()
    await services.storage.aclose()
    if services.forwarder is not None:
        await services.forwarder.aclose()
