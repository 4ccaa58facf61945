"""`lifecycle adopt`: an existing directory entry is this employee (or none is: `--new`); `lifecycle unlink`.

An admin's word on who an entry belongs to, recorded with the OS user who gave it.

- `adopt EMPLOYEE UID`: the entry with that uid is the employee's; the next cycle adopts it.  An
  inetOrgPerson entry outside the companies' subtrees is first moved under the employee's company
  (the daemon manages only those subtrees); an entry of another class (an `account`/`posixAccount`
  login) is refused: the daemon cannot keep a person's name, mail and manager on it.
- `adopt EMPLOYEE --new`: none of the possible existing entries is the employee; the next cycle makes
  a new account.
- `unlink EMPLOYEE --reason TEXT`: the entry linked to the employee is not theirs.  Nothing is deleted:
  the employeeNumber the entry carries for the employee is removed (else the next cycle would link it
  again), the link in the state store goes; the entry is then nobody's, reported and left as it is.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from lifecycle.cli.main import EXIT_ERROR, EXIT_OK, parse_now
from lifecycle.domain.settings import Settings

if TYPE_CHECKING:
    from lifecycle.domain.models import DirectoryEntry

DEFAULT_NEW_REASON = "none of the possible existing entries is this person"


def add_adoption_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    adopt = sub.add_parser(
        "adopt", help="confirm that an existing directory entry belongs to an employee (or none does: --new)",
        description="Link an existing entry to an employee (an inetOrgPerson entry outside the companies' subtrees "
                    "is moved into the employee's company now), or with --new record that none of the possible "
                    "existing entries is theirs; the next cycle acts.")
    adopt.add_argument("employee_id")
    adopt.add_argument("uid", nargs="?", help="the uid of the existing entry")
    adopt.add_argument("--new", action="store_true", help="none of the possible existing entries is this employee: "
                       "the next cycle makes a new account")
    adopt.add_argument("--reason", default="", help="with --new: why (journalled; default: none of the possible "
                       "existing entries is this person); not used with a uid")
    unlink = sub.add_parser(
        "unlink", help="undo a wrong link between an employee and an entry (nothing is deleted)",
        description="Remove the employee's employeeNumber from the linked entry now and forget the link; nothing is "
                    "deleted and the entry's uid stays reserved. The next cycle shows the employee's possible "
                    "entries again.")
    unlink.add_argument("employee_id")
    unlink.add_argument("--reason", required=True, help="why the entry is not this employee's (journalled)")


def cmd_adopt(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.uid) == bool(args.new):
        print("lifecycle: adopt: name the entry's uid, or give --new (a new account), not both; "
              f"e.g. `lifecycle adopt {args.employee_id} UID`", file=sys.stderr)
        return EXIT_ERROR
    return _adopt_new(args, settings) if args.new else _adopt_entry(args, settings)


def _adopt_entry(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.ldap import LdapDirectory
    from lifecycle.cli.admin import require_known_employee
    from lifecycle.domain.dn import dn_key, match_key
    from lifecycle.engine.cycle import current_actor, open_hr, read_inputs
    from lifecycle.journal.store import Journal
    from policies.context import PolicyContext

    now = parse_now(None, settings.policy.timezone)
    ctx = PolicyContext(settings, now)
    journal = Journal(settings.state.url)
    try:
        with LdapDirectory(settings.directory, settings.companies) as directory:
            inputs = read_inputs(settings, directory, hr=open_hr(settings))
            require_known_employee(settings, journal, args.employee_id, hr=inputs.hr, directory=inputs.directory)
            snapshot, uid = inputs.directory, match_key(args.uid)
            managed = [e for e in snapshot.entries if match_key(e.uid) == uid]
            outside = [e for e in snapshot.outside if match_key(e.uid) == uid]
            other = [e for e in snapshot.other_classes if match_key(e.uid) == uid]
            found = managed + outside + other
            if not found:
                print(f"lifecycle: no entry with uid {args.uid!r} under {settings.directory.base_dn}", file=sys.stderr)
                return EXIT_ERROR
            if len(found) > 1:
                print(f"lifecycle: uid {args.uid!r} is on {len(found)} entries ({', '.join(e.dn for e in found)}); "
                      "give all but one of them another uid first", file=sys.stderr)
                return EXIT_ERROR
            entry = found[0]
            if other:
                print(f"lifecycle: {entry.dn} is not an inetOrgPerson entry (an account or posixAccount login): the daemon "
                      "cannot keep a person's name, mail and manager on it, and leaves it as it is; have it made an "
                      "inetOrgPerson entry with the same uid, then run this again, or run "
                      f"`lifecycle adopt {args.employee_id} --new` for a new account", file=sys.stderr)
                return EXIT_ERROR
            if entry.employee_number and match_key(entry.employee_number) != match_key(args.employee_id):
                print(f"lifecycle: {entry.dn} already carries employeeNumber {entry.employee_number}", file=sys.stderr)
                return EXIT_ERROR
            existing = journal.person(args.employee_id)
            if (existing is not None and existing.uid and match_key(existing.uid) != uid
                    and existing.status.value not in ("confirmed", "deleted")):
                print(f"lifecycle: employee {args.employee_id} is already linked to {existing.uid}; if that is wrong, "
                      f"`lifecycle unlink {args.employee_id} --reason ...` first", file=sys.stderr)
                return EXIT_ERROR
            owner = journal.uid_owner(entry.uid)
            if owner not in (None, args.employee_id):
                print(f"lifecycle: {entry.uid} is employee {owner}'s account; if that link is wrong, "
                      f"`lifecycle unlink {owner} --reason ...` first", file=sys.stderr)
                return EXIT_ERROR
            record = next((r for r in inputs.hr.records if r.employee_id == args.employee_id), None)
            company_code = record.company if record else (existing.company if existing else "")
            moved: tuple[str, str] | None = None
            if outside:  # brought into the company's subtree, where the daemon manages people
                company = ctx.company(company_code)
                if company is None:
                    print(f"lifecycle: {entry.dn} is outside the companies' subtrees and employee {args.employee_id} "
                          "has no company in HR to move it to", file=sys.stderr)
                    return EXIT_ERROR
                new_dn = directory.move_person(entry.dn, company.people_dn)
                moved = (entry.dn, new_dn)
                if dn_key(new_dn) == dn_key(entry.dn):
                    moved = None
            company_of_entry = ctx.company_of_dn(moved[1] if moved else entry.dn) or company_code
        journal.confirm_match(args.employee_id, entry.uid, company_of_entry, current_actor(), now, moved=moved)
    finally:
        journal.close()
    where = f"moved to {moved[1]} and " if moved else ""
    print(f"confirmed: {entry.dn} is employee {args.employee_id}; {where}the next cycle adopts it")
    return EXIT_OK


def _adopt_new(args: argparse.Namespace, settings: Settings) -> int:
    from lifecycle.cli.admin import require_known_employee
    from lifecycle.domain.interventions import InterventionKind
    from lifecycle.engine.cycle import current_actor, open_hr, read_hr
    from lifecycle.journal.interventions import save_intervention
    from lifecycle.journal.store import Journal

    now = parse_now(None, settings.policy.timezone)
    journal = Journal(settings.state.url)
    try:
        hr = read_hr(settings, open_hr(settings))
        require_known_employee(settings, journal, args.employee_id, hr=hr)
        record = next((r for r in hr.records if r.employee_id == args.employee_id), None)
        if record is None:
            print(f"lifecycle: employee {args.employee_id} is not in the HR export: there is no joiner to make an "
                  "account for", file=sys.stderr)
            return EXIT_ERROR
        existing = journal.person(args.employee_id)
        if existing is not None and existing.uid and existing.status.value != "deleted":
            print(f"lifecycle: employee {args.employee_id} is linked to {existing.uid} already; if that is wrong, "
                  f"`lifecycle unlink {args.employee_id} --reason ...` first", file=sys.stderr)
            return EXIT_ERROR
        carrying = _carrying_number(settings, args.employee_id)
        if carrying:
            # A new entry would carry the same number: two entries with one number block the employee for good.
            print(f"lifecycle: {', '.join(e.dn for e in carrying)} carries employeeNumber {args.employee_id}: remove "
                  f"employeeNumber from {carrying[0].dn} first (a new account would carry the same number), or adopt it: "
                  f"`lifecycle adopt {args.employee_id} {carrying[0].uid or 'UID'}`", file=sys.stderr)
            return EXIT_ERROR
        reason = args.reason or DEFAULT_NEW_REASON
        with journal.engine.begin() as conn:
            save_intervention(conn, InterventionKind.NEW_ACCOUNT, args.employee_id, record.company, reason=reason,
                              actor=current_actor(), now=now, changes={"new_account": [None, True]})
    finally:
        journal.close()
    print(f"recorded: none of the existing entries is employee {args.employee_id}; the next cycle makes a new account")
    return EXIT_OK


def _carrying_number(settings: Settings, employee_id: str) -> list[DirectoryEntry]:
    """The entries under the base DN (any object class) that carry `employee_id` as their employeeNumber."""
    from connectors.ldap import LdapDirectory
    from lifecycle.domain.dn import match_key

    key = match_key(employee_id)
    with LdapDirectory(settings.directory, settings.companies) as directory:
        snapshot = directory.read_snapshot()
    return [e for e in (*snapshot.entries, *snapshot.outside, *snapshot.other_classes)
            if e.employee_number and match_key(e.employee_number) == key]


def cmd_unlink(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.ldap import LdapDirectory
    from lifecycle.cli.admin import require_known_employee
    from lifecycle.domain.dn import match_key
    from lifecycle.engine.cycle import current_actor
    from lifecycle.journal.store import Journal
    from policies.context import PolicyContext

    now = parse_now(None, settings.policy.timezone)
    reason = args.reason.strip()
    if not reason:
        print("lifecycle: unlink: --reason must say why the entry is not this employee's", file=sys.stderr)
        return EXIT_ERROR
    journal = Journal(settings.state.url)
    try:
        require_known_employee(settings, journal, args.employee_id)
        person = journal.person(args.employee_id)
        if person is None or not person.uid or person.status.value == "deleted":
            print(f"lifecycle: employee {args.employee_id} is linked to no entry", file=sys.stderr)
            return EXIT_ERROR
        cleared = ""
        with LdapDirectory(settings.directory, settings.companies) as directory:
            snapshot = directory.read_snapshot()
            ctx = PolicyContext(settings, now)
            linked = [e for e in snapshot.entries if match_key(e.uid) == match_key(person.uid)]
            if len(linked) > 1:
                linked = [e for e in linked if ctx.company_of_dn(e.dn) == person.company] or linked
            for entry in linked:
                # First, so that a failure here leaves the link as it was (not an entry the next cycle relinks).
                if entry.employee_number and match_key(entry.employee_number) == match_key(args.employee_id):
                    directory.modify_person(entry.dn, {"employeeNumber": None})
                    cleared = entry.dn
        journal.unlink(args.employee_id, reason, current_actor(), now, number_removed_from=cleared)
    finally:
        journal.close()
    removed = f"; employeeNumber removed from {cleared}" if cleared else ""
    print(f"unlinked: employee {args.employee_id} is no longer linked to {person.uid}{removed}; the entry is left as it "
          f"is; the next cycle shows {args.employee_id}'s possible entries (`lifecycle adopt {args.employee_id} UID`)")
    return EXIT_OK


ADOPTION_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {"adopt": cmd_adopt, "unlink": cmd_unlink}
