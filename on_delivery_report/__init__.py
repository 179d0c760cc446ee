"""`Microsoft.Communication.SMSDeliveryReportReceived`: move the message to its final status."""

from __future__ import annotations

import azure.functions as func

from shared.event_parking import handle_or_park
from shared.events import read_delivery_report
from shared.runtime import get_services


async def main(event: func.EventGridEvent) -> None:
    services = await get_services()
    await handle_or_park(
        event, read_delivery_report, services.reports.apply, services.storage.parked
    )
