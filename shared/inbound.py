"""Inbound SMS: thread it, route keywords first, then hand plain text to the webhook.

Every step is safe to repeat (Event Grid delivers at least once): the thread row and ledger row
have keys derived from the event, the opt-out is an upsert, and a confirmation is sent through
the Idempotency-Key machinery with the event id as key, so a repeat never texts twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import phonenumbers

from shared.config import Settings
from shared.consent import ConsentChange, ConsentService
from shared.events import InboundSms
from shared.keywords import Intent, KeywordMatch, classify
from shared.ledger import ConsentAction, ThreadEntry
from shared.phone import event_number, mask
from shared.send_request import reply_request
from shared.sending import SmsSender
from shared.storage import Storage
from shared.tables.opt_outs import POOL_WIDE
from shared.usage import UsageEvent, country_of
from shared.webhooks import WebhookForwarder

log = logging.getLogger("sms.inbound")


def is_toll_free(number: str) -> bool:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE


class InboundMessages:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        consent: ConsentService,
        sender: SmsSender,
        forwarder: WebhookForwarder | None = None,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._consent = consent
        self._sender = sender
        self._forwarder = forwarder

    async def handle(self, sms: InboundSms) -> str:
        their = event_number(sms.sender, self._settings.default_region)
        our = event_number(sms.to, self._settings.default_region)
        match = classify(sms.text)
        if (
            match.intent is Intent.OPT_IN
            and match.keyword == "YES"
            and not await self._consent.is_opted_out(their, our)
        ):
            match = KeywordMatch(Intent.NONE)  # "YES" answers a question unless they had opted out
        entry = ThreadEntry(
            their,
            our,
            "in",
            sms.received_at,
            sms.acs_message_id,
            text=sms.text,
            intent=None if match.intent is Intent.NONE else match.intent.value,
        )
        first_time = await self._storage.threads.add_if_absent(
            entry, announce=match.intent is Intent.NONE
        )
        log.info(
            "inbound %s from %s to %s%s",
            match.intent.value,
            mask(their),
            mask(our),
            "" if first_time else " (repeat)",
        )
        last = await self._storage.threads.last_outbound(their)
        await self._storage.usage.record(_usage(sms, their, our, last))
        if match.intent is Intent.OPT_OUT:
            await self._opt_out(sms, their, our, match, last)
        elif match.intent is Intent.OPT_IN:
            # START also lifts a carrier block on the number they wrote to.
            await self._consent.record(_change(sms, their, our, match, "optIn", (POOL_WIDE, our)))
            await self._reply(sms, their, our, self._settings.start_reply)
        elif match.intent is Intent.HELP:
            await self._consent.record(_change(sms, their, our, match, "help", (POOL_WIDE,)))
            await self._reply(sms, their, our, self._settings.help_reply)
        elif self._forwarder is not None:
            await self._forwarder.forward(sms.event_id, _webhook_payload(sms, their, our))
        return match.intent.value

    async def _opt_out(
        self, sms: InboundSms, their: str, our: str, match: KeywordMatch, last: ThreadEntry | None
    ) -> None:
        # Written before the event is acknowledged: a STOP to any number stops the whole pool.
        change = _change(sms, their, our, match, "optOut", (POOL_WIDE,), last_message=last)
        await self._consent.record(change, mirror=False)
        # The carrier has replied to an exact STOP to a toll-free number and blocks the pair;
        # otherwise the one confirmation goes before ACS's own list refuses the number.
        if not (match.exact_stop and is_toll_free(our)):
            await self._reply(sms, their, our, self._settings.stop_reply, confirming_opt_out=True)
        await self._consent.mirror(change)

    async def _reply(
        self, sms: InboundSms, their: str, our: str, text: str, *, confirming_opt_out: bool = False
    ) -> None:
        sender = our if our in self._settings.from_numbers else None
        outcome = await self._sender.send(
            reply_request(their, text, sender),
            idempotency_key=f"reply:{sms.event_id}",
            confirming_opt_out=confirming_opt_out,
        )
        log.info("keyword reply to %s: %s", mask(their), outcome.messages[0].status.value)


REPLY_WINDOW = timedelta(hours=24)


def _change(
    sms: InboundSms,
    their: str,
    our: str,
    match: KeywordMatch,
    action: ConsentAction,
    scopes: tuple[str, ...],
    *,
    last_message: ThreadEntry | None = None,
) -> ConsentChange:
    return ConsentChange(
        recipient=their,
        action=action,
        scopes=scopes,
        source="freeText" if match.how == "freeText" else "keyword",
        at=sms.received_at,
        ref=sms.event_id,
        our_number=our,
        usage_sender=our,
        usage_reason=match.how,
        keyword=match.keyword,
        match=match.how,
        needs_review=match.needs_review,
        text=sms.text,
        last_message_id=last_message.message_id if last_message else None,
    )


def _usage(sms: InboundSms, their: str, our: str, last: ThreadEntry | None) -> list[UsageEvent]:
    """Inbound, and a reply when it answers something we sent within the last 24 hours."""
    country = country_of(their)
    base = {"at": sms.received_at, "key": sms.event_id, "sender": our, "country": country}
    events = [UsageEvent("inbound", segments=sms.segment_count or 1, **base)]  # type: ignore[arg-type]
    if last is not None and timedelta(0) <= sms.received_at - last.at <= REPLY_WINDOW:
        events.append(UsageEvent("reply", **base))  # type: ignore[arg-type]
    return events


def _webhook_payload(sms: InboundSms, their: str, our: str) -> dict[str, object]:
    return {
        "type": "sms.received",
        "id": sms.event_id,
        "acsMessageId": sms.acs_message_id,
        "from": their,
        "to": our,
        "message": sms.text,
        "receivedAt": sms.received_at.isoformat(),
        "segmentCount": sms.segment_count,
    }
