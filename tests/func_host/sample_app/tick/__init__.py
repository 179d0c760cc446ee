"""Fires every second but runs 1.5 s, so the host must skip ticks rather than overlap runs."""

from __future__ import annotations

import asyncio
import time

import azure.functions as func
from samplelib import record  # type: ignore[import-not-found]


async def main(mytimer: func.TimerRequest) -> None:
    started = time.time()
    await asyncio.sleep(1.5)
    record(
        "tick",
        started=started,
        ended=time.time(),
        past_due=mytimer.past_due,
        # The abstract func.TimerRequest declares only past_due; the worker's object has more.
        schedule_status=getattr(mytimer, "schedule_status", None),
        schedule=getattr(mytimer, "schedule", None),
    )
