"""`lifecycle`: check, plan, apply, log, explain, adopt, migrate, run (the daemon), web (the console).

Exit codes follow `terraform plan -detailed-exitcode`: 0 nothing to do,
2 changes planned, 1 error; 141 (128 + SIGPIPE, as for `seq 1 1000000 | head -1`)
when the reader of the output went away.

Every failure an operator can fix ends in one line on stderr saying what, why
and what to do; the chained cause is in the debug log (`--log-level DEBUG`).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.exc import SQLAlchemyError

from lifecycle.domain.errors import ConfigError, ConnectorError, LifecycleError, StalePlanError
from lifecycle.domain.instants import parse_instant

if TYPE_CHECKING:
    from lifecycle.domain.mail import MailSnapshot
    from lifecycle.domain.models import DirectorySnapshot, HrSnapshot, StoredState
    from lifecycle.domain.settings import Settings
    from lifecycle.engine.cycle import Inputs
    from policies.context import PolicyContext

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
EXIT_BROKEN_PIPE = 141

# Commands that connect to the directory (and mail): their secrets are read, and required, at load.
# The others need the state store only (explain reads the rest if it can).
CONNECTING = frozenset({"check", "plan", "apply", "adopt", "unlink", "run", "suspend", "unsuspend", "reset-password"})

log = structlog.get_logger("lifecycle.cli.main")


def parse_now(text: str | None, timezone: str) -> datetime:
    """ISO date or date-time; without an offset it is read in the company time zone."""
    if not text:
        return datetime.now(UTC).astimezone(ZoneInfo(timezone))
    try:
        return parse_instant(text, timezone)
    except ValueError as exc:
        raise ConfigError(f"--now {text!r} is not an ISO date or date-time (e.g. 2027-01-15 or 2027-01-15T09:00+08:00)") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle", description="HR-driven account lifecycle for the group's directory and mail.")
    parser.add_argument("--config", help="TOML config (default: $LIFECYCLE_CONFIG, else /etc/lifecycle/config.toml)")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines (the service does this)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (default: INFO for `run`, else WARNING)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("check", help="validate the config and reach every server; read HR and count its rows per company",
                   description="Validate the config, reach the state store, HR, the directory and the mail server, and read the "
                   "resources file ([resources] path) as a cycle reads it. "
                   "HR is read as a cycle reads it: rows accepted and rejected per company, the commonest problems. "
                   "Exits 1 when anything is wrong, a company's HR rows unusable included.")

    plan = sub.add_parser("plan", help="show what a cycle would do and why; changes nothing",
                          description="Exits 0 with no changes, 2 with changes, 1 on an error or when a company's "
                          "HR rows are unusable (nothing is planned for it).")
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
    apply.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                       help="how the apply shows its progress on stderr: a bar on a terminal, a line every 10 s "
                            "elsewhere (auto, the default), always one of them, or none")

    log_cmd = sub.add_parser("log", help="read the action log (times in [policy] timezone)")
    log_cmd.add_argument("--company")
    log_cmd.add_argument("--employee")
    log_cmd.add_argument("--since", help="ISO date or date-time ([policy] timezone if no offset)")
    log_cmd.add_argument("--limit", type=int, help="only the last N entries")
    log_cmd.add_argument("--format", choices=("text", "json"), default="text")

    explain = sub.add_parser("explain", help="one person's state, history, and what happens next")
    explain.add_argument("employee_id")
    explain.add_argument("--now")

    migrate = sub.add_parser("migrate", help="upgrade the state store's schema to this version's (the service does it at its start)")
    migrate.add_argument("--check", "--dry-run", dest="dry_run", action="store_true",
                         help="say what an upgrade would do and change nothing (exit 2 if one is due)")

    from lifecycle.cli.admin import add_admin_commands
    from lifecycle.cli.adoption import add_adoption_commands
    from lifecycle.cli.forward import add_forward_command
    from lifecycle.cli.interventions import add_intervention_commands
    from lifecycle.cli.outbox import add_outbox_command

    add_adoption_commands(sub)
    add_admin_commands(sub)
    add_outbox_command(sub)
    add_forward_command(sub)
    add_intervention_commands(sub)

    sub.add_parser("web", help="the console: each branch admin sees and decides for their own company ([web]; "
                               "needs no directory or mail secret)",
                   description="Serve the console and its JSON API on [web] listen until SIGTERM (systemd/lifecycle-web.service). "
                               "Admins log in with their own directory account; [[web.roles]] map their groups to companies. "
                               "It needs the state store, the directory's address and [web] session_secret(_file); "
                               "see \"Console\" in README.md.")

    sub.add_parser(
        "run",
        help="the daemon: a cycle every [schedule] cycle_minutes, a full reconciliation at full_at (systemd Type=notify)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from lifecycle.runtime.logging import configure_logging

    args.log_level = (args.log_level or ("INFO" if args.command == "run" else "WARNING")).upper()
    configure_logging(json=args.log_json, level=args.log_level)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a reader that went away shows here, not as a traceback at interpreter exit
        return code
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except StalePlanError as exc:
        return _fail(exc, f"saved plan refused: {exc}")
    except ConnectorError as exc:
        return _fail(exc, f"{exc.connector or 'connector'} error: {exc}")
    except LifecycleError as exc:  # ConfigError, FeedError, StateStoreError, UnknownEmployeeError...
        return _fail(exc, str(exc))
    except OSError as exc:  # a file outside the state store: the HR export, --out, the sealed passwords
        return _fail(exc, _os_error_words(exc))
    except SQLAlchemyError as exc:  # what the journal does not translate (a PostgreSQL server that is down...)
        return _fail(exc, f"state store error: {_first_line(exc)}")


def _dispatch(args: argparse.Namespace) -> int:
    from lifecycle.cli.admin import ADMIN_COMMANDS
    from lifecycle.cli.adoption import ADOPTION_COMMANDS
    from lifecycle.cli.forward import FORWARD_COMMANDS
    from lifecycle.cli.interventions import INTERVENTION_COMMANDS
    from lifecycle.cli.outbox import OUTBOX_COMMANDS
    from lifecycle.domain.settings import load_settings

    settings = load_settings(args.config, secrets=args.command in CONNECTING)
    settings = _as_state_owner(settings)
    commands = {**COMMANDS, **ADMIN_COMMANDS, **OUTBOX_COMMANDS, **ADOPTION_COMMANDS, **FORWARD_COMMANDS,
                **INTERVENTION_COMMANDS}
    return commands[args.command](args, settings)


def _as_state_owner(settings: Settings) -> Settings:
    """Run as the user who owns the state directory (the service user) when started by root.

    Every file a command writes (state.db and SQLite's -wal and -shm, the lock, sealed passwords)
    must stay writable by the service: made by root, they would stop it.  The secrets are read
    first, while root still can (the credential files are root's alone).
    """
    if os.geteuid() != 0:
        return settings
    from sqlalchemy.engine import make_url

    url = make_url(settings.state.url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return settings
    try:
        owner = Path(url.database).absolute().parent.stat().st_uid
    except OSError:
        return settings  # the store's own checks say what is wrong with the path
    if owner == 0:
        return settings
    import pwd

    from lifecycle.domain.settings import read_secrets

    settings, _ = read_secrets(settings)  # what cannot be read is reported by the command that needs it
    directory = Path(url.database).absolute().parent
    try:
        account = pwd.getpwuid(owner)
        os.initgroups(account.pw_name, account.pw_gid)
        os.setgid(account.pw_gid)
        user = account.pw_name
    except KeyError:  # a user without a passwd entry (DynamicUser=): its uid and the directory's group
        os.setgroups([])
        os.setgid(directory.stat().st_gid)
        user = str(owner)
    os.setuid(owner)
    log.info("running_as_state_owner", user=user, state=str(directory))
    return settings


def _fail(exc: BaseException, message: str) -> int:
    """One line for the operator; the cause chain for whoever runs with --log-level DEBUG."""
    log.debug("command_failed", error=type(exc).__name__, exc_info=exc)
    try:
        print(f"lifecycle: {message}", file=sys.stderr)
    except BrokenPipeError:
        pass
    return EXIT_ERROR


def _discard_stdout() -> None:
    """Point stdout at /dev/null: Python's flush at exit must not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is no file (a test's capture): nothing is flushed at exit


def _os_error_words(exc: OSError) -> str:
    import errno

    where = f"{exc.filename}: " if exc.filename else ""
    hints = {
        errno.ENOSPC: "free space on that file system, then run again",
        errno.EROFS: "that file system is mounted read-only; remount it read-write or configure another path",
        errno.EACCES: f"make it accessible to user {_user()} (or run as the service user)",
        errno.ENOENT: "check the path in the configuration",
    }
    hint = hints.get(exc.errno or 0)
    return f"{where}{exc.strerror or exc}" + (f"; {hint}" if hint else "")


def _user() -> str:
    from lifecycle.engine.cycle import current_actor

    return current_actor()


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.ldap import LdapDirectory
    from lifecycle.cli.checks import check_hr, check_mail, check_notify, check_resources
    from lifecycle.journal.check import check_state_store

    problems: list[str] = []
    print(f"config: ok ({len(settings.companies)} companies: {', '.join(c.code for c in settings.companies)})")
    try:
        print(f"state store: {check_state_store(settings.state.url)}")  # read only: the service creates it
    except LifecycleError as exc:  # StateStoreError: names the path, the cause and the fix
        problems.append(str(exc))
    except Exception as exc:  # any other driver error: report, keep checking the rest
        problems.append(f"state store {_safe_url(settings.state.url)}: {_first_line(exc)}")
    problems.extend(check_hr(settings))
    with LdapDirectory(settings.directory, settings.companies) as directory:
        found = directory.check()
    if found:
        problems.extend(f"directory: {p}" for p in found)
    else:
        print(f"directory: ok ({settings.directory.url})")
    if settings.mail is None:
        print("mail: not configured (the directory is managed alone)")
    else:
        problems.extend(check_mail(settings))
    problems.extend(check_notify(settings))
    problems.extend(check_resources(settings))
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    return EXIT_ERROR if problems else EXIT_OK


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.ldap import LdapDirectory
    from lifecycle.engine.cycle import open_hr, plan_cycle
    from lifecycle.engine.render import plan_json, plan_text
    from lifecycle.journal.store import Journal

    now = parse_now(args.now, settings.policy.timezone)
    journal = Journal(settings.state.url)
    try:
        with LdapDirectory(settings.directory, settings.companies) as directory:
            plan = plan_cycle(settings, now, directory, journal, hr=open_hr(settings))
    finally:
        journal.close()
    if args.out:
        args.out.write_text(plan_json(plan), encoding="utf-8")
    sys.stdout.write(plan_json(plan) + "\n" if args.format == "json" else plan_text(plan))
    if plan.unusable:
        _report_unusable(plan.unusable)
        return EXIT_ERROR
    return EXIT_CHANGES if plan.has_changes else EXIT_OK


def _report_unusable(unusable: dict[str, str]) -> None:
    for company, why in sorted(unusable.items()):
        if company != "*" or len(unusable) == 1:
            print(f"PROBLEM hr feed {company}: {why}", file=sys.stderr)


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.ldap import LdapDirectory
    from lifecycle.engine.cycle import apply_cycle, load_saved_plan, open_hr
    from lifecycle.journal.store import Journal
    from lifecycle.runtime.progress import progress_for

    saved = load_saved_plan(args.plan) if args.plan else None
    now = parse_now(args.now, settings.policy.timezone)
    if args.transactions and not settings.directory.transactions:
        print("this run writes in LDAP transactions where the server offers them; "
              "a connection reset during a commit can crash slapd 2.5/2.6: watch the run", file=sys.stderr)
        settings = settings.with_transactions()
    journal = Journal(settings.state.url)
    try:
        with LdapDirectory(settings.directory, settings.companies) as directory:
            plan, result = apply_cycle(settings, now, directory, journal, saved_plan=saved, hr=open_hr(settings),
                                       progress=progress_for(args.progress))
    finally:
        journal.close()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items())) or "nothing to do"
    print(f"applied plan as of {plan.now.isoformat(timespec='minutes')}: {len(plan.actions)} actions ({counts}); "
          f"{len(plan.rejected)} rejected rows; {len(plan.reviews)} to review; run {result.run_id}")
    if result.stopped:
        print(f"stopped early: {result.stopped}; the next cycle continues from the directory as it is", file=sys.stderr)
    if plan.unusable:
        _report_unusable(plan.unusable)
        return EXIT_ERROR
    return EXIT_OK if result.ok else EXIT_ERROR


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    from lifecycle.engine.render import log_json, log_lines
    from lifecycle.journal.store import Journal

    since = parse_now(args.since, settings.policy.timezone) if args.since else None
    journal = Journal(settings.state.url)
    try:
        entries = list(journal.entries(company=args.company, employee_id=args.employee, since=since, limit=args.limit))
    finally:
        journal.close()
    if args.format == "json":
        sys.stdout.write(log_json(entries) + "\n")
        return EXIT_OK
    for line in log_lines(entries, ZoneInfo(settings.policy.timezone)):
        sys.stdout.write(line)
    if not entries:
        filters = [f"{name} {value}" for name, value in (("company", args.company), ("employee", args.employee),
                                                          ("since", args.since)) if value]
        print("no action log entries" + (f" for {', '.join(filters)}" if filters else ""), file=sys.stderr)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    from lifecycle.cli.admin import require_known_employee
    from lifecycle.domain.settings import read_secrets
    from lifecycle.engine.render import log_text
    from lifecycle.journal.store import Journal
    from policies.context import PolicyContext

    now = parse_now(args.now, settings.policy.timezone)
    zone = ZoneInfo(settings.policy.timezone)
    eid = args.employee_id
    settings, problems = read_secrets(settings)
    # Without a secret, that source is not read: explain says so and shows the rest.
    unread = {source: problems[section] for section, source in (("directory", "the directory"), ("mail", "mail"))
              if section in problems}
    journal = Journal(settings.state.url)
    try:
        state = journal.load_state()
        history = list(journal.entries(employee_id=eid))
        inputs = _explain_inputs(settings, unread)
        require_known_employee(settings, journal, eid, hr=inputs.hr, directory=inputs.directory, unread=unread,
                               logged=bool(history))
    finally:
        journal.close()
    ctx = PolicyContext(settings, now, holds=state.holds)
    print(f"Employee {eid} as of {now.isoformat(timespec='minutes')}")
    for source, why in unread.items():
        print(f"  not read: {source}: {why}")
    if inputs.hr is not None:
        for row in inputs.hr.rejected:
            if row.employee_id == eid:
                print(f"  HR row rejected, nothing is done for this employee: {row.message()}")
    _explain_person(eid, inputs, state, settings, ctx, unread, zone)
    if history:
        print("  history:")
        for line in log_text(history, zone).splitlines():
            print("    " + line)
    return EXIT_OK


