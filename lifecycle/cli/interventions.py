"""`lifecycle suspend`, `unsuspend`, `reset-password`: an admin's interventions on one account (seed articles 14, 16).

Each records the admin's decision with the OS user as actor and the reason, at the real clock
(lifecycle.journal.interventions), then acts at once if it can take the active-instance lock
(lifecycle.runtime.leader, as `lifecycle migrate` does): the plan is computed as a cycle computes it and only
that person's actions are applied (lifecycle.engine.interventions); the rest of what is pending waits for the
daemon's next cycle.  While the service holds the lock, the decision is only recorded: the running daemon
applies it at its next cycle, which a change of the stored state starts within seconds; never two runs at once.

What is said afterwards is judged by each action's outcome in the action log and by the entry's lock as read
back from the directory, never by what was planned.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lifecycle.cli.main import EXIT_ERROR, EXIT_OK, parse_now
from lifecycle.domain.models import ActionKind, PersonState, PersonStatus
from lifecycle.domain.settings import Settings

if TYPE_CHECKING:
    from lifecycle.engine.interventions import PersonApplied
    from lifecycle.journal.store import Journal


def add_intervention_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helps = {
        "suspend": ("lock an account at once, whatever HR says, until `lifecycle unsuspend` (a violation, a "
                    "compromised account); open sessions are ended"),
        "unsuspend": "lift an admin's suspension: access comes back at once if HR employs the person",
        "reset-password": ("give an account a new initial password at once, delivered as [accounts] "
                           "initial_password_delivery says, to be changed at the next login; open sessions are ended"),
    }
    for name, text in helps.items():
        cmd = sub.add_parser(name, help=text, description=text + ". Recorded in the action log with your user name "
                             "and the reason. With no daemon running, only this person's actions are applied now; "
                             "while the service runs, it applies them at its next cycle, which the decision starts "
                             "within seconds.")
        cmd.add_argument("employee_id")
        cmd.add_argument("--reason", required=True, help="why (goes to the action log; required, not empty)")
        cmd.add_argument("--now", help="plan and apply as of this date/time (a test's clock; default: now); the "
                         "decision itself is always recorded at the real time")


def cmd_suspend(args: argparse.Namespace, settings: Settings) -> int:
    return _intervene(args, settings, "suspend")


def cmd_unsuspend(args: argparse.Namespace, settings: Settings) -> int:
    return _intervene(args, settings, "unsuspend")


def cmd_reset_password(args: argparse.Namespace, settings: Settings) -> int:
    return _intervene(args, settings, "reset-password")


def _intervene(args: argparse.Namespace, settings: Settings, command: str) -> int:
    from connectors.ldap import LdapDirectory
    from lifecycle.cli.admin import require_known_employee
    from lifecycle.engine.cycle import Sources, current_actor, open_companion, open_hr, open_mail
    from lifecycle.engine.interventions import apply_for_person
    from lifecycle.journal.store import Journal
    from lifecycle.runtime.leader import leadership_for

    reason = (args.reason or "").strip()
    if not reason:
        print(f"lifecycle: {command}: --reason is empty; say why (it goes to the action log), e.g. "
              f"--reason \"account compromised, ticket 1234\"", file=sys.stderr)
        return EXIT_ERROR
    now = parse_now(args.now, settings.policy.timezone)  # what the plan is made as of
    employee_id, actor = args.employee_id, current_actor()
    journal = Journal(settings.state.url)
    leader = None
    try:
        require_known_employee(settings, journal, employee_id)
        person = journal.person(employee_id)
        if person is None or person.status in (PersonStatus.DELETED, PersonStatus.CONFIRMED) or not person.uid:
            print(f"lifecycle: {command}: employee {employee_id} has no account the daemon manages "
                  f"({'not recorded' if person is None else person.status.value}); nothing was recorded", file=sys.stderr)
            return EXIT_ERROR
        leader = leadership_for(settings.state.url)
        leading = leader.try_acquire()
        refused = _record(journal, command, person, reason, actor, datetime.now(UTC))  # a record is never back-dated
        if refused:
            print(f"lifecycle: {command}: {refused}", file=sys.stderr)
            return EXIT_ERROR
        if not leading:
            print(f"{employee_id} ({person.uid}): {_RECORDED[command]}; the service is running "
                  f"({leader.holder() or 'another instance'} holds {leader.description}): the running daemon applies "
                  f"it at its next cycle, which the decision starts within seconds; "
                  f"`lifecycle log --employee {employee_id}` shows when")
            return EXIT_OK
        hr, mail = open_hr(settings), open_mail(settings)
        try:
            with LdapDirectory(settings.directory, settings.companies) as directory:
                sources = Sources(hr, directory, mail, open_companion(settings))
                done = apply_for_person(settings, now, sources, journal, employee_id, actor,
                                        should_stop=lambda: not leader.check())
        finally:
            if mail is not None:
                mail.close()
    finally:
        if leader is not None:
            leader.release()
        journal.close()
    return _report(command, person, done, settings)


_RECORDED = {
    "suspend": "the suspension is recorded",
    "unsuspend": "the suspension is lifted (recorded)",
    "reset-password": "a new initial password is recorded as due",
}


def _record(journal: Journal, command: str, person: PersonState, reason: str, actor: str, now: datetime) -> str:
    """Write the admin's decision and its action-log entry in one transaction; the words of a refusal, else ""."""
    from lifecycle.domain.interventions import InterventionKind
    from lifecycle.journal.interventions import (
        read_interventions,
        remove_intervention,
        request_password_reset,
        save_intervention,
    )

    eid, company = person.employee_id, person.company
    with journal.engine.begin() as conn:
        if command == "suspend":
            standing = read_interventions(conn).suspensions.get(eid)
            if standing is not None:  # as the console's 409: a second reason is not silently dropped
                return (f"{eid} is already suspended by {standing.actor} on {standing.created_at.date()}: "
                        f"{standing.reason}; it stands (every cycle keeps the account locked); to record another "
                        "reason, `lifecycle unsuspend` first; nothing was recorded")
            save_intervention(conn, InterventionKind.SUSPEND, eid, company, reason=reason, actor=actor, now=now,
                              target=person.uid, changes={"suspended": [False, True]})
        elif command == "unsuspend":
            if not remove_intervention(conn, InterventionKind.SUSPEND, eid, company, journal_kind="unsuspend",
                                       reason=reason, actor=actor, now=now, target=person.uid,
                                       changes={"suspended": [True, False]}):
                return f"employee {eid} is not suspended by an admin (`lifecycle suspend`); nothing to lift"
        elif not request_password_reset(conn, eid, company, reason=reason, actor=actor, now=now):
            return f"employee {eid} has no stored account; nothing was recorded"
    return ""


