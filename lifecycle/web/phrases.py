"""The engine's English sentences about a person's future, in the console's language.

`lifecycle explain` and the published outlook word a person's standing and coming events in
English (policies.timeline); the console shows them through the catalogue.  Each pattern's
message id is the sentence with its variable part as a named placeholder; a sentence no pattern
knows is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from babel.support import NullTranslations

N_: Callable[[str], str] = lambda text: text  # marks a message id for extraction

EVENTS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), message) for pattern, message in (
    (r"account and mailbox are created \(joiner\)$", N_("account and mailbox are created (joiner)")),
    (r"the departure takes over the suspension: .*$",
     N_("the departure takes over the suspension: mail is handled as a leaver's and retention counts from this day")),
    (r"deletion would be due, but the account is on legal hold .*$",
     N_("deletion would be due, but the account is on legal hold (a hold must be lifted first)")),
    (r"account is deleted \((?P<days>\d+) days after suspension\), unless rehired or held$",
     N_("account is deleted (%(days)s days after suspension), unless rehired or held")),
    (r"login is disabled and the account leaves its groups \(leaver\)$",
     N_("login is disabled and the account leaves its groups (leaver)")),
    (r"account is deleted after (?P<days>\d+) days of retention$", N_("account is deleted after %(days)s days of retention")),
    (r"never suspended for inactivity: (?P<why>.*)$", N_("never suspended for inactivity: %(why)s")),
    (r"inactivity warning is sent if the account stays unused$", N_("inactivity warning is sent if the account stays unused")),
    (r"account is suspended for inactivity if it stays unused$", N_("account is suspended for inactivity if it stays unused")),
))
STANDINGS = {"not_started": N_("not started"), "employed": N_("employed"), "departed": N_("departed"),
             "absent": N_("not in the HR export")}


def event_words(text: str, catalogue: NullTranslations) -> str:
    for pattern, message in EVENTS:
        found = pattern.match(text)
        if found:
            return catalogue.gettext(message) % found.groupdict() if found.groupdict() else catalogue.gettext(message)
    return text


def standing_words(text: str, catalogue: NullTranslations) -> str:
    """`departed: termination date 2027-01-15 reached (SZ/销售部)`: the standing translated, the why as it is."""
    standing, sep, why = text.partition(": ")
    if standing not in STANDINGS:
        return text
    return catalogue.gettext(STANDINGS[standing]) + (f": {why}" if sep else "")
