"""Frozen value objects shared by connectors, policies and the engine.

Connectors produce snapshots of these; policies turn them into actions; the
executor and the journal consume actions.  Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from lifecycle.domain.action_params import (
    AccountParams,
    ActionParams,
    AddressParams,
    AliasParams,
    AttributeUpdateParams,
    AutoReplyParams,
    ForwardParams,
    GroupDeletionParams,
    HrWriteBackParams,
    MailboxRenameParams,
    MailboxUpdateParams,
    MemberParams,
    MoveParams,
    NewAccountParams,
    NewGroupParams,
    NewMailboxParams,
    PasswordResetParams,
    StateParams,
    StateValue,
    WarningParams,
)
from lifecycle.domain.interventions import NO_INTERVENTIONS, Interventions
from lifecycle.domain.notices import Notice


class HrStatus(str, enum.Enum):
    ACTIVE = "active"
    LEAVE = "leave"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class HrRecord:
    """One validated row of the HR export."""

    employee_id: str
    name: str
    company: str
    department: str
    status: HrStatus
    hire_date: date
    row: int = 0
    family_name: str = ""
    english_name: str = ""
    title: str = ""
    manager_id: str = ""
    termination_date: date | None = None
    # Optional columns used only to match pre-existing directory entries.
    email: str = ""
    account: str = ""
    # Where an initial password may be sent ([accounts] initial_password_delivery = "personal_email"):
    # an address outside the group's domains, or "" (none, or HR's was not an address).
    personal_email: str = ""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """An HR row that failed validation: never acted on, always reported."""

    row: int
    field: str
    reason: str
    fix: str
    employee_id: str = ""
    company: str = ""  # the code its company cell names, if any: whose admins see it ("" the group's only)
    key: str = ""  # the source's own name for the record where it has no rows (an API's user id)
    test_record: bool = False  # set aside as one of HR's test rows ([hr] test_records): no sign of a broken feed
    # The row's name and work email as far as they can be read: a manager named by them is this row's
    # person (whose manager attribute then stays as it is), never someone else of that name.
    name: str = dataclasses.field(default="", compare=False)  # (`field` is a field's name here)
    email: str = dataclasses.field(default="", compare=False)

    @property
    def where(self) -> str:
        """Where an admin finds it: "row 12" in a file or a query's result, "record <key>" in an API's."""
        return f"record {self.key}" if self.key else f"row {self.row}"

    def to_dict(self) -> dict[str, Any]:
        found = {"row": self.row, "employee_id": self.employee_id, "company": self.company, "field": self.field,
                 "reason": self.reason, "fix": self.fix}
        if self.key:
            found["key"] = self.key
        return found

    def message(self) -> str:
        who = f" (employee {self.employee_id})" if self.employee_id else ""
        return f"{self.where}{who}: {self.field}: {self.reason}; fix: {self.fix}"


@dataclass(frozen=True, slots=True)
class PersonOutlook:
    """One person's standing and coming events, as `lifecycle explain` words them (the console shows it)."""

    employee_id: str
    company: str
    name: str
    standing: str
    events: tuple[tuple[str, str], ...]  # (ISO date or date-time, what happens), in date order


@dataclass(frozen=True, slots=True)
class HrSnapshot:
    records: tuple[HrRecord, ...]
    rejected: tuple[RejectedRow, ...] = ()
    source: str = ""
    fingerprint: str = ""
    # Canonical fields the export carried (a column that vanishes freezes destructive actions).
    columns: tuple[str, ...] = ()
    # The file looks cut off (last row short and no final newline) or is still being written.
    truncated: bool = False
    settling: bool = False
    # Findings about accepted records (a manager named ambiguously): the plan shows them as reviews.
    reviews: tuple[Review, ...] = ()

    def rejected_ids(self) -> frozenset[str]:
        return frozenset(r.employee_id for r in self.rejected if r.employee_id)


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """A person entry as read from the directory (attribute values decoded)."""

    dn: str
    uid: str
    cn: str = ""
    sn: str = ""
    given_name: str = ""
    display_name: str = ""
    mail: str = ""
    employee_number: str = ""
    department: str = ""
    title: str = ""
    manager: str = ""
    locked: bool = False
    last_bind: datetime | None = None
    created: datetime | None = None


