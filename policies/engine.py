"""The functional core: (HR, directory, stored state, settings, now) -> Plan.

`compute_plan` is pure: the same inputs give the same plan, byte for byte,
and computing it changes nothing anywhere.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from lifecycle.domain.action_params import (
    AccountParams,
    ActionParams,
    AttributeUpdateParams,
    MemberParams,
    MoveParams,
    NewAccountParams,
    NewEntryAttributes,
    PasswordResetParams,
    StateParams,
    StateValue,
    WarningParams,
)
from lifecycle.domain.mail import MailCapability, MailSnapshot
from lifecycle.domain.models import (
    DESTRUCTIVE_KINDS,
    Action,
    ActionKind,
    DirectorySnapshot,
    HrRecord,
    HrSnapshot,
    PersonOutlook,
    PersonStatus,
    Plan,
    Review,
    ReviewKind,
    StoredState,
)
from lifecycle.domain.resources import NO_RESOURCES, Resources
from lifecycle.domain.settings import Settings
from policies.adoption import held_joiners, possible_account_review, possible_existing_accounts
from policies.attributes import desired_attributes, entry_changes, mail_local_part
from policies.context import PolicyContext
from policies.employment import Standing, employment, status_disagreement
from policies.feed_health import frozen_companies, unusable_companies
from policies.guards import guard_plan
from policies.inactivity import decide_inactivity
from policies.intent import AccountStep, Intent, Step
from policies.interventions import admins_own, intervene
from policies.join import PersonView, join_snapshots
from policies.joiner import decide_employed, reset_still_due
from policies.leaver import clear_absence, decide_absent, decide_departed, departure_from_absence
from policies.lock_state import reconcile_lock
from policies.mailbox import plan_mailbox
from policies.managers import manager_chain_reviews
from policies.memberships import Memberships
from policies.names import NameAllocator, Names
from policies.naming import NamingProblem, lower_name
from policies.notices import notices_of_plan
from policies.outlook import outlooks
from policies.owners import Owners
from policies.placement import dn_key, split_rdn
from policies.resources import plan_resources, reserved_names
from policies.retention import decide_deletion
from policies.timeline import next_due_of
from policies.write_back import plan_write_back

# Apply order: links and moves first so later steps see final DNs; destructive steps last.
PHASES = {
    ActionKind.ADOPT_ACCOUNT: 0,
    # (removals from groups that keep a member: LEAVE_FIRST, see `_phase`)
    ActionKind.MOVE_ACCOUNT: 10,
    ActionKind.RENAME_MAILBOX: 12,
    ActionKind.CREATE_ACCOUNT: 20,
    ActionKind.CREATE_MAILBOX: 22,
    ActionKind.RESTORE_ACCOUNT: 30,
    ActionKind.RESET_PASSWORD: 31,  # a rehire's fresh initial password, once the account is unlocked
    ActionKind.RESTORE_MAILBOX: 32,
    ActionKind.CLEAR_FORWARD: 34,
    ActionKind.UPDATE_ACCOUNT: 40,
    ActionKind.UPDATE_MAILBOX: 42,
    ActionKind.CREATE_GROUP: 50,
    ActionKind.ADD_MEMBER: 60,
    ActionKind.REMOVE_MEMBER: 70,
    ActionKind.DELETE_GROUP: 80,
    ActionKind.WARN_INACTIVE: 90,
    ActionKind.SUSPEND_ACCOUNT: 100,
    ActionKind.SUSPEND_MAILBOX: 102,
    ActionKind.AUTO_REPLY: 103,  # before the forward: a forward in place means the auto-reply is too (policies.mailbox)
    ActionKind.FORWARD_MAIL: 104,
    ActionKind.ARCHIVE_MAILBOX: 110,
    ActionKind.DELETE_MAILBOX: 112,
    ActionKind.DELETE_ACCOUNT: 114,
    ActionKind.DELETE_ALIAS: 115,  # before the alias that re-points the address is made
    ActionKind.CREATE_ALIAS: 116,
    ActionKind.UPDATE_ALIAS: 117,
    ActionKind.RECORD_STATE: 120,
    ActionKind.WRITE_BACK_HR: 125,  # last: HR hears of an account only once everything else is done
}
# Removals flagged `early` (policies.groups) go first: one write per group for all of them, and a mover
# leaves its old groups under its old DN before the move, so slapd's refint, which rewrites references
# after a move in the background, has none of ours to rewrite.
LEAVE_FIRST = 5


def _phase(action: Action) -> int:
    if isinstance(action.params, MemberParams) and action.params.early:
        return LEAVE_FIRST
    return PHASES[action.kind]


def compute_plan(
    hr: HrSnapshot,
    directory: DirectorySnapshot,
    state: StoredState,
    settings: Settings,
    now: datetime,
    *,
    config_fingerprint: str = "",
    mail: MailSnapshot | None = None,
    capabilities: frozenset[MailCapability] = frozenset(),
    outlook: bool = False,
    resources: Resources = NO_RESOURCES,
) -> Plan:
    """The plan at `now`. Without `mail` (no [mail] configured) only the directory is planned.

    With `outlook`, the plan also carries what comes next to each person in motion (policies.outlook).
    `resources`: the functional mailboxes and lists the admins declare ([resources] path).
    """
    ctx = PolicyContext(settings, now, absence_frozen=any(not r.employee_id for r in hr.rejected), holds=state.holds,
                        interventions=state.interventions)
    actions, reviews, due, views, waiting = _actions_and_reviews(hr, directory, state, ctx, mail, capabilities, resources)
    unusable = unusable_companies(hr, settings, state.feed)
    if unusable:  # a feed that is mostly rejected rows says nothing reliable about anyone of its company
        dropped = actions if "*" in unusable else [a for a in actions if a.company in unusable]
        kept = {id(a) for a in admins_own(dropped)}  # an admin's lock does not rest on HR
        actions = [a for a in actions if id(a) in kept or ("*" not in unusable and a.company not in unusable)]
    actions.sort(key=_apply_order)
    frozen = {**frozen_companies(hr, state.feed, settings), **unusable}
    accounts: dict[str, int] = {}
    for entry in directory.entries:
        company = ctx.company_of_dn(entry.dn)
        if company:
            accounts[company] = accounts.get(company, 0) + 1
    leaving = {a.employee_id for a in actions if a.kind in DESTRUCTIVE_KINDS}  # a list drops them: held with them
    addresses = {v.employee_id: v.entry.mail.lower() for v in views if v.employee_id in leaving and v.entry and v.entry.mail}
    baselined = state.feed.rows_per_company if state.feed is not None else {}
    first_loads = frozenset(c.code for c in settings.companies if c.code not in baselined)
    guarded = guard_plan(actions, accounts, settings.guards, approved=state.approved, rejected=state.rejected, frozen=frozen,
                         waiting=waiting, addresses=addresses, first_loads=first_loads)
    found: tuple[PersonOutlook, ...] = ()
    if outlook:
        concerned = frozenset(h.action.employee_id for h in guarded.held) | {r.employee_id for r in reviews}
        found = outlooks(views, concerned, ctx)
    told = notices_of_plan(guarded.allowed, views, directory, ctx, capabilities)  # a held action tells no one yet
    reviews.extend(told.reviews)
    del views
    return Plan(
        now=now,
        actions=guarded.allowed,
        held=guarded.held,
        frozen=frozen,
        unusable=unusable,
        rejected=hr.rejected,
        reviews=tuple(sorted(reviews, key=lambda r: (r.kind.value, r.company, r.employee_id, r.target))),
        hr_fingerprint=hr.fingerprint,
        config_fingerprint=config_fingerprint,
        next_due=due,
        notices=told.notices,
        outlooks=found,
        accounts=accounts,
    )


def _actions_and_reviews(
    hr: HrSnapshot,
    directory: DirectorySnapshot,
    state: StoredState,
    ctx: PolicyContext,
    mail: MailSnapshot | None,
    capabilities: frozenset[MailCapability],
    resources: Resources = NO_RESOURCES,
) -> tuple[list[Action], list[Review], datetime | None, list[PersonView], dict[str, str]]:
    """Everyone's actions (unsorted, unguarded) and the findings for an admin; with no actions, the
    first instant at which time alone could change that (None: never); the people's views; and the
    joiners whose creation waits for an admin (possible existing accounts: employee id -> why)."""
    joined = join_snapshots(hr, directory, state, ctx, mail)
    mail_settings = ctx.settings.mail if mail is not None else None
    hired = _in_hire_order(joined.persons)
    decided = _decide_everyone(hired, hr, directory, state, ctx, mail,
                               reserved=reserved_names(resources, hr.records, ctx.settings))
    possible = possible_existing_accounts(hired, decided.intents, joined, directory, state, ctx)

    # Pass 2: the actions.  (In hire order too: actions and reviews are sorted afterwards, by keys in
    # which everything one person gets carries their employee id, so the pass order cannot show.)
    reviews: list[Review] = list(joined.reviews)
    reviews.extend(hr.reviews)  # what reading HR found (a manager named ambiguously)
    reviews.extend(manager_chain_reviews(hr.records))
    reviews.extend(possible_account_review(view.hr, possible[view.employee_id])
                   for view in hired if view.employee_id in possible and view.hr is not None)
    actions: list[Action] = []
    blocked = joined.blocked
    known = _Known(hr)
    placements, mails = decided.placements, decided.mails
    written = ctx.settings.hr.written_back
    carried = frozenset(hr.columns) & written  # what HR holds of what it is told
    for view, intent in zip(hired, decided.intents):
        if intent.reviews:
            reviews.extend(intent.reviews)
        employee_id = view.employee_id
        address = _desired_mail(view, intent, ctx)
        actions.extend(_render(view, intent, placements, address, blocked, known, ctx, reviews))
        if mail is not None and mail_settings is not None:
            manager = view.hr.manager_id if view.hr else ""
            manager_mail = mails.get(manager, "") if manager and manager != employee_id and manager in placements else ""
            actions.extend(
                plan_mailbox(view, intent, address, manager_mail.lower(), mail, capabilities, mail_settings, ctx, reviews)
            )
        if carried:
            write_back = plan_write_back(view, carried, written)
            if write_back is not None:
                actions.append(write_back)

    actions.extend(decided.memberships.actions(directory, ctx))
    reviews.extend(decided.memberships.spelling_reviews(ctx))
    if resources is not NO_RESOURCES or ctx.settings.lists.department or ctx.settings.lists.all_staff:
        made = plan_resources(resources, hired, decided.intents, lambda view, intent: _desired_mail(view, intent, ctx),
                              directory, mail, capabilities, ctx)
        actions.extend(made.actions)
        reviews.extend(made.reviews)
    # The daemon sleeps through quiet cycles until then; the views are at hand only here.
    due = next_due_of(hired, ctx) if not actions else None
    return actions, reviews, due, hired, held_joiners(possible)


def _in_hire_order(persons: list[PersonView]) -> list[PersonView]:
    """Joiners are named in hire order, so the earlier hire keeps the plain name: people without an
    HR row first, then by hire date, each in employee id order (a stable sort of the id order)."""
    persons.sort(key=_employee_id)  # join lists them by employee id already: this only keeps it so
    hired = [view for view in persons if view.hr is None]
    hired += sorted((view for view in persons if view.hr is not None), key=_hire_date)
    return hired


class _Decided:
    """Pass 1's outcome: everyone's intent (in hire order) and what pass 2 looks up across people."""

    __slots__ = ("intents", "mails", "memberships", "placements")

    def __init__(self) -> None:
        self.intents: list[Intent] = []
        self.placements: dict[str, str] = {}  # manager's employee id -> DN after the plan
        self.mails: dict[str, str] = {}  # manager's employee id -> address after the plan
        self.memberships = Memberships()


def _decide_everyone(
    hired: list[PersonView], hr: HrSnapshot, directory: DirectorySnapshot, state: StoredState, ctx: PolicyContext,
    mail: MailSnapshot | None, *, reserved: frozenset[str] = frozenset(),
) -> _Decided:
    """Pass 1, in hire order: decide everyone; collect the DNs (and addresses) others refer to and
    what the department groups need.  The names are allocated here and nowhere else."""
    names = _LazyNames(directory, state, ctx.settings, reserved, mail)  # built on the first joiner (none in a quiet cycle)
    mailing = mail is not None
    # Only managers' DNs (and, with a mail backend, addresses) are looked up by others.
    managers = {r.manager_id for r in hr.records if r.manager_id}
    decided = _Decided()
    intents, placements, mails, memberships = decided.intents, decided.placements, decided.mails, decided.memberships
    for view in hired:
        intent = _decide(view, ctx, names)
        intents.append(intent)
        employee_id = view.employee_id
        if employee_id in managers and intent.dn and intent.exists_after:
            placements[employee_id] = intent.dn
        if mailing and employee_id in managers:
            mails[employee_id] = _desired_mail(view, intent, ctx)
        memberships.add(view, intent)
    memberships.owners = Owners(hired, intents)
    return decided


def _apply_order(action: Action) -> tuple[int, str, str, str, str]:
    params = action.params
    return _phase(action), action.company, action.employee_id, action.target, params.member_dn if isinstance(params, MemberParams) else ""


_NO_CHANGES: Mapping[str, list[Any]] = MappingProxyType({})


def _employee_id(view: PersonView) -> str:
    return view.employee_id


def _hire_date(view: PersonView) -> date:
    assert view.hr is not None
    return view.hr.hire_date


def _allocator(
    directory: DirectorySnapshot, state: StoredState, settings: Settings, reserved: frozenset[str] = frozenset(),
    mail: MailSnapshot | None = None,
) -> NameAllocator:
    lowered = directory.taken_uids
    if not all(lower_name(uid) == uid for uid in lowered):  # a test double's snapshot, perhaps
        lowered = frozenset(map(lower_name, lowered))
    # Mostly the same names again (uid == mail local part == the state's uid): only the rest is kept.
    taken = {e.uid for e in directory.entries if e.uid and e.uid not in lowered}
    taken |= {local for local in (e.mail.split("@", 1)[0] for e in directory.entries if "@" in e.mail) if local not in lowered}
    owners = {p.uid: p.employee_id for p in state.persons if p.uid}
    taken |= {uid for uid in owners if uid not in lowered}
    taken |= set(settings.naming.overrides.values())
    taken |= {name for name in reserved if name not in lowered}  # functional addresses and lists (policies.resources)
    # Unlinked entries' uids (`lifecycle unlink`): deleted by hand, such an entry can leave a mailbox full of mail
    # behind, which the next joiner of that name must not get.  And every alias of our domains: the mail server
    # makes no mailbox where an alias is.  (A mailbox nobody is linked to is a joiner's to adopt, by its address.)
    taken |= {uid for uids in state.interventions.unlinked.values() for uid in uids}
    if mail is not None:
        taken |= {local for local in _alias_local_parts(mail, settings) if local not in lowered}
    # Overrides are reserved for their employee even before the account exists.
    owners.update({local: employee_id for employee_id, local in settings.naming.overrides.items() if local not in owners})
    return NameAllocator(taken, owners, settings.naming, lowered=lowered)


def _alias_local_parts(mail: MailSnapshot, settings: Settings) -> Iterator[str]:
    """The local parts of the aliases in the companies' domains, in lower case."""
    domains = {company.domain.lower() for company in settings.companies}
    for alias in mail.aliases:
        local, _, domain = alias.address.lower().partition("@")
        if domain in domains:
            yield local


