"""Who is told what, decided with the plan (lifecycle.domain.notices): pure, no I/O, no clock.

A notice follows from one planned action (its `cause`) and is sent only once that action is
applied: a held action tells no one until a later plan applies it.  The events and their
recipients:

- joiner (hired within [notify] joiner_days): the person's new mailbox (or, without mail, the new
  account) -> the manager, the branch contact (`[[companies]] notify_to`) in cc; no manager -> the
  branch contact alone.  A mailbox made in a later plan than its account (it failed first) tells too;
- rehire: the restored account (or the re-made one, like a joiner's) -> the manager;
- inactivity warning -> the person, the manager in cc;
- suspension for inactivity, a leaver's suspension (or a departure that makes an inactivity
  suspension a leaver's: the mail now goes to the manager) -> the manager;
- branch transfer: the renamed mailbox (or, without mail, the move to the new company) -> the
  person at the new address;
- the end of an admin's forward (`lifecycle forward`): the action that undoes it (rule "forward_ended": the forward
  cleared, a leaver's mail back to the manager, a departed address's alias re-pointed) -> the forward's target,
  and the person at their address while their account is active;
- initial password (`[accounts] initial_password_delivery = "personal_email"` only): the new
  account, a rehire's password reset -> HR's `personal_email`, never an address in one of the
  group's own domains (compared without case, trailing dot or IDNA spelling); without one, a review says
  the password was not sent and stays sealed in its company's folder of initial_password_dir.

A manager is HR's `manager_id`: their address after this plan (a joiner manager's new one), none
when their account is locked or being suspended; without one a notice for the manager goes to
the branch contact.  Facts hold JSON values only, dates as ISO text in the company's time zone,
and never a password (the personal notice gets it from the vault when it is sent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time
from typing import Any, NamedTuple

from lifecycle.domain.action_params import (
    AliasParams,
    ForwardParams,
    MailboxRenameParams,
    NewAccountParams,
    NewMailboxParams,
    StateParams,
    WarningParams,
)
from lifecycle.domain.mail import MailCapability
from lifecycle.domain.models import (
    Action,
    ActionKind,
    DirectoryEntry,
    DirectorySnapshot,
    PersonState,
    PersonStatus,
    RejectedRow,
    Review,
    ReviewKind,
    SuspensionRule,
)
from lifecycle.domain.notices import Notice, NoticeEvent
from lifecycle.domain.settings import CompanySettings, Settings
from policies.context import PolicyContext
from policies.forwards import FORWARD_ENDED
from policies.inactivity import inactivity_dates, last_use
from policies.join import PersonView
from policies.retention import deletion_due

DIGEST_ITEMS = 50  # each list of a digest shows this many; its counts say how many there are
LEAVER = SuspensionRule.LEAVER.value
INACTIVITY = SuspensionRule.INACTIVITY.value


class Told(NamedTuple):
    """A plan's notices, and the reviews for what could not be told (an initial password with nowhere to go)."""

    notices: tuple[Notice, ...]
    reviews: tuple[Review, ...]


NOBODY = Told((), ())


def _notifying(action: Action) -> bool:
    kind = action.kind
    if kind is ActionKind.RECORD_STATE:  # only a departure taking over an inactivity suspension tells anyone
        return isinstance(action.params, StateParams) and action.params.state.get("suspension_rule") == LEAVER
    return kind in _CAUSES or _ends_forward(action)


def _ends_forward(action: Action) -> bool:
    """The action that undoes an admin's forward that ended (one per person and plan: its first)."""
    return action.rule == FORWARD_ENDED and action.kind in (ActionKind.CLEAR_FORWARD, ActionKind.FORWARD_MAIL,
                                                            ActionKind.DELETE_ALIAS)


_CAUSES = frozenset({
    ActionKind.CREATE_ACCOUNT, ActionKind.CREATE_MAILBOX, ActionKind.RESTORE_ACCOUNT, ActionKind.RESET_PASSWORD,
    ActionKind.WARN_INACTIVE, ActionKind.SUSPEND_ACCOUNT, ActionKind.RENAME_MAILBOX, ActionKind.MOVE_ACCOUNT,
})