@dataclass
class _ExplainInputs:
    """What explain could read: None for a source it could not (`unread` says why)."""

    hr: HrSnapshot | None = None
    directory: DirectorySnapshot | None = None
    mail: MailSnapshot | None = None
    complete: Inputs | None = None  # the cycle's own inputs, when every source was read: a plan can be made


def _explain_inputs(settings: Settings, unread: dict[str, str]) -> _ExplainInputs:
    """Every source as a cycle reads it when possible; else each source alone, noting what failed in `unread`."""
    from connectors.ldap import LdapDirectory
    from lifecycle.engine.cycle import mail_domains, open_companion, open_hr, open_mail, read_inputs

    if not unread:
        mail, companion = open_mail(settings), open_companion(settings)
        try:
            with LdapDirectory(settings.directory, settings.companies) as directory:
                inputs = read_inputs(settings, directory, mail, companion, hr=open_hr(settings))
            return _ExplainInputs(inputs.hr, inputs.directory, inputs.mail, complete=inputs)
        except (LifecycleError, OSError):
            pass  # read again source by source below, to say which one failed and show the rest
        finally:
            if mail is not None:
                mail.close()
    found = _ExplainInputs()
    try:
        found.hr = open_hr(settings).read(date.today())
    except (LifecycleError, OSError) as exc:
        unread["the HR export"] = _os_error_words(exc) if isinstance(exc, OSError) else str(exc)
    if "the directory" not in unread:
        try:
            with LdapDirectory(settings.directory, settings.companies) as directory:
                found.directory = directory.read_snapshot()
        except LifecycleError as exc:
            unread["the directory"] = str(exc)
    if settings.mail is not None and "mail" not in unread:
        mail = open_mail(settings)
        assert mail is not None  # settings.mail is set
        try:
            found.mail = mail.read_snapshot(mail_domains(settings))
        except LifecycleError as exc:
            unread["mail"] = str(exc)
        finally:
            mail.close()
    return found


