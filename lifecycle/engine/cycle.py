"""One cycle: read HR, the directory and the stored state; plan; optionally apply.

This is the only place that wires connectors to the pure core.
"""

from __future__ import annotations

import errno
import getpass
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from connectors.directory_ldap import LdapDirectory
from connectors.hr_csv import read_hr_csv
from lifecycle.engine import heap
from lifecycle.engine.apply import ApplyResult, CredentialVault, Executor
from lifecycle.domain.errors import LifecycleError, StalePlanError, StateStoreError
from lifecycle.engine.gcpause import gc_paused
from lifecycle.journal.store import ActionStatus, Journal, sqlite_store_diagnosis, user_name
from lifecycle.domain.mail import MailCapability, MailSnapshot
from lifecycle.domain.models import Action, DirectorySnapshot, HrSnapshot, Plan, StoredState
from lifecycle.engine.pinyin_ahead import likely_joiners, read_ahead
from lifecycle.engine.render import summarize_held
from lifecycle.domain.settings import Settings
from policies.engine import compute_plan
from policies.feed_health import feed_baseline
from policies.guards import action_key

log = structlog.get_logger(__name__)


def company_aliases(settings: Settings) -> dict[str, str]:
    """HR may name a company by its code or by its name."""
    aliases: dict[str, str] = {}
    for company in settings.companies:
        aliases[company.code] = company.code
        if company.name:
            aliases[company.name] = company.code
    return aliases