def notices_of_plan(
    actions: Sequence[Action], views: Sequence[PersonView], directory: DirectorySnapshot, ctx: PolicyContext,
    capabilities: frozenset[MailCapability] = frozenset(),
) -> Told:
    """`plan_notices` for a plan's allowed actions and everyone's views (the engine's call).

    Nothing is looked at without [notify]; with it only the people with an action that tells someone,
    and their managers, are picked out of `views`: a quiet cycle costs one pass over its few actions.
    """
    if ctx.settings.notify is None:
        return NOBODY
    concerned = {a.employee_id for a in actions if _notifying(a)}
    if not concerned:
        return NOBODY
    found = {v.employee_id: v for v in views if v.employee_id in concerned}
    managers = {v.hr.manager_id for v in found.values() if v.hr is not None and v.hr.manager_id} - found.keys()
    if managers:
        found.update((v.employee_id, v) for v in views if v.employee_id in managers)
    return plan_notices(actions, found, directory, ctx, capabilities=capabilities)


def plan_notices(
    actions: Sequence[Action],
    views_by_employee: Mapping[str, PersonView],
    directory: DirectorySnapshot,
    ctx: PolicyContext,
    *,
    capabilities: frozenset[MailCapability] = frozenset(),
) -> Told:
    """The notices the (allowed) `actions` send once applied, in a stable order, and the reviews for
    initial passwords that cannot be sent.  `views_by_employee`: the people concerned and their
    managers (others' managers are looked up in `directory`)."""
    if ctx.settings.notify is None:
        return NOBODY
    by_person: dict[str, list[Action]] = defaultdict(list)
    concerned: set[str] = set()
    for action in actions:
        by_person[action.employee_id].append(action)
        if _notifying(action):
            concerned.add(action.employee_id)
    managers = _Managers(views_by_employee, by_person, directory)
    notices: list[Notice] = []
    reviews: list[Review] = []
    for employee_id in sorted(concerned):
        view = views_by_employee.get(employee_id)
        if view is not None and ctx.company(view.company) is not None:
            _Person(view, by_person[employee_id], managers, ctx, capabilities).tell(notices, reviews)
    notices.sort(key=lambda n: (n.company, n.employee_id, n.event.value, n.cause or ()))
    return Told(tuple(notices), tuple(reviews))


class _Managers:
    """A person's manager's address after the plan and name, looked up once per manager."""

    def __init__(self, views: Mapping[str, PersonView], by_person: Mapping[str, list[Action]],
                 directory: DirectorySnapshot) -> None:
        self.views, self.by_person, self.directory = views, by_person, directory
        self.found: dict[str, tuple[str, str]] = {}
        self._numbered: dict[str, list[DirectoryEntry]] | None = None

    def of(self, view: PersonView) -> tuple[str, str]:
        """(address, name) of the person's manager; "" for an address nobody would read."""
        manager_id = view.hr.manager_id if view.hr is not None else ""
        if not manager_id or manager_id == view.employee_id:
            return "", ""
        found = self.found.get(manager_id)
        if found is None:
            found = self.found[manager_id] = self._look_up(manager_id)
        return found

    def _look_up(self, manager_id: str) -> tuple[str, str]:
        acts = self.by_person.get(manager_id, ())
        mview = self.views.get(manager_id)
        entry = mview.entry if mview is not None else self._entry(manager_id)
        name = (mview.hr.name if mview is not None and mview.hr is not None else "") or _entry_name(entry)
        if any(a.kind in (ActionKind.SUSPEND_ACCOUNT, ActionKind.DELETE_ACCOUNT) for a in acts):
            return "", name  # the manager is leaving (or idle): nobody reads their mail
        if entry is not None and entry.locked and not any(a.kind is ActionKind.RESTORE_ACCOUNT for a in acts):
            return "", name
        return address_after(entry, acts), name

    def _entry(self, employee_id: str) -> DirectoryEntry | None:
        """A manager nobody plans for (their HR row rejected, say): their entry, if it is the only one with the id."""
        if self._numbered is None:
            self._numbered = defaultdict(list)
            for entry in self.directory.entries:
                if entry.employee_number:
                    self._numbered[entry.employee_number].append(entry)
        entries = self._numbered.get(employee_id, [])
        return entries[0] if len(entries) == 1 else None