def _report(command: str, person: PersonState, done: PersonApplied, settings: Settings) -> int:
    plan, result = done.plan, done.result
    for action in plan.actions:
        status = done.status_of(action) or "not tried"
        print(f"  {action.kind.value} {action.target} ({status}): {action.reason}")
    for held in plan.held:
        print(f"  HELD {held.action.kind.value} {held.action.target}: {held.reason}")
    for review in plan.reviews:
        print(f"  REVIEW {review.kind.value}: {review.reason}")
    said = {"suspend": _said_of_suspend, "unsuspend": _said_of_unsuspend}.get(command, _said_of_reset)
    ok = said(person, done, settings)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items())) or "nothing to do"
    print(f"run {result.run_id}: {len(plan.actions)} actions ({counts})")
    return EXIT_OK if ok and result.ok else EXIT_ERROR


def _said_of_suspend(person: PersonState, done: PersonApplied, settings: Settings) -> bool:
    who = f"{person.employee_id} ({person.uid})"
    if done.done(ActionKind.SUSPEND_ACCOUNT):
        print(f"{who}: suspended now: login disabled, open sessions ended where the mail server allows; it stays so "
              "whatever HR says until `lifecycle unsuspend`")
        return True
    if done.not_done(ActionKind.SUSPEND_ACCOUNT):
        return _fails(who, "the suspension is recorded but locking the account did not succeed (see above and "
                           "`lifecycle log`); every cycle tries again while it stands")
    if any(h.action.kind is ActionKind.SUSPEND_ACCOUNT for h in done.plan.held):
        return _fails(who, "the suspension is recorded but its lock is held (see HELD above)")
    if done.locked:
        print(f"{who}: the account is locked already; the suspension is recorded and keeps it so until "
              "`lifecycle unsuspend`")
        return True
    return _fails(who, f"the suspension is recorded but the account is not locked: {_why_nothing(person, done)}")


