"""An admin's forward (seed, article 12) as the mail policy reads it: in force, not yet, or ended.

A forward is in force from the start of `starts_on` until the start of `ends_on`, both days in the
company's time zone (ctx.today).  While in force it overrides the daemon's own handling of the
address (a leaver's forward to the manager, a departed address's alias); when it ends, what it set
is undone and the default comes back (policies.mailbox).  Pure: no I/O, no clock.

A person's own forward (set in the mail server by them or by hand) is replaced while an explicit
one is in force, and the plan says so; when the explicit forward ends the forward is cleared, not
restored: the daemon cannot tell whether the person still wants it.

A forward also ends when the person's account is given back after it was made (a rehire, a
suspension lifted): the returning person's mail is theirs again.  A forward not yet in force that
replaced one which had started (`ExplicitForward.replaces`) undoes that one meanwhile.  An ended
forward is undone once: the shell forgets it when its undo is applied
(lifecycle.journal.forwards.forget_undone_forwards), so a forward the person sets later to the same
address is theirs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo

from lifecycle.domain.interventions import ExplicitForward
from lifecycle.domain.mail import MailCapability, MailSnapshot
from lifecycle.domain.models import PersonState
from policies.context import PolicyContext, start_of_day
from policies.intent import Intent

FORWARD = "forward"  # the rule of the actions that set an explicit forward
FORWARD_ENDED = "forward_ended"  # ... and of those that undo it (a notice follows: policies.notices)


class ForwardStanding(str, enum.Enum):
    NOT_YET = "not yet"
    IN_FORCE = "in force"
    ENDED = "ended"


def standing_of(forward: ExplicitForward, today: date) -> ForwardStanding:
    """Where the forward stands on the company's day `today`."""
    if forward.ends_on is not None and today >= forward.ends_on:
        return ForwardStanding.ENDED
    if forward.starts_on is not None and today < forward.starts_on:
        return ForwardStanding.NOT_YET
    return ForwardStanding.IN_FORCE


@dataclass(frozen=True, slots=True)
class PersonForward:
    """A person's explicit forward on the company's day: the one in force, or the one that ended (to undo)."""

    in_force: ExplicitForward | None = None
    ended: ExplicitForward | None = None
    replaced_by: ExplicitForward | None = None  # `ended` is undone because this one, not yet in force, replaced it

    def ended_to(self, recipients: tuple[str, ...]) -> bool:
        """`recipients` are what the ended forward set: the daemon's to undo (anything else is someone's own)."""
        return self.ended is not None and recipients == (self.ended.to,)

    @property
    def undo_rule(self) -> str:
        """The rule of the actions that undo `ended`: FORWARD_ENDED (told) unless a replacement undoes it."""
        return FORWARD if self.replaced_by is not None else FORWARD_ENDED


NO_FORWARD = PersonForward()


def given_back(forward: ExplicitForward, state: PersonState | None, intent: Intent | None = None) -> bool:
    """The person's account is given back (restored, or made again) by this plan or after the forward was made."""
    if intent is not None and (intent.restore is not None or (intent.create is not None and intent.create.rule == "rehire")):
        return True
    made = forward.created_at
    return state is not None and any(when is not None and when > made for when in (state.restored_at, state.created_at))


def forward_of(employee_id: str, company: str, ctx: PolicyContext, state: PersonState | None = None,
               intent: Intent | None = None) -> PersonForward:
    """The person's explicit forward as it stands today in `company`'s time zone (`state`, `intent`: the person's,
    for a forward ended by a rehire)."""
    forward = ctx.interventions.forwards.get(employee_id)
    if forward is None:
        return NO_FORWARD
    standing = standing_of(forward, ctx.today(company or forward.company))
    if standing is ForwardStanding.ENDED or given_back(forward, state, intent):
        return PersonForward(ended=forward)
    if standing is ForwardStanding.IN_FORCE:
        return PersonForward(in_force=forward)
    if forward.replaces:
        return PersonForward(ended=replace(forward, to=forward.replaces, replaces=""), replaced_by=forward)
    return NO_FORWARD


def target_problem(forward: ExplicitForward, mail: MailSnapshot, domains: frozenset[str]) -> str:
    """Why mail sent on to the forward's target is not read there ("" when it is, or when the target is not ours).

    Only an address in one of the group's mail domains is known: its mailbox suspended (the target left, or was
    locked) or gone (an alias, if any, sends the mail on to someone else; none bounces it)."""
    to = forward.to
    if to.rpartition("@")[2] not in domains:
        return ""
    box = mail.mailbox(to)
    if box is not None:
        return "" if box.is_active else f"the target's mailbox {to} is suspended (the person left or is locked out)"
    alias = mail.alias(to)
    if alias is not None and alias.is_active:
        return f"{to} has no mailbox any more: its alias sends the mail on to {', '.join(alias.recipients)}"
    return f"{to} has no mailbox: the mail bounces"


def required_by(forward: ExplicitForward) -> str:
    """Whose decision and why, for an action's reason."""
    return f"required by {forward.actor}: {forward.reason}"


def copy_problem(forward: ExplicitForward, delivering: bool, capabilities: frozenset[MailCapability]) -> str:
    """Why the backend cannot forward as `forward` asks ("" when it can).

    `delivering`: the mailbox receives mail by itself (an active one, or a suspended one on a backend
    whose suspension keeps delivery), so a forward without a copy must be able to stop that.
    """
    if forward.keep_copy and MailCapability.FORWARD_KEEPS_COPY not in capabilities:
        return "the mail backend cannot forward and keep a copy in the mailbox"
    if not forward.keep_copy and delivering and MailCapability.FORWARD_WITHOUT_COPY not in capabilities:
        return "the mail backend cannot forward without keeping a copy in a mailbox that receives mail"
    return ""


def forward_instants(forward: ExplicitForward, zone: tzinfo) -> list[datetime]:
    """The instants at which the forward starts and ends (what wakes a quiet daemon)."""
    return [start_of_day(day, zone) for day in (forward.starts_on, forward.ends_on) if day is not None]