def _entry_name(entry: DirectoryEntry | None) -> str:
    return (entry.display_name or entry.cn) if entry is not None else ""


def address_after(entry: DirectoryEntry | None, acts: Iterable[Action]) -> str:
    """A person's address once `acts` (theirs) are applied: a rename's, an update's, a creation's, else the entry's."""
    found: dict[ActionKind, str] = {}
    for action in acts:
        params = action.params
        if isinstance(params, MailboxRenameParams):
            found[ActionKind.RENAME_MAILBOX] = params.new_address
        elif action.kind is ActionKind.UPDATE_ACCOUNT and "mail" in action.changes:
            found[ActionKind.UPDATE_ACCOUNT] = str(action.changes["mail"][1] or "")
        elif isinstance(params, NewAccountParams):
            found[ActionKind.CREATE_ACCOUNT] = params.attributes.mail
        elif isinstance(params, NewMailboxParams):
            found[ActionKind.CREATE_MAILBOX] = params.address
    for kind in (ActionKind.RENAME_MAILBOX, ActionKind.UPDATE_ACCOUNT, ActionKind.CREATE_ACCOUNT, ActionKind.CREATE_MAILBOX):
        if found.get(kind):
            return found[kind].lower()
    return entry.mail.lower() if entry is not None and "@" in entry.mail else ""


def _addresses(*groups: Iterable[str]) -> list[tuple[str, ...]]:
    """Each group's addresses, lower-case, without an address an earlier group (or the same one) has."""
    seen: set[str] = set()
    result = []
    for group in groups:
        kept = []
        for address in group:
            address = address.strip().lower()
            if address and address not in seen:
                seen.add(address)
                kept.append(address)
        result.append(tuple(kept))
    return result


def language_of(company: CompanySettings, settings: Settings) -> str:
    """A company's notices' language: its own, else [notify] language."""
    if company.language:
        return company.language
    return settings.notify.language if settings.notify is not None else "zh-CN"


def domain_key(domain: str) -> str | None:
    """A mail domain as it is compared: lower-case, without the root's trailing dot, internationalised names in
    their ASCII form (IDNA), so `EXAMPLE.com.` and `例子.com` compare as the names they stand for.  None: not a name."""
    name = domain.strip().rstrip(".。．｡").lower()
    if not name:
        return None
    try:
        return name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def _within(name: str, domain: str) -> bool:
    """`name` (a `domain_key`) is `domain` or one of its subdomains."""
    parent = domain_key(domain) or domain.lower()
    return name == parent or name.endswith("." + parent)


def _local_day(when: datetime, ctx: PolicyContext, company: str) -> str:
    return when.astimezone(ctx.zone(company)).date().isoformat()


