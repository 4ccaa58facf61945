"""Admin decisions from the command line: held actions, approvals, legal holds, the feed baseline.

Every decision is recorded in the action log with the OS user who made it.
A command that names an employee refuses an id no source knows: a typo must
not become a recorded decision.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from lifecycle.domain.errors import LifecycleError, RecordError, UnknownEmployeeError
from lifecycle.domain.models import DirectorySnapshot, HrSnapshot
from lifecycle.domain.settings import Settings
from lifecycle.engine.cycle import current_actor
from lifecycle.journal.store import Journal

EXIT_OK, EXIT_ERROR = 0, 1


def add_admin_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    held = sub.add_parser("held", help="list actions held for approval or by a frozen HR feed")
    held.add_argument("--company")
    held.add_argument("--format", choices=("text", "json"), default="text")
    for name, verb in (("approve", "apply at the next cycle"), ("reject", "never apply while it stays planned")):
        cmd = sub.add_parser(name, help=f"{name} held actions by id ({verb})")
        cmd.add_argument("ids", nargs="+", type=int)
    hold = sub.add_parser("hold", help="legal hold: never delete this employee's account and mail")
    hold.add_argument("employee_id")
    hold.add_argument("--reason", required=True)
    release = sub.add_parser("release", help="lift a legal hold")
    release.add_argument("employee_id")
    release.add_argument("--reason", default="")
    reinstate = sub.add_parser("reinstate", help="let an employee whose account was deleted for inactivity get one again")
    reinstate.add_argument("employee_id")
    accept = sub.add_parser("accept-feed", help="accept the current HR export as the feed-health baseline")
    accept.add_argument("companies", nargs="*", help="only these companies (default: all)")


def require_known_employee(
    settings: Settings,
    journal: Journal,
    employee_id: str,
    *,
    hr: HrSnapshot | None = None,
    directory: DirectorySnapshot | None = None,
    unread: Mapping[str, str] | None = None,
    logged: bool = False,
) -> None:
    """Raise UnknownEmployeeError unless the id is in the state store, the HR export or the directory.

    Cheapest first: one indexed query, then the HR export, then one directory
    search; `hr` and `directory` are used when the caller has read them
    already, and `unread` names sources it could not read (with why).
    `logged`: the action log has entries for the id (explain shows them).
    """
    if logged or journal.knows_employee(employee_id):
        return
    why_not = dict(unread or {})
    if hr is None and "the HR export" not in why_not:
        from lifecycle.engine.cycle import open_hr

        try:
            hr = open_hr(settings).read(date.today())
        except (LifecycleError, OSError) as exc:
            why_not["the HR export"] = str(exc)
    if hr is not None and (employee_id in hr.rejected_ids() or any(r.employee_id == employee_id for r in hr.records)):
        return
    if directory is not None:
        if any(e.employee_number == employee_id for e in directory.entries):
            return
    elif "the directory" not in why_not and _in_directory(settings, employee_id, why_not):
        return
    raise UnknownEmployeeError(_unknown_words(employee_id, why_not))


def _in_directory(settings: Settings, employee_id: str, why_not: dict[str, str]) -> bool:
    """One search for the employeeNumber; a source that cannot be read is noted in `why_not`."""
    from connectors.ldap import LdapDirectory
    from lifecycle.domain.settings import read_secrets

    resolved, problems = read_secrets(settings)
    if "directory" in problems:
        why_not["the directory"] = problems["directory"]
        return False
    try:
        with LdapDirectory(resolved.directory, resolved.companies) as ldap:
            return ldap.find_by_employee_number(employee_id) is not None
    except RecordError:
        return True  # on several entries: known, if ambiguous
    except LifecycleError as exc:
        why_not["the directory"] = str(exc)
        return False


def _unknown_words(employee_id: str, why_not: Mapping[str, str]) -> str:
    if not why_not:
        return f"employee {employee_id} is not in the HR export, the state store or the directory; check the id"
    searched = [s for s in ("the HR export", "the state store", "the directory") if s not in why_not]
    unread = "; ".join(f"{source} could not be read ({why})" for source, why in why_not.items())
    return f"employee {employee_id} is not in {' or '.join(searched)}, and {unread}; check the id"


def cmd_held(args: argparse.Namespace, settings: Settings) -> int:
    from lifecycle.engine.render import held_text

    journal = Journal(settings.state.url)
    try:
        rows = journal.held_actions(args.company)
        last_run = journal.last_run_started()
    finally:
        journal.close()
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    sys.stdout.write(held_text(rows, ZoneInfo(settings.policy.timezone), last_run))
    return EXIT_OK


def _decide(args: argparse.Namespace, settings: Settings, decision: str) -> int:
    journal = Journal(settings.state.url)
    try:
        lines = journal.decide(args.ids, decision, current_actor(), datetime.now(UTC))
    finally:
        journal.close()
    for line in lines:
        print(line)
    return EXIT_OK if all(f": {decision} " in line for line in lines) else EXIT_ERROR


def cmd_approve(args: argparse.Namespace, settings: Settings) -> int:
    return _decide(args, settings, "approved")


def cmd_reject(args: argparse.Namespace, settings: Settings) -> int:
    return _decide(args, settings, "rejected")


def _hold(args: argparse.Namespace, settings: Settings, on: bool) -> int:
    journal = Journal(settings.state.url)
    try:
        require_known_employee(settings, journal, args.employee_id)
        message = journal.set_hold(args.employee_id, args.reason, current_actor(), datetime.now(UTC), on=on)
    finally:
        journal.close()
    print(message)
    return EXIT_OK if ("already" not in message and "not on hold" not in message) else EXIT_ERROR


def cmd_hold(args: argparse.Namespace, settings: Settings) -> int:
    return _hold(args, settings, True)


def cmd_release(args: argparse.Namespace, settings: Settings) -> int:
    return _hold(args, settings, False)


def cmd_reinstate(args: argparse.Namespace, settings: Settings) -> int:
    journal = Journal(settings.state.url)
    try:
        require_known_employee(settings, journal, args.employee_id)
        message = journal.reinstate(args.employee_id, current_actor(), datetime.now(UTC))
    finally:
        journal.close()
    print(message)
    return EXIT_OK if "reinstated" in message else EXIT_ERROR


def cmd_accept_feed(args: argparse.Namespace, settings: Settings) -> int:
    from collections import Counter

    from lifecycle.domain.models import FeedBaseline
    from lifecycle.engine.cycle import open_hr

    hr = open_hr(settings).read(date.today())
    journal = Journal(settings.state.url)
    try:
        previous = journal.load_state().feed or FeedBaseline()
        counts = dict(previous.rows_per_company)
        now_counts = Counter(r.company for r in hr.records)
        chosen = args.companies or [c.code for c in settings.companies]
        unknown = sorted(set(chosen) - {c.code for c in settings.companies})
        if unknown:
            print(f"lifecycle: unknown company code(s) {unknown}", file=sys.stderr)
            return EXIT_ERROR
        for company in chosen:
            counts[company] = now_counts.get(company, 0)
            print(f"{company}: baseline {previous.rows_per_company.get(company, '-')} -> {counts[company]} rows")
        journal.save_feed_baseline(FeedBaseline(counts, hr.columns if not args.companies else previous.columns or hr.columns),
                                   datetime.now(UTC))
        journal.record_admin_event("accept_feed", ",".join(chosen), f"HR feed baseline accepted for {', '.join(chosen)}",
                                   current_actor(), datetime.now(UTC))
    finally:
        journal.close()
    return EXIT_OK


ADMIN_COMMANDS = {
    "held": cmd_held,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "hold": cmd_hold,
    "release": cmd_release,
    "accept-feed": cmd_accept_feed,
    "reinstate": cmd_reinstate,
}
