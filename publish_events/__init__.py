"""The event publisher's tick (`SMS_EVENTS_SCHEDULE`, every 5 seconds in the example settings):
move the events written with each state change into the event log, deliver what is new to every
destination, retry what is due, and forget what is past the retention."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.errors import StoreUnavailableError
from shared.runtime import get_services

log = logging.getLogger("sms.events")


async def main(timer: func.TimerRequest) -> None:
    services = await get_services()
    try:
        report = await services.publisher.tick()
    except StoreUnavailableError:  # nothing is lost: the next tick starts where this one was
        log.warning("events not published this tick: storage unavailable")
        return
    if report.logged:
        log.info("events: %d logged", report.logged)