def _explain_person(eid: str, inputs: _ExplainInputs, state: StoredState, settings: Settings, ctx: PolicyContext,
                    unread: dict[str, str], zone: tzinfo) -> None:
    from lifecycle.domain.models import DirectorySnapshot, HrSnapshot
    from lifecycle.engine.cycle import plan_from
    from policies.join import join_snapshots
    from policies.timeline import explain_upcoming

    hr = inputs.hr if inputs.hr is not None else HrSnapshot(())
    directory = inputs.directory if inputs.directory is not None else DirectorySnapshot(())
    joined = join_snapshots(hr, directory, state, ctx, inputs.mail)
    view = next((v for v in joined.persons if v.employee_id == eid), None)
    if view is None:
        return
    record = view.hr
    if record:
        print(f"  HR: {record.name} {record.company}/{record.department} {record.title or ''} status={record.status.value} "
              f"hired={record.hire_date} left={record.termination_date or '-'} manager={record.manager_id or '-'} (row {record.row})")
    elif inputs.hr is not None:
        print("  HR: no row in the export")
    if view.state:
        s = view.state
        print(f"  state: {s.status.value} uid={s.uid} company={s.company}"
              + (f" suspended {s.suspended_at:%Y-%m-%d} ({s.suspension_rule.value if s.suspension_rule else '-'})" if s.suspended_at else "")
              + (f" warned {s.warned_at:%Y-%m-%d}" if s.warned_at else "")
              + (f" deleted {s.deleted_at:%Y-%m-%d}" if s.deleted_at else ""))
    if view.entry:
        e = view.entry
        login = "never logged in"
        if e.last_bind:
            login = f"last login={e.last_bind.astimezone(zone).isoformat(sep=' ', timespec='minutes')}"
        print(f"  directory: {e.dn} mail={e.mail or '-'} {'DISABLED' if e.locked else 'enabled'} {login}")
    if inputs.hr is None:
        print("  standing: unknown (the HR export could not be read)")
        return
    standing, upcoming = explain_upcoming(view, ctx)
    print(f"  standing: {standing}")
    if inputs.complete is not None:
        plan = plan_from(inputs.complete, state, settings, ctx.now)
        mine = [a for a in plan.actions if a.employee_id == eid]
        print("  a cycle now would:" if mine else "  a cycle now would: do nothing for this employee")
        for action in mine:
            print(f"    {action.kind.value} {action.target} [{action.rule}] {action.reason}")
        for review in plan.reviews:
            if review.employee_id == eid:
                print(f"  needs an admin: {review.reason}; fix: {review.fix}")
    else:
        print(f"  a cycle now would: not computed ({', '.join(unread)} could not be read)")
    if upcoming:
        print("  next:" if inputs.directory is not None else "  next (inactivity not included: the directory was not read):")
        for event in upcoming:
            when = event.when.date() if isinstance(event.when, datetime) else event.when
            print(f"    {when}  {event.what}")


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Upgrade the store, or say what an upgrade would do; refused while the service holds the store."""
    from lifecycle.journal.store import upgrade_store
    from lifecycle.runtime.leader import leadership_for

    url = settings.state.url
    found = upgrade_store(url, dry_run=True)  # refuses a newer store, or tables lifecycle did not make
    print(f"state store {_safe_url(url)}: {found.words()}")
    if not found.upgrade_due:
        return EXIT_OK
    if args.dry_run:
        print("an upgrade would:" + "".join(f"\n  {step}" for step in found.steps))
        return EXIT_CHANGES
    leader = leadership_for(url)
    if not leader.try_acquire():  # a running service upgrades the store itself, at its start
        print(f"lifecycle: the service is running ({leader.holder() or 'another instance'} holds {leader.description}): "
              "restart it to upgrade the store, or stop it and run `lifecycle migrate` again", file=sys.stderr)
        return EXIT_ERROR
    try:
        done = upgrade_store(url)
    finally:
        leader.release()
    print("upgraded:" + "".join(f"\n  {step}" for step in done.steps) if done.upgrade_due else "nothing left to do: upgraded meanwhile by another process")
    return EXIT_OK


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from lifecycle.web.serve import run_console

    return run_console(settings)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from lifecycle.daemon.service import run_daemon

    return run_daemon(settings, args.config, json=args.log_json, level=args.log_level)


COMMANDS = {
    "check": cmd_check,
    "plan": cmd_plan,
    "apply": cmd_apply,
    "log": cmd_log,
    "explain": cmd_explain,
    "migrate": cmd_migrate,
    "run": cmd_run,
    "web": cmd_web,
}


if __name__ == "__main__":
    sys.exit(main())
