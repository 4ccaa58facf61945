"""`lifecycle adopt`: an existing directory entry is this employee (or none is: `--new`); `lifecycle unlink`.

An admin's word on who an entry belongs to, recorded with the OS user who gave it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from lifecycle.cli.main import EXIT_ERROR, EXIT_OK, parse_now
from lifecycle.domain.settings import Settings


def add_adoption_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    adopt = sub.add_parser("adopt", help="confirm that an existing directory entry belongs to an employee")
    adopt.add_argument("employee_id")
    adopt.add_argument("uid", help="the uid of the existing entry")


def cmd_adopt(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.ldap import LdapDirectory
    from lifecycle.cli.admin import require_known_employee
    from lifecycle.engine.cycle import current_actor, open_hr, read_inputs
    from lifecycle.journal.store import Journal
    from policies.context import PolicyContext

    now = parse_now(None, settings.policy.timezone)
    journal = Journal(settings.state.url)
    try:
        with LdapDirectory(settings.directory, settings.companies) as directory:
            inputs = read_inputs(settings, directory, hr=open_hr(settings))
        require_known_employee(settings, journal, args.employee_id, hr=inputs.hr, directory=inputs.directory)
        entry = next((e for e in inputs.directory.entries if e.uid.lower() == args.uid.lower()), None)
        if entry is None:
            print(f"lifecycle: no entry with uid {args.uid!r} in the managed subtrees", file=sys.stderr)
            return EXIT_ERROR
        if entry.employee_number and entry.employee_number != args.employee_id:
            print(f"lifecycle: {entry.dn} already carries employeeNumber {entry.employee_number}", file=sys.stderr)
            return EXIT_ERROR
        existing = journal.person(args.employee_id)
        if existing is not None and existing.uid.lower() != entry.uid.lower() and existing.status.value != "confirmed":
            print(f"lifecycle: employee {args.employee_id} is already linked to {existing.uid}", file=sys.stderr)
            return EXIT_ERROR
        company = PolicyContext(settings, now).company_of_dn(entry.dn) or ""
        journal.confirm_match(args.employee_id, entry.uid, company, current_actor(), now)
    finally:
        journal.close()
    print(f"confirmed: {entry.dn} is employee {args.employee_id}; the next cycle adopts it")
    return EXIT_OK


ADOPTION_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {"adopt": cmd_adopt}
