"""Who may not be texted by whom: carrier STOP blocks and ACS's opt-out list.

Two separate records because they behave differently: a US toll-free
carrier enforces STOP itself and only the handset's START/UNSTOP lifts it; ACS's opt-out list is
also filled by keywords but can be edited through `/sms/optouts:add|remove`. Either one makes a
send fail with "Sender blocked for given recipient.".
"""

from __future__ import annotations

from typing import Literal

from .phones import is_toll_free

# Carrier keywords on US toll-free numbers (ACS SMS FAQ): STOP blocks, START/UNSTOP unblocks.
_STOP = frozenset({"stop"})
_START = frozenset({"start", "unstop"})

Pair = tuple[str, str]  # (sender, recipient)


def carrier_keyword(sender: str, text: str) -> Literal["stop", "start"] | None:
    """The carrier's reading of an inbound text: only the whole trimmed message counts."""
    if not is_toll_free(sender):
        return None
    word = text.strip().lower()
    if word in _STOP:
        return "stop"
    if word in _START:
        return "start"
    return None


class OptOutBook:
    def __init__(self) -> None:
        self._carrier_blocks: set[Pair] = set()
        self._opted_out: set[Pair] = set()

    def apply_keyword(self, sender: str, handset: str, text: str) -> None:
        """A handset texted `sender`; toll-free STOP/START also updates ACS's list, as ACS does."""
        keyword = carrier_keyword(sender, text)
        if keyword == "stop":
            self._carrier_blocks.add((sender, handset))
            self._opted_out.add((sender, handset))
        elif keyword == "start":
            self._carrier_blocks.discard((sender, handset))
            self._opted_out.discard((sender, handset))

    def add(self, sender: str, recipient: str) -> None:
        self._opted_out.add((sender, recipient))

    def remove(self, sender: str, recipient: str) -> None:
        # Assumed: the API cannot lift a carrier-level toll-free STOP (undocumented).
        self._opted_out.discard((sender, recipient))

    def is_opted_out(self, sender: str, recipient: str) -> bool:
        return (sender, recipient) in self._opted_out

    def is_blocked(self, sender: str, recipient: str) -> bool:
        pair = (sender, recipient)
        return pair in self._carrier_blocks or pair in self._opted_out

    def to_json(self) -> list[dict[str, object]]:
        """Every blocked pair: on ACS's opt-out list, blocked by the carrier, or both."""
        pairs = sorted(self._opted_out | self._carrier_blocks)
        return [
            {
                "from": sender,
                "to": recipient,
                "optedOut": (sender, recipient) in self._opted_out,
                "carrierBlocked": (sender, recipient) in self._carrier_blocks,
            }
            for sender, recipient in pairs
        ]

    def clear(self) -> None:
        self._carrier_blocks.clear()
        self._opted_out.clear()
