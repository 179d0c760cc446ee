"""What ACS's SMS delivery codes mean (Azure Communication Services troubleshooting guide,
"SMS error codes"), so a report can say more than a number."""

from __future__ import annotations

DELIVERY_CODES = {
    "2000": "Delivered",
    "4000": "Rejected by fraud detection",
    "4001": "Invalid sender number format",
    "4002": "Invalid recipient number format",
    "4003": "Unsupported destination",
    "4004": "Number does not exist",
    "4005": "Blocked by the recipient's carrier",
    "4006": "Recipient unreachable",
    "4007": "Recipient opted out",
    "4008": "Profile's message limit exceeded",
    "4009": "Rejected by the entitlement check",
    "4010": "Toll-free number not verified",
    "5000": "Failed: contact support",
    "5001": "Temporarily unavailable",
    "5002": "Delivery timed out",
    "9999": "Unknown error",
}


def describe(reason: str) -> str | None:
    return DELIVERY_CODES.get(reason)
