"""One cycle, in one function: read -> join -> policies -> guards -> plan -> apply -> journal.

`apply_cycle` is the whole flow; `plan_cycle` is its first half, changing nothing.  This is the
only place that wires the ports (HR, the directory, mail: lifecycle.domain.ports) to the pure
core (policies.engine.compute_plan: join, policies, guards -> the plan), and the only caller of
lifecycle.engine.tuning.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog

from lifecycle.domain.errors import StalePlanError
from lifecycle.domain.mail import MailCapability, MailSnapshot
from lifecycle.domain.models import Action, ActionKey, DirectorySnapshot, FeedBaseline, HrSnapshot, Plan, StoredState
from lifecycle.domain.notices import Notice
from lifecycle.domain.ports import NO_PROGRESS, Directory, HrSource, HrWriteBack, MailBackend, MailCompanion, ProgressSink
from lifecycle.domain.resources import NO_RESOURCES, Resources
from lifecycle.domain.settings import Settings
from lifecycle.engine import tuning
from lifecycle.engine.apply import ApplyResult, Executor
from lifecycle.engine.notifying import Postman, open_postman
from lifecycle.engine.outbox_delivery import message_domain
from lifecycle.engine.render import summarize_held
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.action_log import ActionStatus
from lifecycle.journal.store import Journal
from policies.engine import compute_plan
from policies.feed_health import feed_baseline
from policies.guards import action_key

log = structlog.get_logger(__name__)


def company_aliases(settings: Settings) -> dict[str, str]:
    """HR may name a company by its code, its name or one of its aliases (a legal name)."""
    aliases: dict[str, str] = {}
    for company in settings.companies:
        aliases[company.code] = company.code
        for name in (company.name, *company.aliases):
            if name:
                aliases[name] = company.code
    return aliases


def config_fingerprint(settings: Settings, resources: str | None = None) -> str:
    """The settings' digest, with the resources file's ([resources] path): an edit of that file makes a saved
    plan stale and wakes a quiet daemon.  `resources`: the file's fingerprint as a cycle read it (else read now)."""
    # SecretStr dumps masked, so the fingerprint never carries a secret.
    dumped = settings.model_dump(mode="json", exclude={"directory": {"bind_password_file"}})
    if settings.resources.path is not None:
        from connectors.resources_file import file_fingerprint

        dumped["resources_file"] = resources if resources is not None else file_fingerprint(settings.resources.path)
    return hashlib.sha256(json.dumps(dumped, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def current_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (DynamicUser=): fall back to the uid
        return f"uid:{os.getuid()}"


@dataclass
class Inputs:
    hr: HrSnapshot
    directory: DirectorySnapshot
    mail: MailSnapshot | None = None
    capabilities: frozenset[MailCapability] = frozenset()
    resources: Resources = NO_RESOURCES  # the functional mailboxes and lists the admins declare


# -- the sources ------------------------------------------------------------------------------


def open_hr(settings: Settings) -> HrSource:
    """The configured HR source (`[hr] kind`): a CSV or xlsx export, a database, an HR SaaS's API."""
    aliases = company_aliases(settings)
    if settings.hr.kind == "xlsx":
        from connectors.hr_xlsx import XlsxHrSource

        return XlsxHrSource(settings.hr, aliases)
    if settings.hr.kind == "sql":
        from connectors.hr_sql import SqlHrSource

        return SqlHrSource(settings.hr, aliases)
    if settings.hr.kind == "rest":
        from connectors.hr_rest import open_rest_source

        return open_rest_source(settings.hr, aliases)
    from connectors.hr_csv import CsvHrSource

    return CsvHrSource(settings.hr, aliases)


def open_mail(settings: Settings) -> MailBackend | None:
    """The configured mail backend, or None."""
    if settings.mail is None:
        return None
    from connectors.mail_modoboa import ModoboaBackend

    return ModoboaBackend(settings.mail)


def open_companion(settings: Settings) -> MailCompanion | None:
    """The Dovecot companion (kick, archive, auto-reply) when configured: no port of its own yet."""
    if settings.mail is None or settings.mail.dovecot is None:
        return None
    from connectors.mail_dovecot import DovecotCompanion

    return DovecotCompanion(settings.mail.dovecot)


def open_vault(settings: Settings, journal: Journal) -> CredentialVault:
    """Where the initial passwords are sealed ([accounts] initial_password_delivery), and read back by the outbox."""
    return CredentialVault.for_settings(settings.accounts, journal.engine)


def mail_domains(settings: Settings) -> list[str]:
    return [c.domain for c in settings.companies]


def read_resources(settings: Settings) -> Resources:
    """The admins' functional mailboxes and lists ([resources] path), read every cycle; a file that cannot be
    read comes back `broken` (the plan then changes nothing about them), never as an exception."""
    if settings.resources.path is None:
        return NO_RESOURCES
    from connectors.resources_file import read_resources as read_file

    found = read_file(settings)
    if found.broken:
        log.error("resources_file_unreadable", path=found.source, reason=found.broken,
                  consequence="functional mailboxes and lists are left as they are this cycle")
    elif found.problems:
        log.warning("resources_file_entries_skipped", path=found.source, count=len(found.problems),
                    first=found.problems[0].message())
    return found


# -- read ----------------------------------------------------------------------------------------


def load_state(journal: Journal) -> StoredState:
    with tuning.gc_paused():  # everyone's stored state: big and acyclic
        return journal.load_state()


def read_inputs(
    settings: Settings, directory: Directory, mail: MailBackend | None = None, companion: MailCompanion | None = None,
    state: StoredState | None = None, *, hr: HrSource | None = None, today: date | None = None,
) -> Inputs:
    """The mailboxes, HR and the directory snapshot (with `state`: the joiners' names read before the snapshot).

    The mailboxes come first: their listing is big, better parsed before HR and the directory are
    in memory than on top of them.  `hr` defaults to the configured source (`open_hr`).
    """
    mail_snapshot: MailSnapshot | None = None
    capabilities: frozenset[MailCapability] = frozenset()
    if mail is not None:
        mail_snapshot = mail.read_snapshot(mail_domains(settings))
        tuning.trim_heap()  # the listing's parsed JSON is gone: its pages go back before HR and the directory come in
        capabilities = frozenset(mail.capabilities())
        if companion is not None:
            capabilities |= frozenset(companion.CAPABILITIES)
    hr_snapshot = read_hr(settings, hr if hr is not None else open_hr(settings), today)
    if state is not None:
        tuning.read_names_ahead(tuning.likely_joiners(hr_snapshot, state, settings), settings)  # before the snapshot
    with tuning.gc_paused():
        snapshot = directory.read_snapshot(mail_snapshot.strings()) if mail_snapshot is not None else directory.read_snapshot()
    log.info("inputs_read", hr_records=len(hr_snapshot.records), hr_rejected=len(hr_snapshot.rejected),
             entries=len(snapshot.entries), groups=len(snapshot.groups),
             mailboxes=len(mail_snapshot.mailboxes) if mail_snapshot else None)
    return Inputs(hr_snapshot, snapshot, mail_snapshot, capabilities, read_resources(settings))


def read_hr(settings: Settings, source: HrSource, today: date | None = None) -> HrSnapshot:
    """HR's records as of `today` (default: the clock's; a plan for another date reads them as of that date);
    flagged `settling` when the source changed too recently to be trusted whole."""
    with tuning.gc_paused():
        hr = source.read(today or date.today())
    age = source.age_seconds()
    # An age the source cannot tell (the file went between the read and the look) is not an old age.
    if age is None or age < settings.guards.min_file_age_seconds:
        hr = replace(hr, settling=True)
    return hr


# -- join -> policies -> guards -> plan ----------------------------------------------------------------


def plan_from(inputs: Inputs, state: StoredState, settings: Settings, now: datetime, *, outlook: bool = False) -> Plan:
    """join -> policies -> guards -> the plan (policies.engine: pure); with `outlook`, what the console is shown."""
    with tuning.gc_paused():  # millions of short-lived, acyclic objects
        return compute_plan(
            inputs.hr, inputs.directory, state, settings, now,
            config_fingerprint=config_fingerprint(settings, inputs.resources.fingerprint),
            mail=inputs.mail, capabilities=inputs.capabilities, outlook=outlook, resources=inputs.resources,
        )


@dataclass(frozen=True)
class Decision:
    """A plan and what the journal needs of its inputs once it is applied (the inputs themselves go)."""

    plan: Plan
    approved: frozenset[ActionKey]
    feed: FeedBaseline


@dataclass(frozen=True)
class Sources:
    hr: HrSource
    directory: Directory
    mail: MailBackend | None = None
    companion: MailCompanion | None = None


def decide(settings: Settings, now: datetime, sources: Sources, journal: Journal, *, publishing: bool = False) -> Decision:
    """read -> join -> policies -> guards -> plan, writing nothing; `publishing`: a cycle that will
    publish the plan for the console (record_decision) wants the people's outlook with it."""
    state = load_state(journal)
    inputs = read_inputs(settings, sources.directory, sources.mail, sources.companion, state, hr=sources.hr,
                         today=now.date())
    plan = plan_from(inputs, state, settings, now, outlook=publishing)
    return Decision(plan, state.approved, feed_baseline(inputs.hr, state.feed, plan.frozen))


def plan_cycle(
    settings: Settings, now: datetime, directory: Directory, journal: Journal, mail: MailBackend | None = None,
    *, hr: HrSource | None = None,
) -> Plan:
    """What a cycle would do now; changes nothing.  `mail` and `hr` default to the configured ones."""
    owned = mail is None and settings.mail is not None
    mail = open_mail(settings) if owned else mail
    try:
        sources = Sources(hr or open_hr(settings), directory, mail, open_companion(settings))
        return decide(settings, now, sources, journal).plan
    finally:
        if owned and mail is not None:
            mail.close()


# -- saved plans ------------------------------------------------------------------------------


def load_saved_plan(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != "lifecycle-plan/1":
        raise StalePlanError(f"{path} is not a plan written by `lifecycle plan --format json --out FILE`")
    return data


def _check_same_configuration(saved: dict[str, Any], fingerprint: str) -> None:
    if saved["config_fingerprint"] != fingerprint:
        raise StalePlanError("the configuration changed since the plan was made; nothing was applied; "
                             "run `lifecycle plan` again")


def check_saved_plan(saved: dict[str, Any], fresh: Plan) -> None:
    """A saved plan is applied only if the same inputs still give exactly the same actions."""
    _check_same_configuration(saved, fresh.config_fingerprint)
    try:
        saved_actions = [Action.from_dict(a).to_dict() for a in saved["actions"]]
    except (ValueError, TypeError) as err:  # parameters no plan of this version has: not the plan `fresh` is
        raise StalePlanError(f"the saved plan has an action this version does not plan ({err}); nothing was applied; "
                             "run `lifecycle plan` again") from err
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
    _check_same_notices(saved, fresh)


def _check_same_notices(saved: dict[str, Any], fresh: Plan) -> None:
    """Who is told what is part of the plan reviewed: a plan made before notices existed, or one whose notices
    (recipients, language, facts) no longer follow, is stale too."""
    try:
        saved_notices = [json.loads(json.dumps(Notice.from_dict(n).to_dict())) for n in saved.get("notices", [])]
    except (KeyError, ValueError, TypeError, IndexError) as err:
        raise StalePlanError(f"the saved plan has a notice this version does not plan ({err!r}); nothing was applied; "
                             "run `lifecycle plan` again") from err
    fresh_notices = [json.loads(json.dumps(n.to_dict())) for n in fresh.notices]
    if saved_notices == fresh_notices:
        return
    detail = []
    for label, items, other in (("no longer sent", saved_notices, fresh_notices), ("newly sent", fresh_notices, saved_notices)):
        for item in [n for n in items if n not in other][:5]:
            detail.append(f"  {label}: {item['event']} about {item['employee_id'] or item['company']} to {', '.join(item['to'])}")
    raise StalePlanError(
        "who is told what changed since the plan was made; nothing was applied.\n" + "\n".join(detail)
        + "\nrun `lifecycle plan` again and review the new plan"
    )


def decide_as_saved(
    settings: Settings, now: datetime, sources: Sources, journal: Journal, saved_plan: dict[str, Any], *,
    publishing: bool = False,
) -> Decision:
    """`decide`, refused (StalePlanError) unless it gives exactly the saved plan; writes nothing either way."""
    _check_same_configuration(saved_plan, config_fingerprint(settings))  # before reading anything
    decision = decide(settings, now, sources, journal, publishing=publishing)
    check_saved_plan(saved_plan, decision.plan)
    return decision


# -- the whole cycle ------------------------------------------------------------------------------


def apply_cycle(
    settings: Settings,
    now: datetime,
    directory: Directory,
    journal: Journal,
    *,
    saved_plan: dict[str, Any] | None = None,
    actor: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    mail: MailBackend | None = None,
    hr: HrSource | None = None,
    progress: ProgressSink = NO_PROGRESS,
    postman: Postman | None = None,
) -> tuple[Plan, ApplyResult]:
    """One cycle: read -> join -> policies -> guards -> plan -> apply -> journal, the outbox drained before
    and after the apply (lifecycle.engine.notifying).

    `mail` and `hr` default to the configured ones; `progress` hears how the apply advances; `postman`
    defaults to one of this cycle's own when [notify] is set.
    """
    actor = actor or current_actor()
    owned = mail is None and settings.mail is not None
    mail = open_mail(settings) if owned else mail
    try:
        if saved_plan is not None:
            now = datetime.fromisoformat(saved_plan["now"])
        sources = Sources(hr or open_hr(settings), directory, mail, open_companion(settings))
        return run_cycle(settings, now, sources, journal, actor, should_stop=should_stop, saved_plan=saved_plan,
                         progress=progress, postman=postman)
    finally:
        if owned and mail is not None:
            mail.close()


def run_cycle(
    settings: Settings,
    now: datetime,
    sources: Sources,
    journal: Journal,
    actor: str,
    *,
    should_stop: Callable[[], bool],
    saved_plan: dict[str, Any] | None,
    progress: ProgressSink,
    postman: Postman | None = None,
) -> tuple[Plan, ApplyResult]:
    # A stale saved plan is refused before anything is written: no OU, no mail domain, no settled
    # action, no run in the journal.
    checked = (decide_as_saved(settings, now, sources, journal, saved_plan, publishing=True)
               if saved_plan is not None else None)
    vault = open_vault(settings, journal)
    writer = sources.hr if settings.hr.writes_back and isinstance(sources.hr, HrWriteBack) else None
    executor = Executor(sources.directory, journal, vault, actor, mail=sources.mail, companion=sources.companion, hr=writer,
                        message_domain=message_domain(settings))
    owned = postman is None
    if postman is None:
        postman = open_postman(settings, journal, companion=sources.companion, vault=vault, should_stop=should_stop)
    else:  # the daemon's: it sends with this cycle's companion and vault
        postman.companion = postman.companion or sources.companion
        postman.vault = postman.vault or vault
    run_id = journal.begin_run("apply", now)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    try:
        prepare_targets(settings, sources)
        settled = executor.recover()
        if postman is not None:
            postman.deliver()  # what the outbox still holds, the notices of the actions just settled included
        # A checked saved plan holds unless settling an interrupted run changed the stored state
        # (the containers existed, or its directory read would have failed; new mail domains are
        # empty, as they were read).
        if checked is not None and not settled:
            decision = checked
        elif saved_plan is not None:
            decision = decide_as_saved(settings, now, sources, journal, saved_plan, publishing=True)
        else:
            decision = decide(settings, now, sources, journal, publishing=True)
        checked = None
        record_decision(journal, run_id, decision.plan, now, actor)
        if postman is not None:
            postman.queue_digests(decision.plan)
        result = executor.apply(decision.plan, run_id, should_stop, progress)
        record_outcome(journal, run_id, decision, result, now)
        if postman is not None:
            postman.deliver()  # the notices of the actions just applied
        return decision.plan, result
    except Exception as exc:
        journal.finish_run(run_id, "error", {"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        if owned and postman is not None:
            postman.close()
        structlog.contextvars.unbind_contextvars("run_id")


def prepare_targets(settings: Settings, sources: Sources) -> None:
    """The containers and mail domains the plan writes into (created, never removed)."""
    for dn in sources.directory.ensure_containers():
        log.warning("container_created", dn=dn)
    if sources.mail is not None:
        for domain in sources.mail.ensure_domains(mail_domains(settings)):
            log.warning("mail_domain_created", domain=domain)


# -- journal ----------------------------------------------------------------------------------


def record_decision(journal: Journal, run_id: str, plan: Plan, now: datetime, actor: str) -> None:
    """What the plan found before anything is applied: rejected rows, reviews, and what the guards held;
    published for the console (lifecycle.journal.console)."""
    journal.publish(run_id, plan, now)
    journal.record_rejections(run_id, plan.rejected, now, actor)
    journal.record_reviews(run_id, plan.reviews, now, actor)
    _record_guards(journal, run_id, plan, now, actor)


def _record_guards(journal: Journal, run_id: str, plan: Plan, now: datetime, actor: str) -> None:
    """Say loudly what the guards kept back; each held action is registered once."""
    for company, why in sorted(plan.unusable.items()):
        if company != "*" or len(plan.unusable) == 1:
            log.error("hr_feed_unusable", company=company, reason=why, consequence="nothing is done for it this cycle")
    for company, why in sorted(plan.frozen.items()):
        if company != "*" and company not in plan.unusable:
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


def record_outcome(journal: Journal, run_id: str, decision: Decision, result: ApplyResult, now: datetime) -> None:
    """The run's end: approvals used and the feed's new baseline (only after a clean run), the summary."""
    plan = decision.plan
    if result.ok:
        journal.mark_approvals_applied([action_key(a) for a in plan.actions if action_key(a) in decision.approved], now)
        journal.save_feed_baseline(decision.feed, now)
    outcome = result.outcome
    summary = {
        **result.summary(),
        "actions": len(plan.actions),
        "held": len(plan.held),
        "rejected": len(plan.rejected),
        "reviews": len(plan.reviews),
    }
    journal.finish_run(run_id, outcome, summary)
    log.info("cycle_finished", outcome=outcome, **{k: v for k, v in summary.items() if k != "run_id"})
