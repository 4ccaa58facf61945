"""What each kind of action carries for the executor: one frozen, typed record per shape.

`Action.params` (lifecycle.domain.models, which says which kind carries which) holds
one of these.  Their plain form, `to_dict()`, and `from_dict()` reading it back, is
the JSON of saved plans and of the journal's `params` column: the same keys, in
the same order, with the same values as the plain dicts that came before them.
Lists are kept as tuples; an optional key left out of the plain form is `None`
(or False) here.  `from_dict` raises ValueError for missing or unexpected keys and
TypeError for a value of the wrong type.

Families share a base: `EntryParams` for actions on the directory entry at `dn`,
`AddressParams` for actions on the mailbox or alias at `address`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

StateValue = str | bool | None
"""A PersonState field as a JSON value: times as ISO text, enums as their value."""

StateFields = Mapping[str, StateValue]
"""What an action records about the person: the PersonState fields it sets (the others stay as they are)."""

# The person attributes HR owns: a new entry is made with them and its uid, and the daemon keeps them
# equal to HR; everything else on an entry is left alone.
HR_OWNED = ("cn", "sn", "givenName", "displayName", "mail", "employeeNumber", "departmentNumber", "title", "manager")
_NEW_ENTRY_KEYS = frozenset(("uid", *HR_OWNED))


@dataclass(frozen=True, slots=True)
class NewEntryAttributes:
    """A new person entry's attributes: its uid, then HR_OWNED (`to_dict` gives them by their LDAP names)."""

    uid: str
    cn: str
    sn: str
    given_name: str
    display_name: str
    mail: str
    employee_number: str
    department_number: str
    title: str
    manager: str

    @classmethod
    def of(cls, uid: str, hr_owned: Mapping[str, str]) -> NewEntryAttributes:
        """From the HR-owned attributes by their LDAP names (exactly HR_OWNED, no more, no fewer)."""
        if hr_owned.keys() != set(HR_OWNED):
            raise ValueError(f"expected exactly {HR_OWNED}, got {sorted(hr_owned)}")
        return cls(uid, hr_owned["cn"], hr_owned["sn"], hr_owned["givenName"], hr_owned["displayName"], hr_owned["mail"],
                   hr_owned["employeeNumber"], hr_owned["departmentNumber"], hr_owned["title"], hr_owned["manager"])

    def to_dict(self) -> dict[str, str]:
        return {
            "uid": self.uid, "cn": self.cn, "sn": self.sn, "givenName": self.given_name, "displayName": self.display_name,
            "mail": self.mail, "employeeNumber": self.employee_number, "departmentNumber": self.department_number,
            "title": self.title, "manager": self.manager,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NewEntryAttributes:
        _check_keys(data, _NEW_ENTRY_KEYS, frozenset(), "attributes")
        return cls(_text(data, "uid"), *(_text(data, name) for name in HR_OWNED))


# -- the directory entry at `dn` --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryParams:
    """The base of the parameters of an action on the directory entry at `dn` (never made by itself)."""

    dn: str


@dataclass(frozen=True, slots=True)
class NewAccountParams(EntryParams):
    """create_account: the entry to make.

    The state a create records follows from its attributes and `created_at`, so it is not
    kept (`Action.all_params` makes it); `state` is set only when a saved plan or journal
    row carried another one, and `created_at` is None only for one written without it.
    """

    attributes: NewEntryAttributes
    created_at: str | None
    state: StateFields | None = field(default=None, hash=False)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dn": self.dn, "attributes": self.attributes.to_dict()}
        if self.created_at is not None:
            data["created_at"] = self.created_at
        if self.state is not None:
            data["state"] = dict(self.state)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NewAccountParams:
        _check_keys(data, frozenset({"dn", "attributes"}), frozenset({"created_at", "state"}), "create_account")
        created = data.get("created_at")
        if created is not None and not isinstance(created, str):
            raise TypeError(f"created_at: expected text, got {created!r}")
        state = _state(data, "state") if "state" in data else None
        return cls(_text(data, "dn"), NewEntryAttributes.from_dict(_mapping(data, "attributes")), created, state)


@dataclass(frozen=True, slots=True)
class AccountParams(EntryParams):
    """adopt_account, suspend_account, restore_account, delete_account: the entry and the state recorded once done."""

    state: StateFields = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"dn": self.dn, "state": dict(self.state)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountParams:
        _check_keys(data, frozenset({"dn", "state"}), frozenset(), "account action")
        return cls(_text(data, "dn"), _state(data, "state"))


@dataclass(frozen=True, slots=True)
class WarningParams(EntryParams):
    """warn_inactive: the entry, the address the notice is for ("" without one) and the state recorded."""

    mail: str
    state: StateFields = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"dn": self.dn, "mail": self.mail, "state": dict(self.state)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WarningParams:
        _check_keys(data, frozenset({"dn", "mail", "state"}), frozenset(), "warn_inactive")
        return cls(_text(data, "dn"), _text(data, "mail"), _state(data, "state"))


@dataclass(frozen=True, slots=True)
class MoveParams(EntryParams):
    """move_account: the entry's DN now, its new parent and its DN afterwards, and the state recorded."""

    new_superior: str
    new_dn: str
    state: StateFields = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"dn": self.dn, "new_superior": self.new_superior, "new_dn": self.new_dn, "state": dict(self.state)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MoveParams:
        _check_keys(data, frozenset({"dn", "new_superior", "new_dn", "state"}), frozenset(), "move_account")
        return cls(_text(data, "dn"), _text(data, "new_superior"), _text(data, "new_dn"), _state(data, "state"))


@dataclass(frozen=True, slots=True)
class AttributeUpdateParams(EntryParams):
    """update_account: the entry and the new value of each attribute that changes (None: removed)."""

    attributes: Mapping[str, str | None] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"dn": self.dn, "attributes": dict(self.attributes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttributeUpdateParams:
        _check_keys(data, frozenset({"dn", "attributes"}), frozenset(), "update_account")
        attributes = _mapping(data, "attributes")
        for name, value in attributes.items():
            if value is not None and not isinstance(value, str):
                raise TypeError(f"attributes.{name}: expected text or null, got {value!r}")
        return cls(_text(data, "dn"), dict(attributes))


@dataclass(frozen=True, slots=True)
class NewGroupParams(EntryParams):
    """create_group: the group's DN, what it is named after, and every initial member (`first_member` is
    `members[0]`; `members` is None in the older shape, which named the first member only)."""

    company: str
    department: str
    first_member: str
    members: tuple[str, ...] | None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dn": self.dn, "company": self.company, "department": self.department,
                                "first_member": self.first_member}
        if self.members is not None:
            data["members"] = list(self.members)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NewGroupParams:
        _check_keys(data, frozenset({"dn", "company", "department", "first_member"}), frozenset({"members"}), "create_group")
        members = _texts(data, "members") if "members" in data else None
        return cls(_text(data, "dn"), _text(data, "company"), _text(data, "department"), _text(data, "first_member"), members)


@dataclass(frozen=True, slots=True)
class GroupDeletionParams(EntryParams):
    """delete_group: the group's DN and the employee ids of the members it still had."""

    leaving: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"dn": self.dn, "leaving": list(self.leaving)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupDeletionParams:
        _check_keys(data, frozenset({"dn", "leaving"}), frozenset(), "delete_group")
        return cls(_text(data, "dn"), _texts(data, "leaving"))


@dataclass(frozen=True, slots=True)
class MemberParams:
    """add_member, remove_member: the group and the member; `early`: a removal ordered before moves and additions."""

    group_dn: str
    member_dn: str
    early: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"group_dn": self.group_dn, "member_dn": self.member_dn}
        if self.early:
            data["early"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemberParams:
        _check_keys(data, frozenset({"group_dn", "member_dn"}), frozenset({"early"}), "member action")
        if "early" in data and data["early"] is not True:  # the plain form has the key only when it is true
            raise ValueError(f"early: expected true or no key, got {data['early']!r}")
        return cls(_text(data, "group_dn"), _text(data, "member_dn"), "early" in data)


@dataclass(frozen=True, slots=True)
class StateParams:
    """record_state: the state recorded, nothing else changes."""

    state: StateFields = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"state": dict(self.state)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StateParams:
        _check_keys(data, frozenset({"state"}), frozenset(), "record_state")
        return cls(_state(data, "state"))


# -- the mailbox or alias at `address` ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressParams:
    """The mailbox or alias at `address`; by itself, for suspend_mailbox, restore_mailbox, archive_mailbox,
    delete_mailbox and clear_forward."""

    address: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AddressParams:
        _check_keys(data, frozenset({"address"}), frozenset(), "mailbox action")
        return cls(_text(data, "address"))


@dataclass(frozen=True, slots=True)
class NewMailboxParams(AddressParams):
    """create_mailbox: its display name and quota, and the manager's address told about it ("" for none)."""

    display_name: str
    quota_mb: int
    manager: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "display_name": self.display_name, "quota_mb": self.quota_mb, "manager": self.manager}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NewMailboxParams:
        _check_keys(data, frozenset({"address", "display_name", "quota_mb", "manager"}), frozenset(), "create_mailbox")
        return cls(_text(data, "address"), _text(data, "display_name"), _integer(data, "quota_mb"), _text(data, "manager"))


