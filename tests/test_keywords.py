import pytest

from shared.keywords import Intent, classify


@pytest.mark.parametrize(
    ("text", "intent", "keyword", "how"),
    [
        ("STOP", Intent.OPT_OUT, "STOP", "exact"),
        ("stop", Intent.OPT_OUT, "STOP", "exact"),
        ("  Stop.  ", Intent.OPT_OUT, "STOP", "exact"),
        ("Opt-Out", Intent.OPT_OUT, "OPTOUT", "exact"),
        ("opt out", Intent.OPT_OUT, "OPTOUT", "exact"),
        ("OPTOUT", Intent.OPT_OUT, "OPTOUT", "exact"),
        ("stop all", Intent.OPT_OUT, "STOPALL", "exact"),
        ("Unsubscribe!", Intent.OPT_OUT, "UNSUBSCRIBE", "exact"),
        ("quit", Intent.OPT_OUT, "QUIT", "exact"),
        ("END", Intent.OPT_OUT, "END", "exact"),
        ("revoke", Intent.OPT_OUT, "REVOKE", "exact"),
        ("cancel", Intent.OPT_OUT, "CANCEL", "exact"),
        ("ＳＴＯＰ", Intent.OPT_OUT, "STOP", "exact"),  # full-width letters
        ("STOP pls", Intent.OPT_OUT, "STOP", "firstWord"),
        ("please stop", Intent.OPT_OUT, "STOP", "contains"),
        ("i want to unsubscribe", Intent.OPT_OUT, "UNSUBSCRIBE", "contains"),
        ("Stop texting me", Intent.OPT_OUT, "STOP", "firstWord"),
        ("can you please stop texting me now thanks", Intent.OPT_OUT, None, "freeText"),
        ("Please remove me from this list", Intent.OPT_OUT, None, "freeText"),
        ("I told you don't text me anymore", Intent.OPT_OUT, None, "freeText"),
        ("You have the wrong number buddy", Intent.OPT_OUT, None, "freeText"),
        ("START", Intent.OPT_IN, "START", "exact"),
        ("unstop", Intent.OPT_IN, "UNSTOP", "exact"),
        ("Yes", Intent.OPT_IN, "YES", "exact"),
        ("start again please", Intent.OPT_IN, "START", "firstWord"),
        ("HELP", Intent.HELP, "HELP", "exact"),
        ("info", Intent.HELP, "INFO", "exact"),
        ("help me with my order", Intent.HELP, "HELP", "firstWord"),
        ("yes see you at 5 tomorrow", Intent.NONE, None, "none"),
        ("Thanks, see you Tuesday at the clinic", Intent.NONE, None, "none"),
        ("", Intent.NONE, None, "none"),
        ("😀", Intent.NONE, None, "none"),
    ],
)
def test_classify(text: str, intent: Intent, keyword: str | None, how: str) -> None:
    match = classify(text)
    assert (match.intent, match.keyword, match.how) == (intent, keyword, how)


def test_only_inexact_opt_outs_need_review() -> None:
    assert not classify("STOP").needs_review
    assert classify("STOP pls").needs_review
    assert classify("remove me please from all this").needs_review
    assert not classify("HELP").needs_review


def test_exact_stop_is_what_carriers_act_on() -> None:
    assert classify("stop").exact_stop
    assert not classify("quit").exact_stop
    assert not classify("stop please").exact_stop