@dataclass(frozen=True, slots=True)
class GroupEntry:
    dn: str
    cn: str
    company: str
    department: str
    members: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DirectorySnapshot:
    entries: tuple[DirectoryEntry, ...]
    groups: tuple[GroupEntry, ...] = ()
    # Every uid in the directory, managed subtree or not: one naming namespace.
    taken_uids: frozenset[str] = frozenset()
    # Other entries under the base DN that carry a uid or an employeeNumber, never managed as they are: people
    # (inetOrgPerson) outside the companies' subtrees, and entries of other classes anywhere (an account or
    # posixAccount login).  Looked at for duplicate employee numbers and a joiner's possible existing account.
    outside: tuple[DirectoryEntry, ...] = ()
    other_classes: tuple[DirectoryEntry, ...] = ()


class PersonStatus(str, enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"
    # An admin confirmed a pre-existing entry is this employee; adopted on the next cycle.
    CONFIRMED = "confirmed"


class SuspensionRule(str, enum.Enum):
    LEAVER = "leaver"
    INACTIVITY = "inactivity"
    INTERVENTION = "intervention"  # `lifecycle suspend`: until `lifecycle unsuspend`, whatever HR says
    MANUAL = "manual"  # locked in the directory by hand, found and recorded by the daemon (reported once)


@dataclass(frozen=True, slots=True)
class PersonState:
    """What the daemon remembers about one employee between cycles."""

    employee_id: str
    uid: str
    company: str
    status: PersonStatus = PersonStatus.ACTIVE
    created_at: datetime | None = None
    suspended_at: datetime | None = None
    suspension_rule: SuspensionRule | None = None
    deleted_at: datetime | None = None
    absent_since: datetime | None = None
    warned_at: datetime | None = None
    # Last time the account was given back (rehire): inactivity counts from here at the latest.
    restored_at: datetime | None = None
    # An admin confirmed that the pre-existing entry `uid` is this employee.
    match_confirmed: bool = False
    # Since when a fresh initial password is due (a rehire's restore); cleared by the reset that gives it, so
    # a reset that failed or was interrupted is planned again (policies.joiner.reset_still_due).
    reset_due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FeedBaseline:
    """The last HR snapshot accepted as healthy: rows per company and the columns it had."""

    rows_per_company: dict[str, int] = field(default_factory=dict, hash=False)
    columns: tuple[str, ...] = ()


ActionKey = tuple[str, str, str]  # (kind, employee_id, target): "the same action" across cycles


@dataclass(frozen=True, slots=True)
class StoredState:
    persons: tuple[PersonState, ...] = ()
    # Employees under a legal hold: their account and mail are never deleted.
    holds: frozenset[str] = frozenset()
    approved: frozenset[ActionKey] = frozenset()
    rejected: frozenset[ActionKey] = frozenset()
    feed: FeedBaseline | None = None
    # What admins decided outside HR: forwards, suspensions, new accounts confirmed (lifecycle.domain.interventions).
    interventions: Interventions = NO_INTERVENTIONS

    def by_employee(self) -> dict[str, PersonState]:
        return {p.employee_id: p for p in self.persons}


class ActionKind(str, enum.Enum):
    """The closed set of things a plan can ask for."""

    CREATE_ACCOUNT = "create_account"
    ADOPT_ACCOUNT = "adopt_account"
    UPDATE_ACCOUNT = "update_account"
    MOVE_ACCOUNT = "move_account"
    SUSPEND_ACCOUNT = "suspend_account"
    RESTORE_ACCOUNT = "restore_account"
    DELETE_ACCOUNT = "delete_account"
    WARN_INACTIVE = "warn_inactive"
    CREATE_GROUP = "create_group"
    ADD_MEMBER = "add_member"
    REMOVE_MEMBER = "remove_member"
    DELETE_GROUP = "delete_group"
    RECORD_STATE = "record_state"
    CREATE_MAILBOX = "create_mailbox"
    UPDATE_MAILBOX = "update_mailbox"
    RENAME_MAILBOX = "rename_mailbox"
    SUSPEND_MAILBOX = "suspend_mailbox"
    RESTORE_MAILBOX = "restore_mailbox"
    FORWARD_MAIL = "forward_mail"
    CLEAR_FORWARD = "clear_forward"
    AUTO_REPLY = "auto_reply"
    ARCHIVE_MAILBOX = "archive_mailbox"
    DELETE_MAILBOX = "delete_mailbox"
    CREATE_ALIAS = "create_alias"
    DELETE_ALIAS = "delete_alias"  # only an alias the daemon made, unchanged since (Alias.managed)
    WRITE_BACK_HR = "write_back_hr"  # the account and address, told to an HR source that takes them
    RESET_PASSWORD = "reset_password"  # a new initial password, to be changed at the next login (a rehire)
    UPDATE_ALIAS = "update_alias"  # a list's or a functional address's recipients kept in step (only one the daemon made)


DESTRUCTIVE_KINDS = frozenset({ActionKind.SUSPEND_ACCOUNT, ActionKind.DELETE_ACCOUNT})


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a plan: what, on whom, the change, and why.

    `changes` maps a field to `[before, after]`; `params` carries what the
    executor needs (lifecycle.domain.action_params: the class `PARAMS` names for
    the kind) and is part of plan equality.  A create keeps its changes only as
    its attributes, and the state it records as its attributes and `created_at`:
    `all_changes` and `all_params` make them, so an initial load's plan does not
    hold them twice.
    """

    kind: ActionKind
    employee_id: str
    company: str
    target: str
    rule: str
    reason: str
    changes: Mapping[str, list[Any]] = field(default_factory=dict, hash=False, compare=True)
    params: ActionParams = field(kw_only=True, hash=False, compare=True)

    def all_changes(self) -> dict[str, list[Any]]:
        """`changes` as plain data, a create's made from its attributes (`[None, value]` each, empty ones left out)."""
        if not self.changes and isinstance(self.params, NewAccountParams):
            return _created(self.params)
        return dict(self.changes)

    def all_params(self) -> dict[str, Any]:
        """`params` as plain data; a create's with the `state` it records made from its attributes."""
        params = self.params
        data = params.to_dict()
        if isinstance(params, NewAccountParams) and params.state is None and params.created_at is not None:
            data["state"] = _created_state(self.company, params)
        return data

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "employee_id": self.employee_id,
            "company": self.company,
            "target": self.target,
            "changes": self.all_changes(),
            "rule": self.rule,
            "reason": self.reason,
            "params": self.all_params(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        """The action `to_dict` gave (or a journal row's); ValueError for params its kind does not have."""
        kind = ActionKind(data["kind"])
        changes: Mapping[str, list[Any]] = data.get("changes", {})
        params = params_from_dict(kind, data.get("params", {}))
        if isinstance(params, NewAccountParams):  # as the engine makes it: equal to a fresh plan's action
            if changes == _created(params):
                changes = {}
            if params.created_at is not None and params.state == _created_state(data["company"], params):
                params = replace(params, state=None)
        return cls(
            kind=kind,
            employee_id=data["employee_id"],
            company=data["company"],
            target=data["target"],
            rule=data["rule"],
            reason=data["reason"],
            changes=changes,
            params=params,
        )


PARAMS: Mapping[ActionKind, Callable[[Mapping[str, Any]], ActionParams]] = {
    ActionKind.CREATE_ACCOUNT: NewAccountParams.from_dict,
    ActionKind.ADOPT_ACCOUNT: AccountParams.from_dict,
    ActionKind.UPDATE_ACCOUNT: AttributeUpdateParams.from_dict,
    ActionKind.MOVE_ACCOUNT: MoveParams.from_dict,
    ActionKind.SUSPEND_ACCOUNT: AccountParams.from_dict,
    ActionKind.RESTORE_ACCOUNT: AccountParams.from_dict,
    ActionKind.DELETE_ACCOUNT: AccountParams.from_dict,
    ActionKind.WARN_INACTIVE: WarningParams.from_dict,
    ActionKind.CREATE_GROUP: NewGroupParams.from_dict,
    ActionKind.ADD_MEMBER: MemberParams.from_dict,
    ActionKind.REMOVE_MEMBER: MemberParams.from_dict,
    ActionKind.DELETE_GROUP: GroupDeletionParams.from_dict,
    ActionKind.RECORD_STATE: StateParams.from_dict,
    ActionKind.CREATE_MAILBOX: NewMailboxParams.from_dict,
    ActionKind.UPDATE_MAILBOX: MailboxUpdateParams.from_dict,
    ActionKind.RENAME_MAILBOX: MailboxRenameParams.from_dict,
    ActionKind.SUSPEND_MAILBOX: AddressParams.from_dict,
    ActionKind.RESTORE_MAILBOX: AddressParams.from_dict,
    ActionKind.FORWARD_MAIL: ForwardParams.from_dict,
    ActionKind.CLEAR_FORWARD: AddressParams.from_dict,
    ActionKind.AUTO_REPLY: AutoReplyParams.from_dict,
    ActionKind.ARCHIVE_MAILBOX: AddressParams.from_dict,
    ActionKind.DELETE_MAILBOX: AddressParams.from_dict,
    ActionKind.CREATE_ALIAS: AliasParams.from_dict,
    ActionKind.DELETE_ALIAS: AliasParams.from_dict,
    ActionKind.WRITE_BACK_HR: HrWriteBackParams.from_dict,
    ActionKind.RESET_PASSWORD: PasswordResetParams.from_dict,
    ActionKind.UPDATE_ALIAS: AliasParams.from_dict,
}
"""Each kind's parameters, read from their plain form."""


def params_from_dict(kind: ActionKind, data: Mapping[str, Any]) -> ActionParams:
    """A kind's parameters from their plain form (a saved plan's, a journal row's); ValueError for another shape."""
    return PARAMS[kind](data)


def _created(params: NewAccountParams) -> dict[str, list[Any]]:
    return {k: [None, v] for k, v in params.attributes.to_dict().items() if v}


def _created_state(company: str, params: NewAccountParams) -> dict[str, StateValue]:
    """What a create records about the person (the fields of PersonState it sets, as JSON values)."""
    return {
        "uid": params.attributes.uid, "company": company, "status": PersonStatus.ACTIVE.value,
        "created_at": params.created_at, "suspended_at": None, "suspension_rule": None, "deleted_at": None,
        "warned_at": None, "absent_since": None,
    }


class ReviewKind(str, enum.Enum):
    """Findings an admin must look at; they never change anything by themselves."""

    NAME_NEEDS_ADMIN = "name_needs_admin"
    UNMATCHED_ENTRY = "unmatched_entry"
    CONFIRM_MATCH = "confirm_match"
    ABSENT_FROM_HR = "absent_from_hr"
    DUPLICATE_EMPLOYEE_NUMBER = "duplicate_employee_number"
    INCONSISTENT_RECORD = "inconsistent_record"
    UNKNOWN_MANAGER = "unknown_manager"
    DELETED_FOR_INACTIVITY = "deleted_for_inactivity"
    MAILBOX_KEPT = "mailbox_kept"
    LOCK_DISAGREEMENT = "lock_disagreement"
    MANAGER_LOOP = "manager_loop"
    NO_PERSONAL_EMAIL = "no_personal_email"  # an initial password to send, but no personal address to send it to
    POSSIBLE_EXISTING_ACCOUNT = "possible_existing_account"  # a joiner held: entries that may be the same person
    RESOURCE_OWNER_CHANGED = "resource_owner_changed"  # a functional mailbox's or list's owner left: handed over
    RESOURCE_PROBLEM = "resource_problem"  # resources.toml names something that cannot be made as it says
    FORWARD_PROBLEM = "forward_problem"  # an admin's forward cannot be set up as it says


@dataclass(frozen=True, slots=True)
class Review:
    kind: ReviewKind
    employee_id: str
    company: str
    target: str
    reason: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "employee_id": self.employee_id,
            "company": self.company,
            "target": self.target,
            "reason": self.reason,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class Held:
    """An action a guard kept back, and why."""

    action: Action
    reason: str
    # False when no approval can release it (a frozen feed, a rejection, a dependent action).
    approvable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {**self.action.to_dict(), "held_reason": self.reason, "approvable": self.approvable}


@dataclass(frozen=True, slots=True)
class Plan:
    """A reviewable artifact: what a cycle would do at `now`, and what it refused."""

    now: datetime
    actions: tuple[Action, ...]
    rejected: tuple[RejectedRow, ...] = ()
    reviews: tuple[Review, ...] = ()
    held: tuple[Held, ...] = ()
    frozen: dict[str, str] = field(default_factory=dict, hash=False)  # company -> why its feed is frozen
    # company ("*": all) -> why its HR rows are unusable: nothing is planned for it, and plan/check fail.
    unusable: dict[str, str] = field(default_factory=dict, hash=False)
    hr_fingerprint: str = ""
    config_fingerprint: str = ""
    # An empty plan only: the first instant after `now` at which time alone could change it
    # (None: never, or the plan is not empty).  The daemon's quiet cycles sleep until then.
    next_due: datetime | None = None
    # Who is told what once the actions they follow from are applied (policies.notices); part of a saved plan.
    notices: tuple[Notice, ...] = ()
    # For the console (compute_plan(outlook=True)): the people in motion and what comes next to them;
    # accounts per company.  Not part of a saved plan.
    outlooks: tuple[PersonOutlook, ...] = field(default=(), compare=False)
    accounts: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "lifecycle-plan/1",
            "now": self.now.isoformat(),
            "hr_fingerprint": self.hr_fingerprint,
            "config_fingerprint": self.config_fingerprint,
            "actions": [a.to_dict() for a in self.actions],
            "rejected": [r.to_dict() for r in self.rejected],
            "reviews": [r.to_dict() for r in self.reviews],
            "held": [h.to_dict() for h in self.held],
            "frozen": self.frozen,
            "unusable": self.unusable,
            "notices": [n.to_dict() for n in self.notices],
        }