def config_fingerprint(settings: Settings) -> str:
    # SecretStr dumps masked, so the fingerprint never carries a secret.
    dumped = settings.model_dump(mode="json", exclude={"directory": {"bind_password_file"}})
    return hashlib.sha256(json.dumps(dumped, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def current_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (DynamicUser=): fall back to the uid
        return f"uid:{os.getuid()}"


def check_state_store(url: str) -> str:
    """What `lifecycle check` says about the state store, found out without creating or changing anything.

    The service creates the store on its first start, as its own user: a check run by root
    that created it would leave a state.db (and -wal, -shm) the service cannot write.
    Raises LifecycleError naming what is wrong.
    """
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return f"ok ({shown}: in memory)"
        path = Path(parsed.database)
        try:
            if not path.exists():
                _require_creatable(path)
                return f"not created yet ({path}: the service creates it on its first start)"
            _require_writable(path)
        except OSError as exc:  # a directory on the way this user may not enter
            raise LifecycleError(f"state store {path}: {exc.strerror} for user {user_name(os.geteuid())}"
                                 + (f" ({exc.filename})" if exc.filename else "")) from exc
        # SQLite creates -wal and -shm even for a read-only connection when they are missing
        # (the daemon is not running): then read the file alone (immutable) so none is left behind.
        option = "mode=ro" if Path(f"{path}-wal").exists() else "immutable=1"
        engine = create_engine(f"sqlite:///file:{path}?{option}&uri=true")
    else:
        engine = create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            created = inspect(conn).has_table("persons")
    except Exception as exc:  # any driver error: the message names the store and the driver's words
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LifecycleError(f"state store {shown}: cannot be read: {first_line}") from exc
    finally:
        engine.dispose()
    if not created:
        return f"not created yet ({shown}: reachable, no tables; the service creates them on its first start)"
    return f"ok ({shown})"


def _require_creatable(path: Path) -> None:
    """The nearest existing directory above `path` is writable by this user (the service creates the rest)."""
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not os.access(directory, os.W_OK | os.X_OK):
        cause, fix = sqlite_store_diagnosis(path, "SQLITE_CANTOPEN", PermissionError(errno.EACCES, "cannot create", str(directory)))
        raise StateStoreError(f"state store {path}: not created yet, and cannot be: {cause}; {fix}")


def _require_writable(path: Path) -> None:
    # SQLite writes -wal, -shm and the daemon's .lock next to the database: the directory too.
    for target in (path, path.parent):
        if not os.access(target, os.R_OK | os.W_OK | (os.X_OK if target.is_dir() else 0)):
            cause, fix = sqlite_store_diagnosis(path, "SQLITE_READONLY", PermissionError(errno.EACCES, "not writable", str(target)))
            raise StateStoreError(f"state store {path}: {cause}; {fix}")


@dataclass
class Inputs:
    hr: HrSnapshot
    directory: DirectorySnapshot
    mail: MailSnapshot | None = None
    capabilities: frozenset[MailCapability] = frozenset()


def open_mail(settings: Settings) -> Any:
    """The configured mail backend (with its Dovecot companion's abilities), or None."""
    if settings.mail is None:
        return None
    from connectors.mail_modoboa import ModoboaBackend

    return ModoboaBackend(settings.mail)


def open_companion(settings: Settings) -> Any:
    if settings.mail is None or settings.mail.dovecot is None:
        return None
    from connectors.mail_dovecot import DovecotCompanion

    return DovecotCompanion(settings.mail.dovecot)


def mail_domains(settings: Settings) -> list[str]:
    return [c.domain for c in settings.companies]


def read_inputs(
    settings: Settings, directory: LdapDirectory, mail: Any = None, companion: Any = None, state: StoredState | None = None
) -> Inputs:
    """The mailboxes, HR and the directory snapshot (with `state`: the joiners' names read before the snapshot).

    The mailboxes come first: their listing is tens of MB of JSON at 100k people, better parsed
    before HR and the directory are in memory than on top of them.
    """
    mail_snapshot, capabilities = None, frozenset()
    if mail is not None:
        mail_snapshot = mail.read_snapshot(mail_domains(settings))
        heap.trim()  # the listing's parsed JSON is gone: its pages go back before HR and the directory come in
        capabilities = frozenset(mail.capabilities())
        if companion is not None:
            capabilities |= frozenset(companion.CAPABILITIES)
    hr = read_hr_csv(settings.hr, company_aliases(settings))
    age = time.time() - os.stat(settings.hr.path).st_mtime
    if age < settings.guards.min_file_age_seconds:
        hr = replace(hr, settling=True)
    if state is not None:
        read_ahead(likely_joiners(hr, state, settings), settings)  # before the snapshot: see lifecycle.engine.pinyin_ahead
    with gc_paused():  # 100k entries and their strings: nothing for the cyclic collector to find
        snapshot = directory.read_snapshot(mail_snapshot.strings()) if mail_snapshot is not None else directory.read_snapshot()
    log.info("inputs_read", hr_records=len(hr.records), hr_rejected=len(hr.rejected), entries=len(snapshot.entries),
             groups=len(snapshot.groups), mailboxes=len(mail_snapshot.mailboxes) if mail_snapshot else None)
    return Inputs(hr, snapshot, mail_snapshot, capabilities)


def plan_cycle(settings: Settings, now: datetime, directory: LdapDirectory, journal: Journal, mail: Any = None) -> Plan:
    owned = mail is None and settings.mail is not None
    mail = open_mail(settings) if owned else mail
    companion = open_companion(settings)
    try:
        state = journal.load_state()
        return plan_from(read_inputs(settings, directory, mail, companion, state), state, settings, now)
    finally:
        if owned:
            mail.close()


def plan_from(inputs: Inputs, state: StoredState, settings: Settings, now: datetime) -> Plan:
    return compute_plan(
        inputs.hr, inputs.directory, state, settings, now, config_fingerprint=config_fingerprint(settings),
        mail=inputs.mail, capabilities=inputs.capabilities,
    )


def load_saved_plan(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != "lifecycle-plan/1":
        raise StalePlanError(f"{path} is not a plan written by `lifecycle plan --format json --out FILE`")
    return data


def _check_same_configuration(saved: dict[str, Any], fingerprint: str) -> None:
    if saved["config_fingerprint"] != fingerprint:
        raise StalePlanError("the configuration changed since the plan was made; nothing was applied; "
                             "run `lifecycle plan` again")


def check_saved_plan(saved: dict[str, Any], fresh: Plan) -> None:
    """A saved plan is applied only if the same inputs still give exactly the same actions."""
    _check_same_configuration(saved, fresh.config_fingerprint)
    saved_actions = [Action.from_dict(a).to_dict() for a in saved["actions"]]
    fresh_actions = [a.to_dict() for a in fresh.actions]
    if saved_actions != fresh_actions:
        only_saved = [a for a in saved_actions if a not in fresh_actions]
        only_fresh = [a for a in fresh_actions if a not in saved_actions]
        detail = []
        for label, items in (("no longer planned", only_saved), ("newly planned", only_fresh)):
            for item in items[:5]:
                detail.append(f"  {label}: {item['kind']} {item['employee_id']} {item['target']}")
        raise StalePlanError(
            "the directory, HR export or state changed since the plan was made; nothing was applied.\n"
            + "\n".join(detail)
            + "\nrun `lifecycle plan` again and review the new plan"
        )


def _record_guards(journal: Journal, run_id: str, plan: Plan, now: datetime, actor: str) -> None:
    """Say loudly what the guards kept back; each held action is registered once."""
    for company, why in sorted(plan.frozen.items()):
        if company != "*":
            log.warning("feed_frozen", company=company, reason=why)
    new_ids = journal.sync_held(plan.held, plan.actions, now)
    if plan.held:
        held = summarize_held(plan)
        by_company: dict[str, int] = {}
        for item in (*held.for_approval, *held.frozen):  # what `lifecycle held` lists
            by_company[item.action.company] = by_company.get(item.action.company, 0) + 1
        log.warning("actions_held", summary=held.text(), **held.fields(), newly_held=len(new_ids), by_company=by_company)
        journal.record_actions(
            run_id,
            [h.action for h in plan.held],
            ActionStatus.HELD,
            now,
            actor,
            error="",
            dedup=True,
            reasons=[h.reason for h in plan.held],
        )


def apply_cycle(
    settings: Settings,
    now: datetime,
    directory: LdapDirectory,
    journal: Journal,
    *,
    saved_plan: dict[str, Any] | None = None,
    actor: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    mail: Any = None,
) -> tuple[Plan, ApplyResult]:
    actor = actor or current_actor()
    owned = mail is None and settings.mail is not None
    mail = open_mail(settings) if owned else mail
    try:
        if saved_plan is not None:
            now = datetime.fromisoformat(saved_plan["now"])
        return _apply(settings, now, directory, journal, actor, should_stop, mail, open_companion(settings), saved_plan)
    finally:
        if owned:
            mail.close()


@dataclass
class _Checked:
    """What a saved plan was checked against: reused when nothing changed before the actions are applied."""

    state: StoredState
    inputs: Inputs
    plan: Plan


def _matching_saved_plan(
    saved_plan: dict[str, Any], settings: Settings, now: datetime, directory: LdapDirectory, journal: Journal, mail: Any,
    companion: Any,
) -> _Checked:
    """The inputs and the fresh plan, read without writing anything; StalePlanError unless it is the saved plan."""
    _check_same_configuration(saved_plan, config_fingerprint(settings))  # before reading anything
    state = journal.load_state()
    inputs = read_inputs(settings, directory, mail, companion, state)
    plan = plan_from(inputs, state, settings, now)
    check_saved_plan(saved_plan, plan)
    return _Checked(state, inputs, plan)


def _apply(
    settings: Settings,
    now: datetime,
    directory: LdapDirectory,
    journal: Journal,
    actor: str,
    should_stop: Callable[[], bool],
    mail: Any,
    companion: Any,
    saved_plan: dict[str, Any] | None,
) -> tuple[Plan, ApplyResult]:
    # A stale saved plan is refused before anything is written: no OU, no mail domain, no settled
    # action, no run in the journal.
    checked = None
    if saved_plan is not None:
        checked = _matching_saved_plan(saved_plan, settings, now, directory, journal, mail, companion)
    vault = CredentialVault(settings.accounts.initial_password_dir, settings.accounts.password_length)
    executor = Executor(directory, journal, vault, actor, mail=mail, companion=companion)
    run_id = journal.begin_run("apply", now)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    try:
        created = directory.ensure_containers()
        for dn in created:
            log.warning("container_created", dn=dn)
        if mail is not None:
            for domain in mail.ensure_domains(mail_domains(settings)):
                log.warning("mail_domain_created", domain=domain)
        settled = executor.recover()
        # A checked saved plan holds unless settling an interrupted run changed the stored state
        # (the containers existed, or its directory read would have failed; new mail domains are
        # empty, as they were read).
        if checked is not None and not settled:
            state, inputs, plan = checked.state, checked.inputs, checked.plan
        else:
            state = journal.load_state()
            inputs = read_inputs(settings, directory, mail, companion, state)
            plan = plan_from(inputs, state, settings, now)
            if saved_plan is not None:
                check_saved_plan(saved_plan, plan)
        checked = None  # its inputs go with `inputs` below
        journal.record_rejections(run_id, plan.rejected, now, actor)
        journal.record_reviews(run_id, plan.reviews, now, actor)
        _record_guards(journal, run_id, plan, now, actor)
        healthy_feed = feed_baseline(inputs.hr, state.feed, plan.frozen)
        del inputs  # HR and the snapshot are not needed while applying (an initial load peaks here)
        result = executor.apply(plan, run_id, should_stop)
        if result.ok:
            journal.mark_approvals_applied([action_key(a) for a in plan.actions if action_key(a) in state.approved], now)
            journal.save_feed_baseline(healthy_feed, now)
        outcome = "ok" if result.ok else ("stopped" if result.stopped else "failures")
        summary = {
            **result.summary(),
            "actions": len(plan.actions),
            "held": len(plan.held),
            "rejected": len(plan.rejected),
            "reviews": len(plan.reviews),
        }
        journal.finish_run(run_id, outcome, summary)
        log.info("cycle_finished", outcome=outcome, **{k: v for k, v in summary.items() if k != "run_id"})
        return plan, result
    except Exception as exc:
        journal.finish_run(run_id, "error", {"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        structlog.contextvars.unbind_contextvars("run_id")
