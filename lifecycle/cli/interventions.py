"""`lifecycle suspend`, `unsuspend`, `reset-password`: an admin's interventions on one account (seed articles 14, 16).

Each records the admin's decision with the OS user as actor and the reason (lifecycle.journal.interventions),
then acts at once: the plan is computed as a cycle computes it and only that person's actions are applied
(lifecycle.engine.interventions); the rest of what is pending waits for the daemon's next cycle.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
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
                             "and the reason; only this person's actions are applied.")
        cmd.add_argument("employee_id")
        cmd.add_argument("--reason", required=True, help="why (goes to the action log; required, not empty)")
        cmd.add_argument("--now", help="act as of this date/time (default: now)")


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

    reason = (args.reason or "").strip()
    if not reason:
        print(f"lifecycle: {command}: --reason is empty; say why (it goes to the action log), e.g. "
              f"--reason \"account compromised, ticket 1234\"", file=sys.stderr)
        return EXIT_ERROR
    now = parse_now(args.now, settings.policy.timezone)
    employee_id, actor = args.employee_id, current_actor()
    journal = Journal(settings.state.url)
    try:
        require_known_employee(settings, journal, employee_id)
        person = journal.person(employee_id)
        if person is None or person.status in (PersonStatus.DELETED, PersonStatus.CONFIRMED) or not person.uid:
            print(f"lifecycle: {command}: employee {employee_id} has no account the daemon manages "
                  f"({'not recorded' if person is None else person.status.value}); nothing was recorded", file=sys.stderr)
            return EXIT_ERROR
        refused = _record(journal, command, person, reason, actor, now)
        if refused:
            print(f"lifecycle: {command}: {refused}", file=sys.stderr)
            return EXIT_ERROR
        hr, mail = open_hr(settings), open_mail(settings)
        try:
            with LdapDirectory(settings.directory, settings.companies) as directory:
                sources = Sources(hr, directory, mail, open_companion(settings))
                done = apply_for_person(settings, now, sources, journal, employee_id, actor)
        finally:
            if mail is not None:
                mail.close()
    finally:
        journal.close()
    return _report(command, person, done, settings)


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
            if standing is not None:
                print(f"{eid} is already suspended by {standing.actor} since {standing.created_at.date()} "
                      f"({standing.reason}); applying it again")
                return ""
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
    eid, uid = person.employee_id, person.uid
    applied = list(plan.actions)
    kinds = {a.kind for a in applied}
    for action in applied:
        print(f"  {action.kind.value} {action.target}: {action.reason}")
    for held in plan.held:
        print(f"  HELD {held.action.kind.value} {held.action.target}: {held.reason}")
    for review in plan.reviews:
        print(f"  REVIEW {review.kind.value}: {review.reason}")
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items())) or "nothing to do"
    if command == "suspend":
        if ActionKind.SUSPEND_ACCOUNT in kinds:
            print(f"{eid} ({uid}): suspended now: login disabled, open sessions ended where the mail server allows; "
                  "it stays so whatever HR says until `lifecycle unsuspend`")
        elif any(h.action.kind is ActionKind.SUSPEND_ACCOUNT for h in plan.held):
            print(f"{eid} ({uid}): the suspension is recorded but its lock is held (see HELD above)", file=sys.stderr)
            return EXIT_ERROR
        else:
            print(f"{eid} ({uid}): the account is locked already; the suspension is recorded and keeps it so until "
                  "`lifecycle unsuspend`")
    elif command == "unsuspend":
        if ActionKind.RESTORE_ACCOUNT in kinds:
            print(f"{eid} ({uid}): suspension lifted; login given back now")
        elif any(a.kind is ActionKind.RECORD_STATE and a.params.to_dict().get("state", {}).get("status") == "active"
                 for a in applied):
            print(f"{eid} ({uid}): suspension lifted; the account had been unlocked in the directory already")
        else:
            print(f"{eid} ({uid}): suspension lifted; the account stays locked: HR does not employ the person now "
                  "(a leaver's flow, or a start date not reached, decides what follows)")
        if ActionKind.RESET_PASSWORD in kinds:
            print(f"{eid} ({uid}): the new password asked for while it was suspended is given now "
                  f"({_delivery(settings, person)})")
    elif ActionKind.RESET_PASSWORD in kinds:
        print(f"{eid} ({uid}): new initial password set, to be changed at the next login; open sessions ended "
              f"where the mail server allows; {_delivery(settings, person)}")
    else:
        print(f"{eid} ({uid}): the new password is recorded as due, but the account is locked or suspended now: it is "
              "given when the account is unsuspended (or unlocked)")
    print(f"run {result.run_id}: {len(applied)} actions ({counts})")
    return EXIT_OK if result.ok else EXIT_ERROR


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
