"""A simulated handset texting one of the resource's numbers: carrier keywords, then SMSReceived."""

from __future__ import annotations

from datetime import UTC, datetime

from .events import sms_received_event
from .sending import new_message_id
from .state import Sandbox


def receive(sandbox: Sandbox, handset: str, acs_number: str, text: str) -> str:
    """Returns the inbound message id (`Incoming_…`, also the event id)."""
    now = datetime.now(UTC)
    # Carriers act on STOP/START before ACS sees the text, and ACS still relays the keyword.
    sandbox.optouts.apply_keyword(acs_number, handset, text)
    message_id = new_message_id("Incoming", now)
    event = sms_received_event(message_id, handset, acs_number, text, now)
    sandbox.dispatcher.publish(event, sandbox.config.inbound_function)
    return message_id
