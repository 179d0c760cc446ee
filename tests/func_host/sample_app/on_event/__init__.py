"""Event Grid function: records each event; `data.fail` makes it raise, `data.sleep` slow."""

from __future__ import annotations

import time

import azure.functions as func
from samplelib import record  # type: ignore[import-not-found]


def main(event: func.EventGridEvent) -> None:
    if isinstance(event, func.CloudEvent):
        record(
            "cloudevent", id=event.id, type=event.type, data=event.get_json(), source=event.source
        )
        return
    data = event.get_json()
    if data.get("sleep"):
        time.sleep(float(data["sleep"]))
    record(
        "event",
        id=event.id,
        type=event.event_type,
        subject=event.subject,
        data=data,
        event_time=event.event_time.isoformat() if event.event_time else None,
        started=time.time(),
    )
    if data.get("fail"):
        raise RuntimeError(f"event {event.id} was asked to fail")