class _Person:
    """One person's notices: their actions in the plan, their company and manager."""

    def __init__(self, view: PersonView, acts: list[Action], managers: _Managers, ctx: PolicyContext,
                 capabilities: frozenset[MailCapability]) -> None:
        self.view, self.acts, self.managers, self.ctx, self.capabilities = view, acts, managers, ctx, capabilities
        company = ctx.company(view.company)
        assert company is not None
        self.company = company
        self.first: dict[ActionKind, Action] = {}
        for action in acts:
            self.first.setdefault(action.kind, action)
        create = self.first.get(ActionKind.CREATE_ACCOUNT)
        entry, state = view.entry, view.state
        if create is not None and isinstance(create.params, NewAccountParams):
            self.uid = create.params.attributes.uid
        else:
            self.uid = entry.uid if entry is not None else (state.uid if state is not None else "")
        self.address = address_after(entry, acts)
        self.name = (view.hr.name if view.hr is not None else "") or _entry_name(entry) or view.employee_id
        self._manager: tuple[str, str] | None = None

    @property
    def manager(self) -> tuple[str, str]:
        if self._manager is None:
            self._manager = self.managers.of(self.view)
        return self._manager

    def tell(self, notices: list[Notice], reviews: list[Review]) -> None:
        first = self.first
        create, restore = first.get(ActionKind.CREATE_ACCOUNT), first.get(ActionKind.RESTORE_ACCOUNT)
        mailbox = first.get(ActionKind.CREATE_MAILBOX)
        if create is not None and create.rule in ("joiner", "rehire"):
            cause = mailbox or create  # the address given exists once its mailbox does
            self.joined(notices, cause, NoticeEvent.JOINER if create.rule == "joiner" else NoticeEvent.REHIRE)
        elif mailbox is not None and restore is None and self.account_made_earlier(mailbox):
            # The account came in an earlier plan and its mailbox did not (it failed, or was interrupted, and
            # the notice went with it): the manager is told now that the address exists.
            self.joined(notices, mailbox, NoticeEvent.REHIRE if mailbox.rule == "rehire" else NoticeEvent.JOINER)
        if restore is not None and restore.rule == "rehire":
            self.joined(notices, restore, NoticeEvent.REHIRE)
        if self.ctx.settings.accounts.initial_password_delivery == "personal_email":
            for issued in (create, first.get(ActionKind.RESET_PASSWORD)):
                if issued is not None:
                    self.initial_password(notices, reviews, issued)
        warn = first.get(ActionKind.WARN_INACTIVE)
        if warn is not None:
            self.warned(notices, warn)
        self.suspended(notices)
        self.transferred(notices)
        self.forward_ended(notices)

    def account_made_earlier(self, mailbox: Action) -> bool:
        """A joiner's (or rehire's) account exists and the plan makes only its mailbox; not a rehire whose account
        was given back (the restore told the manager: its stored state says when)."""
        view, state = self.view, self.view.state
        if mailbox.rule not in ("joiner", "rehire") or view.entry is None or state is None or not self.hired_lately():
            return False
        if state.status is not PersonStatus.ACTIVE:
            return False
        return state.restored_at is None or (self.ctx.now - state.restored_at).days > self.joiner_days

    @property
    def joiner_days(self) -> int:
        notify = self.ctx.settings.notify
        return notify.joiner_days if notify is not None else 0

    def hired_lately(self) -> bool:
        """Hired within [notify] joiner_days (an initial load's long-standing staff are not: their managers know them)."""
        record = self.view.hr
        return record is None or (self.ctx.today(self.company.code) - record.hire_date).days <= self.joiner_days

    # -- what every notice says -------------------------------------------------------------

    def facts(self, manager_name: str | None = None) -> dict[str, Any]:
        ctx, company, view = self.ctx, self.company, self.view
        web = ctx.settings.web
        return {
            "name": self.name, "employee_id": view.employee_id, "company": company.code,
            "company_name": company.name or company.code, "account": self.uid, "address": self.address,
            "manager_name": self.manager[1] if manager_name is None else manager_name,
            "contact": ", ".join(company.notify_to), "password_page": f"{web.base_url}/password" if web is not None else "",
        }

    def notice(self, notices: list[Notice], event: NoticeEvent, cause: Action, to: Iterable[str], cc: Iterable[str],
               facts: dict[str, Any]) -> None:
        to_, cc_ = _addresses(to, cc)
        if not to_:
            return  # nobody to tell
        notices.append(Notice(event, self.company.code, self.view.employee_id, to_, cc_,
                              language_of(self.company, self.ctx.settings), facts,
                              (cause.kind.value, cause.employee_id, cause.target)))

    def to_manager(self) -> tuple[str, ...]:
        """The manager, else the branch contact."""
        manager = self.manager[0]
        return (manager,) if manager else self.company.notify_to

    # -- each event ----------------------------------------------------------------------------

    def joined(self, notices: list[Notice], cause: Action, event: NoticeEvent) -> None:
        record = self.view.hr
        facts = self.facts()
        facts["start_date"] = record.hire_date.isoformat() if record is not None else ""
        facts["password_delivery"] = self.ctx.settings.accounts.initial_password_delivery
        if event is NoticeEvent.JOINER:
            if not self.hired_lately():
                return
            facts["department"] = record.department if record is not None else ""
            facts["title"] = record.title if record is not None else ""
            self.notice(notices, event, cause, self.to_manager(), self.company.notify_to, facts)
        else:
            self.notice(notices, event, cause, self.to_manager(), (), facts)

    def initial_password(self, notices: list[Notice], reviews: list[Review], cause: Action) -> None:
        view = self.view
        personal = view.hr.personal_email.strip().lower() if view.hr is not None else ""
        domain = domain_key(personal.rpartition("@")[2]) if personal else None
        corporate = next((d for d in sorted(self.ctx.managed_domains) if domain is not None and _within(domain, d)), "")
        if domain is not None and not corporate:
            facts = self.facts()
            facts.update(login=self.uid, address=self.address)
            self.notice(notices, NoticeEvent.INITIAL_PASSWORD, cause, (personal,), (), facts)
            return
        if not personal:
            why = f"HR has no personal_email for employee {view.employee_id}"
        elif corporate:
            why = (f"HR's personal_email {personal} is in the group's own mail domain {corporate}, and an initial "
                   "password never goes to a company mailbox")
        else:
            why = (f"the domain of HR's personal_email {personal} is not a valid domain name, so it cannot be told apart "
                   "from the group's own mail domains")
        # The policy cannot see the sealed file: nothing sends it later, whatever HR adds (the person's next
        # fresh password, a rehire's, goes to the address HR has then).
        sealed = self.ctx.settings.accounts.initial_password_dir / self.company.code / f"{view.employee_id}.txt"
        reviews.append(Review(
            ReviewKind.NO_PERSONAL_EMAIL, view.employee_id, self.company.code, self.uid,
            f"the initial password of {self.uid} ({self.name}) is not sent: {why}",
            f"the password stays sealed in {sealed} ([accounts] initial_password_dir, the {self.company.code} folder): "
            "the branch's IT hands it over in person; adding an address to HR's personal_email column (个人邮箱) "
            "later does not send this password (only a later fresh one, a rehire's, goes there)",
        ))

    def warned(self, notices: list[Notice], warn: Action) -> None:
        view, ctx, code = self.view, self.ctx, self.company.code
        entry, state = view.entry, view.state
        facts = self.facts()
        facts.update(suspend_on="", last_login="", idle_days=0)
        if entry is not None:
            if entry.last_bind is not None:
                facts["last_login"] = _local_day(entry.last_bind, ctx, code)
            used = last_use(entry, state)
            if used is not None:
                facts["idle_days"] = max(0, (ctx.now - used).days)
            warned = replace(state, warned_at=ctx.now) if state is not None else None
            dates = inactivity_dates(entry, warned, ctx)  # as the plan records the warning: the suspension it allows
            if dates is not None:
                facts["suspend_on"] = _local_day(dates[1], ctx, code)
        own = warn.params.mail if isinstance(warn.params, WarningParams) and warn.params.mail else self.address
        manager = self.manager[0]
        self.notice(notices, NoticeEvent.INACTIVITY_WARNING, warn, (own or manager,), (manager,) if own else (), facts)

    def suspended(self, notices: list[Notice]) -> None:
        for action in self.acts:
            if action.kind is ActionKind.SUSPEND_ACCOUNT:
                state = getattr(action.params, "state", {})
                if "suspended_at" not in state:
                    continue  # locked again, the suspension's date kept: told when it was first suspended
                if state.get("suspension_rule") == INACTIVITY:
                    self.inactivity_suspended(notices, action)
                else:
                    self.leaver_suspended(notices, action)
            elif action.kind is ActionKind.RECORD_STATE and _notifying(action):
                self.leaver_suspended(notices, action)  # the departure takes over an inactivity suspension

    def delete_on(self) -> str:
        """The day the account suspended now is deleted ("" on legal hold)."""
        ctx, view = self.ctx, self.view
        if view.employee_id in ctx.holds:
            return ""
        suspended = PersonState(view.employee_id, self.uid, self.company.code, PersonStatus.SUSPENDED, suspended_at=ctx.now)
        due = deletion_due(suspended, ctx)
        return _local_day(due, ctx, self.company.code) if due is not None else ""

    def inactivity_suspended(self, notices: list[Notice], cause: Action) -> None:
        facts = self.facts()
        facts.update(suspended_on=self.ctx.today(self.company.code).isoformat(), delete_on=self.delete_on())
        self.notice(notices, NoticeEvent.INACTIVITY_SUSPENDED, cause, self.to_manager(), (), facts)

    def leaver_suspended(self, notices: list[Notice], cause: Action) -> None:
        ctx, view = self.ctx, self.view
        facts = self.facts()
        last_day: date | None = view.hr.termination_date if view.hr is not None else None
        if last_day is None and view.state is not None and view.state.absent_since is not None:
            last_day = view.state.absent_since.astimezone(ctx.zone(self.company.code)).date()  # the first absent day
        forward = next((a.params.recipients for a in self.acts if isinstance(a.params, ForwardParams)), ())
        mail = ctx.settings.mail
        if not forward and mail is not None and mail.leaver_mail != "reject" and self.manager[0]:
            forward = (self.manager[0],)  # in place already: a leaver's mail goes to the manager
        delete_on = self.delete_on()
        # After the deletion the address stays a forward to the manager where the backend keeps aliases.
        until = "" if MailCapability.ALIASES in self.capabilities else delete_on
        facts.update(last_day=last_day.isoformat() if last_day else "", forward_to=", ".join(forward),
                     forward_until=until if forward else "", delete_on=delete_on)
        self.notice(notices, NoticeEvent.LEAVER_SUSPENDED, cause, self.to_manager(), (), facts)

    def transferred(self, notices: list[Notice]) -> None:
        first, view, ctx = self.first, self.view, self.ctx
        rename, move = first.get(ActionKind.RENAME_MAILBOX), first.get(ActionKind.MOVE_ACCOUNT)
        if rename is not None and isinstance(rename.params, MailboxRenameParams):
            cause, old, new = rename, rename.params.address, rename.params.new_address
        else:
            moved = move.changes.get("company") if move is not None else None
            if move is None or not moved or moved[0] == moved[1]:
                return
            cause, old, new = move, view.entry.mail if view.entry is not None else "", self.address
        expires = next((a.params.expires for a in self.acts
                        if isinstance(a.params, AliasParams) and a.kind is ActionKind.CREATE_ALIAS
                        and a.params.address == old.lower() and a.params.expires), None)
        facts = self.facts()
        facts.update(old_address=old.lower(), new_address=new.lower(), new_company_name=self.company.name or self.company.code,
                     old_until=_local_day(datetime.fromisoformat(expires), ctx, self.company.code) if expires else "")
        facts["address"] = new.lower()
        self.notice(notices, NoticeEvent.BRANCH_TRANSFER, cause, (new,), (), facts)


    def forward_ended(self, notices: list[Notice]) -> None:
        cause = next((a for a in self.acts if _ends_forward(a)), None)
        if cause is None:
            return
        ctx, view = self.ctx, self.view
        ended = ctx.interventions.forwards.get(view.employee_id)
        before = cause.changes.get("forward_to", cause.changes.get("recipients", [None]))[0]
        target = ended.to if ended is not None else (str(before[0]) if isinstance(before, list) and before else "")
        back = cause.params.recipients if isinstance(cause.params, ForwardParams) else ()
        back = back or next((a.params.recipients for a in self.acts if a.rule == FORWARD_ENDED
                             and a.kind is ActionKind.CREATE_ALIAS and isinstance(a.params, AliasParams)), ())
        entry, state = view.entry, view.state
        # Only an account in use reads its mail: a leaver's or a suspended person's mailbox is nobody's to read.
        active = (entry is not None and not entry.locked and state is not None and state.status is PersonStatus.ACTIVE
                  and not any(a.kind is ActionKind.SUSPEND_ACCOUNT for a in self.acts))
        today = ctx.today(self.company.code)
        ended_on = ended.ends_on if ended is not None and ended.ends_on is not None and ended.ends_on <= today else today
        facts = self.facts()
        facts.update(forward_to=target, ended_on=ended_on.isoformat(), back_to=", ".join(back), active=active)
        to = (self.address, target) if active and self.address else (target,)
        self.notice(notices, NoticeEvent.FORWARD_ENDED, cause, to, (), facts)


