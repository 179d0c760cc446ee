"""The outbox tick (`SMS_OUTBOX_SCHEDULE`, every 10 seconds by default): send what is due, at
each sender's pace; settle what expired or lost its delivery report; apply kept delivery
reports whose message has appeared; keep the usage rollups fresh and end verifications whose
time ran out (each at most once a minute)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.clock import utcnow
from shared.errors import StoreUnavailableError
from shared.rollups_refresh import refresh_rollups
from shared.runtime import get_services

log = logging.getLogger("sms.timer")


async def main(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.info("outbox tick is late; catching up")
    services = await get_services()
    await services.drainer.drain()
    try:
        await services.reports.retry_kept(utcnow())  # reports that came before their message
        await refresh_rollups(services.storage.usage, utcnow())
        await services.verifications.expire_due()
    except StoreUnavailableError:  # the next tick tries again; sending must not wait for it
        log.warning("kept reports, rollups and verifications not refreshed: storage unavailable")
