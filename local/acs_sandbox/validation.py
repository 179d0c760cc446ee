"""Turns request bodies into typed requests, or into the 400 body ACS would answer.

Field rules from the ACS SMS spec: `from`, `smsRecipients` (1..100) and
`message` (≤ 2048 chars) are required; error bodies use the shapes recorded from the service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .phones import is_valid_sender
from .responses import validation_problem

MAX_RECIPIENTS = 100
MAX_MESSAGE_LENGTH = 2048


class InvalidRequest(Exception):
    """The whole request is refused with 400 and this body."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.body = body


@dataclass(frozen=True)
class Recipient:
    to: str
    repeatability_request_id: object  # raw JSON value: checked per recipient, not per request
    repeatability_first_sent: object

    @property
    def wants_repeatability(self) -> bool:
        return (
            self.repeatability_request_id is not None or self.repeatability_first_sent is not None
        )


@dataclass(frozen=True)
class SendRequest:
    sender: str
    recipients: tuple[Recipient, ...]
    message: str
    enable_delivery_report: bool
    tag: str | None


@dataclass(frozen=True)
class OptOutRequest:
    sender: str
    recipients: tuple[str, ...]


def _problem(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(validation_problem({field: [message]}))


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise _problem("$", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise _problem("$", "The request body must be a JSON object.")
    return data


def _sender(data: dict[str, Any]) -> str:
    sender = data.get("from")
    if not isinstance(sender, str) or not sender:
        raise _problem("From", "The From field is required.")
    if not is_valid_sender(sender):
        # The ASP.NET model-state shape a real service returned (2021 SDK recording).
        raise InvalidRequest({"From": ["Invalid From phone number format"]})
    return sender


def _recipient_list(data: dict[str, Any], key: str, field: str) -> list[Any]:
    items = data.get(key)
    if not isinstance(items, list):
        raise _problem(field, f"The {field} field is required.")
    if not 1 <= len(items) <= MAX_RECIPIENTS:
        bound = "minimum length of '1'" if not items else f"maximum length of '{MAX_RECIPIENTS}'"
        raise _problem(field, f"The field {field} must be a string or array type with a {bound}.")
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("to"), str):
            raise _problem(f"{field}[{index}].To", "The To field is required.")
    return items


def _options(data: dict[str, Any]) -> tuple[bool, str | None]:
    options = data.get("smsSendOptions")
    if options is None:
        return False, None
    if not isinstance(options, dict):
        raise _problem("SmsSendOptions", "The SmsSendOptions field must be an object.")
    enable = options.get("enableDeliveryReport")
    if not isinstance(enable, bool):
        raise _problem(
            "SmsSendOptions.EnableDeliveryReport", "The EnableDeliveryReport field is required."
        )
    tag = options.get("tag")
    if tag is not None and not isinstance(tag, str):
        raise _problem("SmsSendOptions.Tag", "The Tag field must be a string.")
    # Accepted and ignored: the sandbox reports every message before any validity expires.
    for name in ("validityPeriodSeconds", "deliveryReportTimeoutInSeconds"):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            field = "SmsSendOptions." + name[0].upper() + name[1:]
            raise _problem(field, f"The {field} field must be an integer.")
    return enable, tag


def parse_send_request(body: bytes) -> SendRequest:
    data = _json_object(body)
    sender = _sender(data)
    items = _recipient_list(data, "smsRecipients", "SmsRecipients")
    message = data.get("message")
    if not isinstance(message, str):
        raise _problem("Message", "The Message field is required.")
    # The service is .NET: its string length counts UTF-16 code units (an emoji is 2).
    if len(message.encode("utf-16-le")) // 2 > MAX_MESSAGE_LENGTH:
        raise _problem(
            "Message",
            f"The field Message must be a string with a maximum length of {MAX_MESSAGE_LENGTH}.",
        )
    enable, tag = _options(data)
    recipients = tuple(
        Recipient(i["to"], i.get("repeatabilityRequestId"), i.get("repeatabilityFirstSent"))
        for i in items
    )
    return SendRequest(sender, recipients, message, enable, tag)


def parse_opt_out_request(body: bytes) -> OptOutRequest:
    data = _json_object(body)
    sender = _sender(data)
    items = _recipient_list(data, "recipients", "Recipients")
    return OptOutRequest(sender, tuple(i["to"] for i in items))