@dataclass(frozen=True, slots=True)
class MailboxUpdateParams(AddressParams):
    """update_mailbox: the new display name and quota; None for one that stays."""

    display_name: str | None = None
    quota_mb: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"address": self.address}
        if self.display_name is not None:
            data["display_name"] = self.display_name
        if self.quota_mb is not None:
            data["quota_mb"] = self.quota_mb
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MailboxUpdateParams:
        _check_keys(data, frozenset({"address"}), frozenset({"display_name", "quota_mb"}), "update_mailbox")
        name = _text(data, "display_name") if "display_name" in data else None
        quota = _integer(data, "quota_mb") if "quota_mb" in data else None
        return cls(_text(data, "address"), name, quota)


@dataclass(frozen=True, slots=True)
class MailboxRenameParams(AddressParams):
    """rename_mailbox: from `address` to `new_address`."""

    new_address: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "new_address": self.new_address}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MailboxRenameParams:
        _check_keys(data, frozenset({"address", "new_address"}), frozenset(), "rename_mailbox")
        return cls(_text(data, "address"), _text(data, "new_address"))


@dataclass(frozen=True, slots=True)
class ForwardParams(AddressParams):
    """forward_mail: where the mail goes, and whether the mailbox keeps a copy."""

    recipients: tuple[str, ...]
    keep_copy: bool

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "recipients": list(self.recipients), "keep_copy": self.keep_copy}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ForwardParams:
        _check_keys(data, frozenset({"address", "recipients", "keep_copy"}), frozenset(), "forward_mail")
        keep_copy = data["keep_copy"]
        if not isinstance(keep_copy, bool):
            raise TypeError(f"keep_copy: expected true or false, got {keep_copy!r}")
        return cls(_text(data, "address"), _texts(data, "recipients"), keep_copy)


