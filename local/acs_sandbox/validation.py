"""Turns request bodies into typed requests, or into the 400 body ACS would answer.

Field rules from the ACS SMS spec (Azure/azure-rest-api-specs,
`specification/communication/data-plane/Sms`), per api-version where they differ:
- `POST /sms`: `from`, `smsRecipients` (1..100) and `message` (≤ 2048 chars) are required;
  `smsSendOptions.enableDeliveryReport` is required when the options are sent;
  `deliveryReportTimeoutInSeconds` (2024-12-10-preview and later) is 60..43,200;
  `messagingConnect` is `{apiKey, partner}` in 2025-09-17 and `{partner, partnerParams}`
  (an object with at least one member) in 2026-01-23.
- `POST /sms/optouts:*`: `from` (at least 1 char) and `recipients` (1..100 of `{to}`, `to` at
  least 1 char).
Error bodies: RFC 9110 problem details with `errors` (2026-01-23's `BadRequestErrorResponse`),
except a malformed `from` before 2026-01-23, answered with the bare ASP.NET model state a real
service returned in a 2021 SDK recording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .phones import is_valid_sender
from .responses import validation_problem

MAX_RECIPIENTS = 100
MAX_MESSAGE_LENGTH = 2048
MIN_REPORT_TIMEOUT = 60
MAX_REPORT_TIMEOUT = 43_200
# The first api-version of each rule (versions compare by their date).
REPORT_TIMEOUT_SINCE = "2024-12-10"
PROBLEM_DETAILS_SINCE = "2026-01-23"
MESSAGING_CONNECT_SINCE = "2025-09-17"  # {apiKey, partner}
PARTNER_PARAMS_SINCE = "2026-01-23"  # {partner, partnerParams}


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
    report_timeout_seconds: int | None = None


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


def _since(version: str, first: str) -> bool:
    return version[:10] >= first


def _sender(data: dict[str, Any], version: str) -> str:
    sender = data.get("from")
    if not isinstance(sender, str) or not sender:
        raise _problem("From", "The From field is required.")
    if not is_valid_sender(sender):
        if _since(version, PROBLEM_DETAILS_SINCE):
            raise _problem("From", "Invalid From phone number format")
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
        # [Required] on a string also refuses "" (ASP.NET's AllowEmptyStrings is false).
        if not isinstance(item, dict) or not isinstance(item.get("to"), str) or not item["to"]:
            raise _problem(f"{field}[{index}].To", "The To field is required.")
    return items


def _int_option(options: dict[str, Any], name: str) -> int | None:
    value = options.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        field = "SmsSendOptions." + name[0].upper() + name[1:]
        raise _problem(field, f"The {field} field must be an integer.")
    return value


def _messaging_connect(options: dict[str, Any], version: str) -> None:
    """Shape only: the sandbox has no partners, so such a send is delivered as any other."""
    value = options.get("messagingConnect")
    if value is None or not _since(version, MESSAGING_CONNECT_SINCE):
        return  # absent, or a version without the option (its deserializer ignores it)
    prefix = "SmsSendOptions.MessagingConnect"
    if not isinstance(value, dict):
        raise _problem(prefix, "The MessagingConnect field must be an object.")
    with_params = _since(version, PARTNER_PARAMS_SINCE)
    for name in ("partner",) if with_params else ("apiKey", "partner"):
        if not isinstance(value.get(name), str) or not value[name]:
            title = name[0].upper() + name[1:]
            raise _problem(f"{prefix}.{title}", f"The {title} field is required.")
    params = value.get("partnerParams")
    if with_params and (not isinstance(params, dict) or not params):
        raise _problem(
            f"{prefix}.PartnerParams",
            "The PartnerParams field is required and needs at least one parameter.",
        )


def _options(data: dict[str, Any], version: str) -> tuple[bool, str | None, int | None]:
    options = data.get("smsSendOptions")
    if options is None:
        return False, None, None
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
    _int_option(options, "validityPeriodSeconds")
    timeout = None
    if _since(version, REPORT_TIMEOUT_SINCE):
        timeout = _int_option(options, "deliveryReportTimeoutInSeconds")
        if timeout is not None and not MIN_REPORT_TIMEOUT <= timeout <= MAX_REPORT_TIMEOUT:
            # ASP.NET's [Range] message.
            raise _problem(
                "SmsSendOptions.DeliveryReportTimeoutInSeconds",
                "The field DeliveryReportTimeoutInSeconds must be between "
                f"{MIN_REPORT_TIMEOUT} and {MAX_REPORT_TIMEOUT}.",
            )
    _messaging_connect(options, version)
    return enable, tag, timeout


def parse_send_request(body: bytes, version: str) -> SendRequest:
    """`version` is the request's (already checked) api-version: some rules depend on it."""
    data = _json_object(body)
    sender = _sender(data, version)
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
    enable, tag, timeout = _options(data, version)
    recipients = tuple(
        Recipient(i["to"], i.get("repeatabilityRequestId"), i.get("repeatabilityFirstSent"))
        for i in items
    )
    return SendRequest(sender, recipients, message, enable, tag, timeout)


def parse_opt_out_request(body: bytes, version: str) -> OptOutRequest:
    data = _json_object(body)
    sender = _sender(data, version)
    items = _recipient_list(data, "recipients", "Recipients")
    return OptOutRequest(sender, tuple(i["to"] for i in items))
