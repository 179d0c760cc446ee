"""`Microsoft.Communication.SMSReceived`: thread the message; keywords first (STOP, START, HELP)."""

from __future__ import annotations

import azure.functions as func

from shared.event_parking import handle_or_park
from shared.events import read_inbound_sms
from shared.runtime import get_services


async def main(event: func.EventGridEvent) -> None:
    services = await get_services()
    await handle_or_park(event, read_inbound_sms, services.inbound.handle, services.storage.parked)