@dataclass(frozen=True, slots=True)
class AutoReplyParams(AddressParams):
    """auto_reply: the reply senders get."""

    subject: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "subject": self.subject, "text": self.text}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AutoReplyParams:
        _check_keys(data, frozenset({"address", "subject", "text"}), frozenset(), "auto_reply")
        return cls(_text(data, "address"), _text(data, "subject"), _text(data, "text"))


@dataclass(frozen=True, slots=True)
class AliasParams(AddressParams):
    """create_alias, delete_alias: the alias's recipients (a deletion: as the plan saw them), when a
    new one expires (ISO time; None: never), and whether it is made as a mail list (Alias.mail_list)."""

    recipients: tuple[str, ...]
    expires: str | None = None
    mail_list: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"address": self.address, "recipients": list(self.recipients)}
        if self.expires is not None:
            data["expires"] = self.expires
        if self.mail_list:
            data["mail_list"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AliasParams:
        _check_keys(data, frozenset({"address", "recipients"}), frozenset({"expires", "mail_list"}), "alias action")
        expires = _text(data, "expires") if "expires" in data else None
        return cls(_text(data, "address"), _texts(data, "recipients"), expires, data.get("mail_list") is True)


# -- HR itself -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HrWriteBackParams:
    """write_back_hr: the account and work address HR is told it assigned to the employee ("" for none)."""

    account: str
    email: str

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "email": self.email}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HrWriteBackParams:
        _check_keys(data, frozenset({"account", "email"}), frozenset(), "write_back_hr")
        return cls(_text(data, "account"), _text(data, "email"))


@dataclass(frozen=True, slots=True)
class PasswordResetParams(EntryParams):
    """reset_password: the entry, its login and address (for the sealed password's recipient), the state recorded."""

    uid: str
    mail: str
    state: StateFields = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"dn": self.dn, "uid": self.uid, "mail": self.mail, "state": dict(self.state)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PasswordResetParams:
        _check_keys(data, frozenset({"dn", "uid", "mail", "state"}), frozenset(), "reset_password")
        return cls(_text(data, "dn"), _text(data, "uid"), _text(data, "mail"), _state(data, "state"))


ActionParams = (
    NewAccountParams | AccountParams | WarningParams | MoveParams | AttributeUpdateParams | NewGroupParams
    | GroupDeletionParams | MemberParams | StateParams | AddressParams | NewMailboxParams | MailboxUpdateParams
    | MailboxRenameParams | ForwardParams | AutoReplyParams | AliasParams | HrWriteBackParams | PasswordResetParams
)
"""The parameters of any action."""


# -- reading the plain form -----------------------------------------------------------------------


def _check_keys(data: Mapping[str, Any], required: frozenset[str], optional: Collection[str], what: str) -> None:
    keys = data.keys()
    missing, unknown = required - keys, keys - required - set(optional)
    problems = [f"{label} {sorted(names)}" for label, names in (("missing", missing), ("unexpected", unknown)) if names]
    if problems:
        raise ValueError(f"{what} parameters: {'; '.join(problems)}")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key}: expected text, got {value!r}")
    return value


def _texts(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"{key}: expected a list of text, got {value!r}")
    return tuple(value)


def _integer(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{key}: expected a whole number, got {value!r}")
    return value


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data[key]
    if not isinstance(value, Mapping):
        raise TypeError(f"{key}: expected an object, got {value!r}")
    return value


def _state(data: Mapping[str, Any], key: str) -> dict[str, StateValue]:
    state = _mapping(data, key)
    for name, value in state.items():
        if value is not None and not isinstance(value, (str, bool)):
            raise TypeError(f"{key}.{name}: expected text, true, false or null, got {value!r}")
    return dict(state)
