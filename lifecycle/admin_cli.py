"""Admin decisions from the command line: held actions, approvals, legal holds, the feed baseline.

Every decision is recorded in the action log with the OS user who made it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from lifecycle.cycle import current_actor
from lifecycle.journal import Journal
from lifecycle.settings import Settings

EXIT_OK, EXIT_ERROR = 0, 1


def add_admin_commands(sub: argparse._SubParsersAction) -> None:
    held = sub.add_parser("held", help="list actions held for approval")
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


def cmd_held(args: argparse.Namespace, settings: Settings) -> int:
    journal = Journal(settings.state.url)
    try:
        rows = journal.held_actions(args.company)
    finally:
        journal.close()
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print("no actions are held")
    for row in rows:
        action = row["action"]
        print(f"#{row['id']:<5} {row['kind']:<16} {row['company']:<4} {row['employee_id'] or '-':<10} {row['target']}")
        print(f"       why planned: [{action['rule']}] {action['reason']}")
        print(f"       why held:    {row['reason']}")
        print(f"       held since {row['created_at']}")
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
        message = journal.reinstate(args.employee_id, current_actor(), datetime.now(UTC))
    finally:
        journal.close()
    print(message)
    return EXIT_OK if "reinstated" in message else EXIT_ERROR


def cmd_accept_feed(args: argparse.Namespace, settings: Settings) -> int:
    from collections import Counter

    from connectors.hr_csv import read_hr_csv
    from lifecycle.cycle import company_aliases
    from lifecycle.models import FeedBaseline

    hr = read_hr_csv(settings.hr, company_aliases(settings))
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
