"""The outbox tick (`SMS_OUTBOX_SCHEDULE`, every 10 seconds by default): send what is due, at
each sender's pace; settle what expired or lost its delivery report."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.runtime import get_services

log = logging.getLogger("sms.timer")


async def main(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.info("outbox tick is late; catching up")
    services = await get_services()
    await services.drainer.drain()