class _LazyNames:
    """`_allocator(...)`, made when the first name is asked for: a cycle without joiners skips it."""

    def __init__(
        self, directory: DirectorySnapshot, state: StoredState, settings: Settings, reserved: frozenset[str] = frozenset(),
        mail: MailSnapshot | None = None,
    ) -> None:
        self._inputs: tuple[DirectorySnapshot, StoredState, Settings, frozenset[str], MailSnapshot | None] | None = (
            directory, state, settings, reserved, mail)
        self._names: NameAllocator | None = None

    def allocate(self, record: HrRecord) -> str | NamingProblem:
        if self._names is None:
            assert self._inputs is not None
            self._names = _allocator(*self._inputs)
            self._inputs = None
        return self._names.allocate(record)


def _decide(view: PersonView, ctx: PolicyContext, names: Names) -> Intent:
    intent = _decide_standing(view, ctx, names)
    intervene(view, intent, ctx)  # an admin's suspension, whatever HR says (policies.interventions)
    reconcile_lock(view, intent)
    disagreement = status_disagreement(view.hr, ctx)
    if disagreement and view.hr is not None:
        intent.review(
            Review(ReviewKind.INCONSISTENT_RECORD, view.employee_id, view.company, f"row {view.hr.row}", disagreement,
                   "make the HR status and the termination date agree")
        )
    return intent


