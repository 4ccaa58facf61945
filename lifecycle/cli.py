"""`lifecycle`: check, plan, apply, log, explain, adopt, demo.

Exit codes follow `terraform plan -detailed-exitcode`: 0 nothing to do,
2 changes planned, 1 error.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from lifecycle.errors import ConfigError, ConnectorError, FeedError, LifecycleError, StalePlanError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def parse_now(text: str | None, timezone: str) -> datetime:
    """ISO date or date-time; without an offset it is read in the company time zone."""
    if not text:
        return datetime.now(UTC).astimezone(ZoneInfo(timezone))
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--now {text!r} is not an ISO date or date-time (e.g. 2027-01-15 or 2027-01-15T09:00+08:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle", description="HR-driven account lifecycle for the group's directory and mail.")
    parser.add_argument("--config", help="TOML config (default: $LIFECYCLE_CONFIG, else /etc/lifecycle/config.toml)")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines (the service does this)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (default: INFO for `run`, else WARNING)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("check", help="validate the config and reach every server")

    plan = sub.add_parser("plan", help="show what a cycle would do and why; changes nothing")
    plan.add_argument("--now", help="plan as of this date/time (preview a future date)")
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.add_argument("--out", type=Path, help="also save the plan as JSON, for `apply --plan`")

    apply = sub.add_parser("apply", help="compute the plan and apply it (or apply a saved plan exactly)")
    apply.add_argument("--now", help="apply as of this date/time")
    apply.add_argument("--plan", type=Path, help="a plan saved with `plan --out`; refused if it no longer matches")
    apply.add_argument("--transactions", action="store_true",
                       help="this run only: writes grouped into LDAP transactions, as `[directory] transactions = true` "
                            "(a bulk load 2-3x faster; slapd 2.5.13 and 2.6.10 crash if a connection is reset during a "
                            "commit, so watch the run)")

    log_cmd = sub.add_parser("log", help="read the action log")
    log_cmd.add_argument("--company")
    log_cmd.add_argument("--employee")
    log_cmd.add_argument("--since", help="ISO date or date-time")
    log_cmd.add_argument("--limit", type=int, help="only the last N entries")
    log_cmd.add_argument("--format", choices=("text", "json"), default="text")

    explain = sub.add_parser("explain", help="one person's state, history, and what happens next")
    explain.add_argument("employee_id")
    explain.add_argument("--now")

    adopt = sub.add_parser("adopt", help="confirm that an existing directory entry belongs to an employee")
    adopt.add_argument("employee_id")
    adopt.add_argument("uid", help="the uid of the existing entry")

    from lifecycle.admin_cli import add_admin_commands

    add_admin_commands(sub)

    sub.add_parser(
        "run",
        help="the daemon: a cycle every [schedule] cycle_minutes, a full reconciliation at full_at (systemd Type=notify)",
    )

    demo = sub.add_parser("demo", help="run the demo on a throwaway slapd with the shipped sample export")
    demo.add_argument("--workdir", type=Path, help="keep the demo's files here (default: a temp dir)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from lifecycle.logging import configure_logging

    level = args.log_level or ("INFO" if args.command == "run" else "WARNING")
    configure_logging(json=args.log_json, level=level.upper())
    try:
        if args.command == "demo":
            from lifecycle.demo import run_demo

            return run_demo(args.workdir)
        from lifecycle.settings import load_settings

        settings = load_settings(args.config)
        from lifecycle.admin_cli import ADMIN_COMMANDS

        return {**COMMANDS, **ADMIN_COMMANDS}[args.command](args, settings)
    except StalePlanError as exc:
        print(f"lifecycle: saved plan refused: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (ConfigError, FeedError) as exc:
        print(f"lifecycle: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ConnectorError as exc:
        print(f"lifecycle: {exc.connector or 'connector'} error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except LifecycleError as exc:
        print(f"lifecycle: {exc}", file=sys.stderr)
        return EXIT_ERROR


def cmd_check(args: argparse.Namespace, settings) -> int:
    from connectors.directory_ldap import LdapDirectory
    from connectors.hr_csv import read_hr_csv
    from lifecycle.cycle import company_aliases
    from lifecycle.journal import Journal

    problems: list[str] = []
    print(f"config: ok ({len(settings.companies)} companies: {', '.join(c.code for c in settings.companies)})")
    try:
        Journal(settings.state.url).close()
        print(f"state store: ok ({_safe_url(settings.state.url)})")
    except Exception as exc:  # any driver error: report, keep checking the rest
        problems.append(f"state store {_safe_url(settings.state.url)}: {exc}")
    try:
        hr = read_hr_csv(settings.hr, company_aliases(settings))
        print(f"hr export: ok ({settings.hr.path}: {len(hr.records)} rows accepted, {len(hr.rejected)} rejected)")
    except LifecycleError as exc:
        problems.append(f"hr export: {exc}")
    with LdapDirectory(settings.directory, settings.companies) as directory:
        found = directory.check()
    if found:
        problems.extend(f"directory: {p}" for p in found)
    else:
        print(f"directory: ok ({settings.directory.url})")
    if settings.mail is None:
        print("mail: not configured (the directory is managed alone)")
    else:
        problems.extend(_check_mail(settings))
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    return EXIT_ERROR if problems else EXIT_OK


def _check_mail(settings) -> list[str]:
    from lifecycle.cycle import open_companion, open_mail
    from lifecycle.mail import MailCapability

    problems: list[str] = []
    mail, companion = open_mail(settings), open_companion(settings)
    try:
        try:
            found = mail.check()
        except LifecycleError as exc:
            found = [str(exc)]
        problems.extend(f"mail: {p}" for p in found)
        abilities = set(mail.capabilities())
        if companion is not None:
            try:
                problems.extend(f"dovecot: {p}" for p in companion.check())
            except LifecycleError as exc:
                problems.append(f"dovecot: {exc}")
            abilities |= set(companion.CAPABILITIES)
        if not found:
            print(f"mail: ok ({settings.mail.kind} at {settings.mail.url})")
        print("mail abilities:")
        for capability in MailCapability:
            print(f"  {capability.value:<24} {'yes' if capability in abilities else 'no'}")
    finally:
        mail.close()
    return problems


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_plan(args: argparse.Namespace, settings) -> int:
    from connectors.directory_ldap import LdapDirectory
    from lifecycle.cycle import plan_cycle
    from lifecycle.journal import Journal
    from lifecycle.render import plan_json, plan_text

    now = parse_now(args.now, settings.policy.timezone)
    journal = Journal(settings.state.url)
    try:
        with LdapDirectory(settings.directory, settings.companies) as directory:
            plan = plan_cycle(settings, now, directory, journal)
    finally:
        journal.close()
    if args.out:
        args.out.write_text(plan_json(plan), encoding="utf-8")
    sys.stdout.write(plan_json(plan) + "\n" if args.format == "json" else plan_text(plan))
    return EXIT_CHANGES if plan.has_changes else EXIT_OK


def cmd_apply(args: argparse.Namespace, settings) -> int:
    from connectors.directory_ldap import LdapDirectory
    from lifecycle.cycle import apply_cycle, load_saved_plan
    from lifecycle.journal import Journal

    saved = load_saved_plan(args.plan) if args.plan else None
    now = parse_now(args.now, settings.policy.timezone)
    if args.transactions and not settings.directory.transactions:
        print("this run writes in LDAP transactions where the server offers them; "
              "a connection reset during a commit can crash slapd 2.5/2.6: watch the run", file=sys.stderr)
        settings = settings.with_transactions()
    journal = Journal(settings.state.url)
    try:
        with LdapDirectory(settings.directory, settings.companies) as directory:
            plan, result = apply_cycle(settings, now, directory, journal, saved_plan=saved)
    finally:
        journal.close()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items())) or "nothing to do"
    print(f"applied plan as of {plan.now.isoformat(timespec='minutes')}: {len(plan.actions)} actions ({counts}); "
          f"{len(plan.rejected)} rejected rows; {len(plan.reviews)} to review; run {result.run_id}")
    if result.stopped:
        print(f"stopped early: {result.stopped}; the next cycle continues from the directory as it is", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_ERROR


def cmd_log(args: argparse.Namespace, settings) -> int:
    from lifecycle.journal import Journal
    from lifecycle.render import log_json, log_text

    since = parse_now(args.since, settings.policy.timezone) if args.since else None
    journal = Journal(settings.state.url)
    try:
        entries = list(journal.entries(company=args.company, employee_id=args.employee, since=since, limit=args.limit))
    finally:
        journal.close()
    sys.stdout.write(log_json(entries) + "\n" if args.format == "json" else log_text(entries))
    return EXIT_OK


def cmd_explain(args: argparse.Namespace, settings) -> int:
    from connectors.directory_ldap import LdapDirectory
    from lifecycle.cycle import open_companion, open_mail, plan_from, read_inputs
    from lifecycle.journal import Journal
    from lifecycle.render import log_text
    from policies.context import PolicyContext
    from policies.join import join_snapshots
    from policies.timeline import explain_upcoming

    now = parse_now(args.now, settings.policy.timezone)
    journal = Journal(settings.state.url)
    try:
        mail, companion = open_mail(settings), open_companion(settings)
        try:
            with LdapDirectory(settings.directory, settings.companies) as directory:
                inputs = read_inputs(settings, directory, mail, companion)
        finally:
            if mail is not None:
                mail.close()
        state = journal.load_state()
        history = list(journal.entries(employee_id=args.employee_id))
    finally:
        journal.close()
    ctx = PolicyContext(settings, now, holds=state.holds)
    eid = args.employee_id
    print(f"Employee {eid} as of {now.isoformat(timespec='minutes')}")
    for row in inputs.hr.rejected:
        if row.employee_id == eid:
            print(f"  HR row rejected, nothing is done for this employee: {row.message()}")
    joined = join_snapshots(inputs.hr, inputs.directory, state, ctx, inputs.mail)
    view = next((v for v in joined.persons if v.employee_id == eid), None)
    if view is None and not history:
        print("  unknown: not in the HR export, the stored state or the directory")
        return EXIT_ERROR
    if view is not None:
        record = view.hr
        if record:
            print(f"  HR: {record.name} {record.company}/{record.department} {record.title or ''} status={record.status.value} "
                  f"hired={record.hire_date} left={record.termination_date or '-'} manager={record.manager_id or '-'} (row {record.row})")
        else:
            print("  HR: no row in the export")
        if view.state:
            s = view.state
            print(f"  state: {s.status.value} uid={s.uid} company={s.company}"
                  + (f" suspended {s.suspended_at:%Y-%m-%d} ({s.suspension_rule.value if s.suspension_rule else '-'})" if s.suspended_at else "")
                  + (f" warned {s.warned_at:%Y-%m-%d}" if s.warned_at else "")
                  + (f" deleted {s.deleted_at:%Y-%m-%d}" if s.deleted_at else ""))
        if view.entry:
            e = view.entry
            print(f"  directory: {e.dn} mail={e.mail or '-'} {'DISABLED' if e.locked else 'enabled'} "
                  f"last login={e.last_bind:%Y-%m-%d %H:%M} UTC" if e.last_bind else
                  f"  directory: {e.dn} mail={e.mail or '-'} {'DISABLED' if e.locked else 'enabled'} never logged in")
        standing, upcoming = explain_upcoming(view, ctx)
        print(f"  standing: {standing}")
        plan = plan_from(inputs, state, settings, now)
        mine = [a for a in plan.actions if a.employee_id == eid]
        print("  a cycle now would:" if mine else "  a cycle now would: do nothing for this employee")
        for action in mine:
            print(f"    {action.kind.value} {action.target} [{action.rule}] {action.reason}")
        for review in plan.reviews:
            if review.employee_id == eid:
                print(f"  needs an admin: {review.reason}; fix: {review.fix}")
        if upcoming:
            print("  next:")
            for event in upcoming:
                when = event.when.date() if isinstance(event.when, datetime) else event.when
                print(f"    {when}  {event.what}")
    if history:
        print("  history:")
        for line in log_text(history).splitlines():
            print("    " + line)
    return EXIT_OK


def cmd_adopt(args: argparse.Namespace, settings) -> int:
    from connectors.directory_ldap import LdapDirectory
    from lifecycle.cycle import current_actor, read_inputs
    from lifecycle.journal import Journal
    from policies.context import PolicyContext

    now = parse_now(None, settings.policy.timezone)
    journal = Journal(settings.state.url)
    try:
        with LdapDirectory(settings.directory, settings.companies) as directory:
            inputs = read_inputs(settings, directory)
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


def cmd_run(args: argparse.Namespace, settings) -> int:
    from lifecycle.daemon import run_daemon

    return run_daemon(settings, args.config, json=args.log_json, level=args.log_level.upper())


COMMANDS = {
    "check": cmd_check,
    "plan": cmd_plan,
    "apply": cmd_apply,
    "log": cmd_log,
    "explain": cmd_explain,
    "adopt": cmd_adopt,
    "run": cmd_run,
}


if __name__ == "__main__":
    sys.exit(main())
