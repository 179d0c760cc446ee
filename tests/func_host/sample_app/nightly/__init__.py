"""Scheduled from an app setting; runOnStartup runs it once when the host starts."""

import azure.functions as func
from samplelib import record  # type: ignore[import-not-found]


def main(timer: func.TimerRequest, context: func.Context) -> None:
    record("nightly", past_due=timer.past_due, invocation_id=context.invocation_id)