def _decide_standing(view: PersonView, ctx: PolicyContext, names: Names) -> Intent:
    emp = employment(view.hr, ctx)
    if emp.standing == Standing.ABSENT:
        departure = departure_from_absence(view, ctx)
        return decide_departed(view, departure, ctx) if departure else decide_absent(view, ctx)
    if emp.standing == Standing.DEPARTED:
        intent = decide_departed(view, emp, ctx)
    elif emp.standing == Standing.EMPLOYED:
        intent = decide_employed(view, emp, ctx, names)
        _place_mover(view, intent, ctx)
        state, entry = view.state, view.entry
        if entry is not None and intent.account == AccountStep.KEEP and state is not None:
            if state.status == PersonStatus.SUSPENDED and intent.restore is None and not entry.locked:
                # An admin unlocked an inactivity (or a hand-made) suspension: the account is in use again.
                rule = state.suspension_rule.value if state.suspension_rule else "inactivity"
                intent.enabled = True
                intent.record = Step(
                    rule,
                    f"account {entry.uid} was unlocked outside the daemon; the {rule} suspension is lifted",
                    {"status": PersonStatus.ACTIVE.value, "suspended_at": None, "suspension_rule": None,
                     "warned_at": None, "restored_at": ctx.now.isoformat()},
                )
            elif state.status == PersonStatus.SUSPENDED and intent.restore is None:
                intent.delete = decide_deletion(state, ctx)
                if intent.delete is not None:
                    intent.dn = entry.dn  # deleted where it is: no move for an account on its way out
                    intent.sync_attributes = False
            else:
                intent.warn, intent.suspend = decide_inactivity(view.employee_id, entry, state, emp, ctx)
                if intent.suspend is not None:
                    intent.enabled = False
    else:  # not started yet: leave any existing entry exactly as it is
        intent = Intent(view.employee_id, view.company, memberships_frozen=True)
        if view.entry is not None:
            intent.uid, intent.dn, intent.account = view.entry.uid, view.entry.dn, AccountStep.KEEP
        return intent
    if intent.suspend is not None:
        intent.enabled = False
    clear_absence(view, ctx, intent)
    return intent


