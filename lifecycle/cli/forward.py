"""`lifecycle forward`: mail to a person goes to another address, as a superior required (seed, article 12).

    lifecycle forward EMPLOYEE --to ADDRESS [--keep-copy] [--from DATE] [--until DATE] --reason TEXT
    lifecycle forward EMPLOYEE --remove --reason TEXT
    lifecycle forward --list [--company C] [--all] [--format text|json]

The forward is recorded in the state store with the OS user and the reason (lifecycle.journal.forwards);
the next cycle applies it (the daemon's quiet check sees the change), or `lifecycle apply` now.
Dates are days in the company's time zone; the forward ends at the start of --until.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime

from lifecycle.cli.admin import EXIT_ERROR, EXIT_OK, require_known_employee
from lifecycle.domain.settings import Settings
from lifecycle.engine.cycle import current_actor
from lifecycle.journal.forwards import (
    ForwardRefused,
    end_forward,
    forward_row,
    forward_rows,
    new_forward,
    save_forward,
)
from lifecycle.journal.store import Journal

APPLIED_NEXT = ("applied by the next cycle: a running daemon starts one within seconds; without one, `lifecycle apply` "
                "applies it now")


def add_forward_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forward = sub.add_parser(
        "forward", help="forward a person's mail to another address, as a superior required (or --list, --remove)",
        description="Forward mail to a present, on-leave, suspended or departed person's address to another address, "
                    "from a day until a day (in the company's time zone). It overrides the leaver's forward to the "
                    "manager and survives every reconciliation; when it ends the target and (if their account is "
                    "active) the person are told, where [notify] is configured.")
    forward.add_argument("employee_id", nargs="?", help="the person's employee id (not with --list)")
    forward.add_argument("--to", help="the address their mail goes to")
    forward.add_argument("--keep-copy", action="store_true", help="also keep the mail in the person's mailbox; required for an "
                         "active mailbox on Modoboa (without it: a forward_problem review, nothing set)")
    forward.add_argument("--from", dest="starts", metavar="DATE", help="first day (YYYY-MM-DD; default: at once)")
    forward.add_argument("--until", dest="ends", metavar="DATE",
                         help="the day it ends, at its start (YYYY-MM-DD; default: until removed)")
    forward.add_argument("--reason", help="why (kept in the action log); required to set or remove a forward")
    forward.add_argument("--remove", action="store_true", help="end the person's forward today")
    forward.add_argument("--list", action="store_true", help="list the forwards standing (with --all, the ended ones too)")
    forward.add_argument("--company", help="with --list: only this company")
    forward.add_argument("--all", action="store_true", help="with --list: the ended forwards too")
    forward.add_argument("--format", choices=("text", "json"), default="text", help="with --list")
    forward.add_argument("--now", help="with --list: as of this date/time (default: the clock); a forward is always "
                                       "set or removed as of the clock")


def clock() -> datetime:
    """Now, for what is recorded: never --now, so no forward is recorded as over already (tests replace this)."""
    return datetime.now(UTC)


def _now(args: argparse.Namespace, settings: Settings) -> datetime:
    from lifecycle.cli.main import parse_now

    return parse_now(args.now, settings.policy.timezone).astimezone(UTC)


def cmd_forward(args: argparse.Namespace, settings: Settings) -> int:
    if args.list:
        if args.employee_id or args.to or args.remove:
            raise ForwardRefused("--list takes no employee, --to or --remove: run `lifecycle forward --list [--company C]`")
        return _list(args, settings)
    if not args.employee_id:
        raise ForwardRefused("EMPLOYEE is missing: `lifecycle forward EMPLOYEE --to ADDRESS --reason TEXT`, or --list")
    if args.reason is None or not args.reason.strip():
        raise ForwardRefused("--reason is required: say why (the action log keeps it)")
    if args.now:
        raise ForwardRefused("--now goes only with --list: a forward is set or removed as of today (the clock)")
    now = clock()
    journal = Journal(settings.state.url)
    try:
        require_known_employee(settings, journal, args.employee_id)
        if args.remove:
            if args.to or args.starts or args.ends or args.keep_copy:
                raise ForwardRefused("--remove takes only --reason: `lifecycle forward EMPLOYEE --remove --reason TEXT`")
            ended = end_forward(journal, settings, args.employee_id, reason=args.reason, actor=current_actor(), now=now)
            print(f"forward of employee {args.employee_id} to {ended.to} removed: what it set is undone and the person "
                  f"and {ended.to} are told where notices are configured; {APPLIED_NEXT}")
            return EXIT_OK
        if not args.to:
            raise ForwardRefused("--to is required: the address the mail goes to (or --remove, or --list)")
        forward = new_forward(settings, journal.person(args.employee_id), args.employee_id, to=args.to,
                              keep_copy=args.keep_copy, starts=args.starts, ends=args.ends, reason=args.reason,
                              actor=current_actor(), now=now)
        save_forward(journal, forward, settings=settings)
    finally:
        journal.close()
    row = forward_row(forward, settings, now)
    when = f"from {row['from']}" if row["from"] else "from today"
    until = f" until {row['until']} (it ends at the start of that day)" if row["until"] else " until removed"
    copy = ", a copy kept in the mailbox" if forward.keep_copy else ", no copy kept"
    print(f"mail to employee {forward.employee_id} ({forward.company}) goes to {forward.to} {when}{until}{copy}; "
          f"{APPLIED_NEXT}")
    return EXIT_OK


def _list(args: argparse.Namespace, settings: Settings) -> int:
    now = _now(args, settings)
    journal = Journal(settings.state.url)
    try:
        rows = forward_rows(journal, settings, [args.company] if args.company else None, now, ended=args.all)
    finally:
        journal.close()
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print("no forwards" + ("" if args.all else " standing (--all shows the ended ones)"))
        return EXIT_OK
    for r in rows:
        copy = "copy kept" if r["keep_copy"] else "no copy"
        print(f"{r['employee_id']} ({r['company']}) {r['address'] or '?'} -> {r['to']}  {copy}  from {r['from'] or '-'}  until "
              f"{r['until'] or '-'}  [{r['standing']}]  by {r['actor']}: {r['reason']}")
    return EXIT_OK


FORWARD_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {"forward": cmd_forward}

__all__ = ["EXIT_ERROR", "FORWARD_COMMANDS", "add_forward_command"]
