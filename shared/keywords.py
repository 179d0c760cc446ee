"""The inbound keyword router: opt-out, opt-in, help, or plain text.

It errs toward suppression (FCC 24-24 per se words, CTIA guidance): the whole message, its first
word, or a short message containing an opt-out word counts as an opt-out, and free-text intent
("stop texting me") counts too but is flagged for a person to review. Opt-in and help are only
taken from the whole message or its first word, so "yes see you at 5" is a reply, not a START.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    OPT_OUT = "optOut"
    OPT_IN = "optIn"
    HELP = "help"
    NONE = "none"


# FCC 24-24 per se words, plus provider extras; multi-word forms are matched with spaces removed.
OPT_OUT_WORDS = frozenset(
    {
        "STOP",
        "QUIT",
        "END",
        "REVOKE",
        "OPTOUT",
        "CANCEL",
        "UNSUBSCRIBE",
        "STOPALL",
        "REMOVE",
        "ARRET",
    }
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
SHORT_MESSAGE_WORDS = 4

_JOINED = {("OPT", "OUT"): "OPTOUT", ("STOP", "ALL"): "STOPALL"}
_FREE_TEXT_OPT_OUT = re.compile(
    r"\b("
    r"stop (texting|messaging|sending|contacting|txting|msging)"
    r"|(don'?t|do not|dont) (text|message|contact|msg|txt)"
    r"|remove me|take me off|unsubscribe me|opt me out"
    r"|no more (texts|messages|msgs|txts)"
    r"|leave me alone|wrong number|no m[aá]s"
    r")\b"
)


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    intent: Intent
    keyword: str | None = None
    how: str = "none"  # exact | firstWord | contains | freeText
    needs_review: bool = False

    @property
    def exact_stop(self) -> bool:
        """The one word US toll-free carriers act on by themselves."""
        return self.intent is Intent.OPT_OUT and self.keyword == "STOP" and self.how == "exact"


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).upper()
    cleaned = "".join(ch if ch.isalnum() else " " for ch in folded)
    words = cleaned.split()
    joined: list[str] = []
    for word in words:
        if joined and (joined[-1], word) in _JOINED:
            joined[-1] = _JOINED[(joined[-1], word)]
        else:
            joined.append(word)
    return joined


def classify(text: str) -> KeywordMatch:
    words = _words(text)
    if not words:
        return KeywordMatch(Intent.NONE)
    whole = "".join(words)
    for intent, vocabulary in (
        (Intent.OPT_OUT, OPT_OUT_WORDS),
        (Intent.OPT_IN, OPT_IN_WORDS),
        (Intent.HELP, HELP_WORDS),
    ):
        if len(words) == 1 and whole in vocabulary:
            return KeywordMatch(intent, whole, "exact")
        if len(words) > 1 and whole in vocabulary:  # "OPT OUT", "STOP ALL"
            return KeywordMatch(intent, whole, "exact")
    first = words[0]
    if first in OPT_OUT_WORDS:
        return KeywordMatch(Intent.OPT_OUT, first, "firstWord", needs_review=True)
    if len(words) <= SHORT_MESSAGE_WORDS:
        hit = next((w for w in words if w in OPT_OUT_WORDS), None)
        if hit:
            return KeywordMatch(Intent.OPT_OUT, hit, "contains", needs_review=True)
    lowered = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    if _FREE_TEXT_OPT_OUT.search(lowered.replace("’", "'")):
        return KeywordMatch(Intent.OPT_OUT, None, "freeText", needs_review=True)
    if first in ("START", "UNSTOP"):
        return KeywordMatch(Intent.OPT_IN, first, "firstWord")
    if first in HELP_WORDS:
        return KeywordMatch(Intent.HELP, first, "firstWord")
    return KeywordMatch(Intent.NONE)