# -- the daily digest ---------------------------------------------------------------------------------


def digest_key(code: str, day: date) -> str:
    """The key of `code`'s digest of `day`: its Message-ID comes from it, so it is queued at most once."""
    return f"digest/{code}/{day.isoformat()}"


def digest_notice(
    company: CompanySettings,
    today: date,
    held: Sequence[Mapping[str, Any]],
    rejected: Sequence[RejectedRow],
    reviews: Sequence[Review],
    settings: Settings,
) -> Notice | None:
    """The daily digest for `company`'s branch contact on its local day `today`: the held actions (as
    `Held.to_dict` gives them), rejected HR rows and reviews of that company (items of another company are
    left out).  None without a contact or [notify], or when there is nothing to report."""
    if settings.notify is None or not company.notify_to:
        return None
    code = company.code
    mine_held = [h for h in held if h.get("company", code) == code]
    mine_rejected = [r for r in rejected if r.company == code]
    mine_reviews = [r for r in reviews if r.company == code]
    if not (mine_held or mine_rejected or mine_reviews):
        return None
    facts: dict[str, Any] = {
        "date": today.isoformat(), "company": code, "company_name": company.name or code,
        "contact": ", ".join(company.notify_to),
        "counts": {"held": len(mine_held), "rejected": len(mine_rejected), "reviews": len(mine_reviews)},
        "held": [{"employee_id": str(h.get("employee_id", "")), "kind": str(h.get("kind", "")),
                  "target": str(h.get("target", "")), "reason": str(h.get("held_reason", h.get("reason", "")))}
                 for h in mine_held[:DIGEST_ITEMS]],
        "rejected": [{"row": r.row, "key": r.key, "field": r.field, "reason": r.reason, "fix": r.fix, "employee_id": r.employee_id}
                     for r in mine_rejected[:DIGEST_ITEMS]],
        "reviews": [{"kind": r.kind.value, "employee_id": r.employee_id, "target": r.target, "reason": r.reason,
                     "fix": r.fix} for r in mine_reviews[:DIGEST_ITEMS]],
    }
    (to,) = _addresses(company.notify_to)
    return Notice(NoticeEvent.DIGEST, code, "", to, (), language_of(company, settings), facts,
                  key=digest_key(code, today))


def digest_due(company: CompanySettings, last_digest_date: date | None, now: datetime, settings: Settings) -> date | None:
    """The company-local day whose digest is due at `now`: that day's [notify] digest_at has passed in the
    company's time zone and no digest went out for it yet.  None otherwise (or without [notify] or a contact)."""
    if settings.notify is None or not company.notify_to:
        return None
    local = now.astimezone(settings.company_zone(company.code))
    hours, minutes = (int(part) for part in settings.notify.digest_at.split(":"))
    today = local.date()
    if local.time().replace(tzinfo=None) < time(hours, minutes):
        return None
    if last_digest_date is not None and last_digest_date >= today:
        return None
    return today