def _place_mover(view: PersonView, intent: Intent, ctx: PolicyContext) -> None:
    """Final DN of an existing account: its own, or under the new company's subtree."""
    entry = view.entry
    if entry is None or intent.account == AccountStep.CREATE:
        return
    company = ctx.company(view.company)
    if view.entry_company is not None and company is not None and view.entry_company != view.company:
        rdn, _ = split_rdn(entry.dn)
        intent.dn = f"{rdn},{company.people_dn}"
    else:
        intent.dn = entry.dn


def _plain(value: object) -> StateValue:
    """A state value as JSON (datetimes as ISO text, enums as their value)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (str, bool)):
        return value
    raise TypeError(f"not a state value: {value!r}")


def _state(**fields: object) -> dict[str, StateValue]:
    return {k: _plain(v) for k, v in fields.items()}


def _render(
    view: PersonView,
    intent: Intent,
    placements: dict[str, str],
    address: str,
    blocked: frozenset[str],
    known: _Known,
    ctx: PolicyContext,
    reviews: list[Review],
) -> list[Action]:
    record, entry, state = view.hr, view.entry, view.state
    now = ctx.now_iso
    eid, company = view.employee_id, view.company
    actions: list[Action] = []

    def act(kind: ActionKind, target: str, step: Step, changes: dict[str, list[Any]], params: ActionParams) -> None:
        actions.append(Action(kind, eid, company, target, step.rule, step.reason, changes, params=params))

    if intent.adopt is not None and entry is not None:
        created = entry.created.isoformat() if entry.created else now
        act(ActionKind.ADOPT_ACCOUNT, entry.dn, intent.adopt, {"link": [None, entry.uid]}, AccountParams(
            entry.dn, _state(uid=entry.uid, company=view.entry_company or company, status=PersonStatus.ACTIVE,
                             created_at=created, suspended_at=None, suspension_rule=None, deleted_at=None,
                             warned_at=None, match_confirmed=state.match_confirmed if state else False)))
    relocated = entry is not None and intent.dn != entry.dn and dn_key(intent.dn) != dn_key(entry.dn)
    if entry is not None and intent.dn and intent.exists_after and relocated:
        act(ActionKind.MOVE_ACCOUNT, entry.dn,
            Step("mover", f"HR moved the employee from {view.entry_company} to {company}"),
            {"company": [view.entry_company, company], "dn": [entry.dn, intent.dn]},
            MoveParams(entry.dn, split_rdn(intent.dn)[1], intent.dn, _state(company=company)))

    desired: dict[str, str] | None = None
    if record is not None and (intent.create is not None or intent.sync_attributes):
        mail = address
        manager_dn = _manager_dn(view, placements, blocked, entry, reviews, known)
        desired = desired_attributes(record, mail, manager_dn)

    if intent.create is not None and desired is not None:
        # No changes of its own, nor the state it records: Action.all_changes and all_params make them.
        created_account = NewAccountParams(intent.dn, NewEntryAttributes.of(intent.uid, desired), now)
        actions.append(Action(ActionKind.CREATE_ACCOUNT, eid, company, intent.dn, intent.create.rule, intent.create.reason,
                              _NO_CHANGES, params=created_account))
    elif intent.sync_attributes and entry is not None and desired is not None and intent.exists_after:
        changes = entry_changes(entry, desired)
        if changes:
            moved = "; moved with the company change" if relocated else ""
            what = ", ".join(sorted(changes))
            act(ActionKind.UPDATE_ACCOUNT, intent.dn, Step("mover", f"HR record differs from the directory in {what}{moved}"),
                changes, AttributeUpdateParams(intent.dn, {k: v[1] for k, v in changes.items()}))

    reset = reset_still_due(view, intent, ctx)
    if intent.restore is not None:
        # The password the person left with may be known to others by now: a fresh one, changed at the first login.
        # It is due from the restore on, until a reset gives it (a failed one is planned again: reset_still_due).
        # An admin's suspension lifted ("intervention") keeps the person's own password.
        lifted = intent.restore.rule == "intervention"
        act(ActionKind.RESTORE_ACCOUNT, intent.dn, intent.restore, {"locked": [True, False]}, AccountParams(
            intent.dn, _state(status=PersonStatus.ACTIVE, suspended_at=None, suspension_rule=None, warned_at=None,
                              restored_at=now, **({} if lifted else {"reset_due_at": now}))))
        reset = reset if lifted else Step(intent.restore.rule, "a fresh initial password, to be changed at the first "
                                          "login, delivered as [accounts] initial_password_delivery says")
    if reset is not None:
        act(ActionKind.RESET_PASSWORD, intent.dn, reset, {}, PasswordResetParams(
            intent.dn, intent.uid, address, _state(reset_due_at=None)))
    if intent.warn is not None:
        act(ActionKind.WARN_INACTIVE, intent.dn, intent.warn, {"warned_at": [None, now]},
            WarningParams(intent.dn, entry.mail if entry else "", _state(warned_at=now)))
    if intent.suspend is not None:
        if intent.suspend.extra.get("keep_date"):
            suspended = _state(status=PersonStatus.SUSPENDED)
        elif intent.suspend.extra["rule"] == "intervention":  # no date, no deletion clock (policies.interventions)
            suspended = _state(status=PersonStatus.SUSPENDED, suspension_rule="intervention")
        else:
            suspended = _state(status=PersonStatus.SUSPENDED, suspended_at=now, suspension_rule=intent.suspend.extra["rule"])
        act(ActionKind.SUSPEND_ACCOUNT, intent.dn, intent.suspend, {"locked": [False, True]}, AccountParams(intent.dn, suspended))
    if intent.delete is not None:
        act(ActionKind.DELETE_ACCOUNT, intent.dn, intent.delete, {"entry": [intent.dn, None]},
            AccountParams(intent.dn, _state(status=PersonStatus.DELETED, deleted_at=now, reset_due_at=None)))
    if intent.record is not None:
        changes = {k: [_plain(getattr(state, k, None)), v] for k, v in intent.record.extra.items()}
        act(ActionKind.RECORD_STATE, eid, intent.record, changes, StateParams(dict(intent.record.extra)))
    return actions


def _desired_mail(view: PersonView, intent: Intent, ctx: PolicyContext) -> str:
    """The address the account has after the plan ("" when it has none)."""
    entry = view.entry
    if intent.delete is not None or not intent.exists_after:
        return entry.mail if entry is not None else ""
    if entry is not None and not intent.sync_attributes and "@" in entry.mail:
        return entry.mail  # attributes left as they are (a leaver HR moved too): the address, and the mailbox, stay
    company = ctx.company(view.company)
    if company is None:
        return entry.mail if entry is not None else ""
    moving = entry is not None and view.entry_company not in (None, view.company)
    if entry is not None and "@" in entry.mail and not moving:
        domain = entry.mail.split("@", 1)[1]
        if domain.lower() not in ctx.managed_domains:
            return entry.mail  # an adopted address outside the group's domains is kept as it is
        if domain == company.domain:
            return entry.mail  # what the line below makes: the entry's own local part @ the company's domain
    # In one of our domains the address follows the company (also after an interrupted move).
    return f"{mail_local_part(entry, intent.uid)}@{company.domain}"


def _manager_dn(
    view: PersonView,
    placements: dict[str, str],
    blocked: frozenset[str],
    entry: Any,
    reviews: list[Review],
    known: _Known,
) -> str:
    record = view.hr
    assert record is not None
    manager_id = record.manager_id
    if not manager_id or manager_id == record.employee_id:
        return ""
    if manager_id in blocked:
        return entry.manager if entry is not None else ""  # the manager's row is rejected: leave it be
    if manager_id in placements:
        return placements[manager_id]
    if manager_id not in known:
        reviews.append(
            Review(ReviewKind.UNKNOWN_MANAGER, record.employee_id, record.company, f"row {record.row}",
                   f"manager {manager_id} is not in the HR export; the manager attribute is left empty",
                   "correct the manager's employee id in HR")
        )
    return ""


class _Known:
    """The employee ids in the HR export, collected the first time one is looked up (rarely)."""

    __slots__ = ("_hr", "_ids")

    def __init__(self, hr: HrSnapshot) -> None:
        self._hr = hr
        self._ids: frozenset[str] | None = None

    def __contains__(self, employee_id: object) -> bool:
        if self._ids is None:
            self._ids = frozenset(r.employee_id for r in self._hr.records)
        return employee_id in self._ids