def _said_of_unsuspend(person: PersonState, done: PersonApplied, settings: Settings) -> bool:
    who = f"{person.employee_id} ({person.uid})"
    if done.done(ActionKind.RESTORE_ACCOUNT):
        print(f"{who}: suspension lifted; login given back now")
    elif done.not_done(ActionKind.RESTORE_ACCOUNT):
        return _fails(who, "the suspension is lifted but giving the login back did not succeed (see above and "
                           "`lifecycle log`); the next cycle tries again")
    elif done.locked is False:
        print(f"{who}: suspension lifted; the account had been unlocked in the directory already")
    elif _unusable(person, done):
        return _fails(who, f"the suspension is lifted but the account stays locked: {_unusable(person, done)}; the "
                           "login comes back at the first cycle after HR's export is usable again")
    else:
        print(f"{who}: suspension lifted; the account stays locked: HR does not employ the person now "
              "(a leaver's flow, or a start date not reached, decides what follows)")
    if done.done(ActionKind.RESET_PASSWORD):
        print(f"{who}: the new password asked for while it was suspended is given now ({_delivery(settings, person)})")
    elif done.not_done(ActionKind.RESET_PASSWORD):
        return _fails(who, "the new password asked for while it was suspended could not be given (see above); it "
                           "stays due and the next cycle tries again")
    return True


def _said_of_reset(person: PersonState, done: PersonApplied, settings: Settings) -> bool:
    who = f"{person.employee_id} ({person.uid})"
    if done.done(ActionKind.RESET_PASSWORD):
        print(f"{who}: new initial password set, to be changed at the next login; open sessions ended where the "
              f"mail server allows; {_delivery(settings, person)}")
        return True
    if done.not_done(ActionKind.RESET_PASSWORD):
        return _fails(who, "the new password is recorded as due but setting it did not succeed (see above and "
                           "`lifecycle log`); it stays due and the next cycle tries again")
    if done.locked:
        print(f"{who}: the new password is recorded as due, but the account is locked or suspended now: it is given "
              "when the account is unsuspended (or unlocked)")
        return True
    return _fails(who, f"the new password is recorded as due but was not given: {_why_nothing(person, done)}")


def _fails(who: str, words: str) -> bool:
    print(f"{who}: {words}", file=sys.stderr)
    return False


def _unusable(person: PersonState, done: PersonApplied) -> str:
    unusable = done.plan.unusable
    return unusable.get(person.company) or unusable.get("*", "")


def _why_nothing(person: PersonState, done: PersonApplied) -> str:
    """Why the plan did nothing for the person, as far as it tells."""
    plan = done.plan
    if _unusable(person, done):
        return _unusable(person, done)
    if plan.held:
        return "what it needs is held (see HELD above)"
    if plan.reviews:
        return "an admin must look at the findings first (see REVIEW above)"
    if done.locked is None:
        return "no directory entry was found for the person"
    return "nothing in the plan does it; `lifecycle explain " + person.employee_id + "` says what the daemon decides"


def _delivery(settings: Settings, person: PersonState) -> str:
    accounts = settings.accounts
    how = accounts.initial_password_delivery
    if how == "console":
        return "the company's admin reveals it once in the console (initial_password_delivery = console)"
    if how == "personal_email":
        return ("it goes to HR's personal_email address; without one a review says so and it stays sealed in "
                f"{accounts.initial_password_dir / person.company / (person.employee_id + '.txt')}")
    return f"sealed in {accounts.initial_password_dir / person.company / (person.employee_id + '.txt')} (root only)"


INTERVENTION_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "suspend": cmd_suspend, "unsuspend": cmd_unsuspend, "reset-password": cmd_reset_password,
}
