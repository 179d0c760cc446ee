"""Inbound SMS: thread it, route keywords first, then hand plain text to the webhook.

Every step is safe to repeat (Event Grid delivers at least once): the thread row and ledger row
have keys derived from the event, the opt-out is an upsert, and a confirmation is sent through
the Idempotency-Key machinery with the event id as key, so a repeat never texts twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import phonenumbers

from shared.cancel import cancel_pending_for
from shared.config import Settings
from shared.events import InboundSms
from shared.keywords import Intent, KeywordMatch, classify
from shared.ledger import ConsentAction, ConsentEntry, ThreadEntry
from shared.phone import event_number, mask
from shared.records import utcnow
from shared.send_request import reply_request
from shared.sending import SmsSender
from shared.store import POOL_WIDE, SmsStore
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
        store: SmsStore,
        sender: SmsSender,
        forwarder: WebhookForwarder | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._sender = sender
        self._forwarder = forwarder

    async def handle(self, sms: InboundSms) -> str:
        their = event_number(sms.sender, self._settings.default_region)
        our = event_number(sms.to, self._settings.default_region)
        match = classify(sms.text)
        if (
            match.intent is Intent.OPT_IN
            and match.keyword == "YES"
            and not await self._opted_out(their, our)
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
        first_time = await self._store.add_thread_entry(entry)
        log.info(
            "inbound %s from %s to %s%s",
            match.intent.value,
            mask(their),
            mask(our),
            "" if first_time else " (repeat)",
        )
        last = await self._store.last_outbound(their)
        await self._store.record_usage(_usage(sms, their, our, match, last))
        if match.intent is Intent.OPT_OUT:
            await self._opt_out(sms, their, our, match, last)
        elif match.intent is Intent.OPT_IN:
            await self._opt_in(sms, their, our, match)
        elif match.intent is Intent.HELP:
            await self._ledger(sms, their, our, match, "help", POOL_WIDE)
            await self._reply(sms, their, our, self._settings.help_reply)
        elif self._forwarder is not None:
            await self._forwarder.forward(sms.event_id, _webhook_payload(sms, their, our))
        return match.intent.value

    async def _opt_out(
        self, sms: InboundSms, their: str, our: str, match: KeywordMatch, last: ThreadEntry | None
    ) -> None:
        # Written before the event is acknowledged: a STOP to any number stops the whole pool.
        source = "freeText" if match.how == "freeText" else "keyword"
        await self._store.add_opt_out(their, sender=POOL_WIDE, at=sms.received_at, source=source)
        await self._ledger(sms, their, our, match, "optOut", POOL_WIDE, last)
        dropped = await cancel_pending_for(self._store, their, utcnow(), "the recipient opted out")
        if dropped:
            log.info("opt-out canceled %d waiting message(s) to %s", len(dropped), mask(their))
        if match.exact_stop and is_toll_free(our):
            return  # the carrier has replied already and ACS now blocks this pair
        await self._reply(sms, their, our, self._settings.stop_reply, confirming_opt_out=True)

    async def _opt_in(self, sms: InboundSms, their: str, our: str, match: KeywordMatch) -> None:
        await self._store.remove_opt_out(their, sender=POOL_WIDE)
        await self._store.remove_opt_out(their, sender=our)  # START also lifts a carrier block
        await self._ledger(sms, their, our, match, "optIn", POOL_WIDE)
        await self._reply(sms, their, our, self._settings.start_reply)

    async def _opted_out(self, their: str, our: str) -> bool:
        return bool(await self._store.find_opted_out([our], [their]))

    async def _ledger(
        self,
        sms: InboundSms,
        their: str,
        our: str,
        match: KeywordMatch,
        action: ConsentAction,
        scope: str,
        last: ThreadEntry | None = None,
    ) -> None:
        await self._store.add_consent(
            ConsentEntry(
                recipient=their,
                at=sms.received_at,
                action=action,
                scope=scope,
                source="freeText" if match.how == "freeText" else "keyword",
                ref=sms.event_id,
                keyword=match.keyword,
                match=match.how,
                needs_review=match.needs_review,
                our_number=our,
                text=sms.text,
                last_message_id=last.message_id if last else None,
            )
        )

    async def _reply(
        self, sms: InboundSms, their: str, our: str, text: str, *, confirming_opt_out: bool = False
    ) -> None:
        sender = our if our in self._settings.from_numbers else None
        answer = await self._sender.send(
            reply_request(their, text, sender),
            idempotency_key=f"reply:{sms.event_id}",
            confirming_opt_out=confirming_opt_out,
        )
        status = answer.body.get("results", [{}])[0].get("status") if answer.status == 202 else None
        log.info("keyword reply to %s: %s", mask(their), status or answer.status)


REPLY_WINDOW = timedelta(hours=24)


def _usage(
    sms: InboundSms, their: str, our: str, match: KeywordMatch, last: ThreadEntry | None
) -> list[UsageEvent]:
    """Inbound, and a reply when it answers something we sent within the last 24 hours."""
    country = country_of(their)
    base = {"at": sms.received_at, "key": sms.event_id, "sender": our, "country": country}
    events = [UsageEvent("inbound", segments=sms.segment_count or 1, **base)]  # type: ignore[arg-type]
    if last is not None and timedelta(0) <= sms.received_at - last.at <= REPLY_WINDOW:
        events.append(UsageEvent("reply", **base))  # type: ignore[arg-type]
    if match.intent is Intent.OPT_OUT:
        events.append(UsageEvent("optOut", reason=match.how, **base))  # type: ignore[arg-type]
    elif match.intent is Intent.OPT_IN:
        events.append(UsageEvent("optIn", **base))  # type: ignore[arg-type]
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
