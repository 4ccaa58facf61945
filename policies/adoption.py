"""A joiner who may have an account already: entries of the same person, found before one more is made.

A new account is made for a joiner only when no entry nobody owns looks like the same person:

- the same `cn`, anywhere under the base DN (in the company's subtree, another company's, or outside them);
- a uid or mail local part equal to the name the joiner would get (without its counter: `yuejia` for
  the `yuejia2` that `yuejia` being taken would give);
- the joiner's employee id as `employeeNumber`, anywhere under the base DN;

whatever the entry's object class (an `account`/`posixAccount` login counts).  An entry is nobody's when
no employee is linked to it: no stored uid, no employeeNumber of another employee.  Such a joiner is held
("possible existing account", policies.guards) until an admin runs `lifecycle adopt EMPLOYEE UID` or
`lifecycle adopt EMPLOYEE --new` (ctx.interventions.new_accounts).  Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lifecycle.domain.dn import match_key
from lifecycle.domain.models import DirectoryEntry, DirectorySnapshot, HrRecord, Review, ReviewKind, StoredState
from policies.context import PolicyContext
from policies.intent import AccountStep, Intent
from policies.join import Joined, PersonView
from policies.naming import lower_name, normalize_name

JOINER_RULE = "joiner"  # the rule of a create that gives a new name (policies.joiner)
_COUNTER = re.compile(r"(.*[^0-9])(?:[2-9]|[1-9][0-9]+)")  # the counter choose_local_part appends (from 2)
# How a joiner's hold is worded while an admin has not said whether an entry is theirs (lifecycle.engine.render).
POSSIBLE_EXISTING = "possible existing account: "


@dataclass(frozen=True, slots=True)
class PossibleAccount:
    """The joiner's creation waits: these entries may be theirs."""

    employee_id: str
    candidates: tuple[tuple[DirectoryEntry, str], ...]  # (entry, why it may be the person), in DN order
    # An admin asked for a new account (`adopt --new`), but these entries carry the employee's number: a new
    # entry would carry it too, and a number on two entries blocks the employee for good.
    numbered: bool = False

    def described(self) -> str:
        return "; ".join(f"{entry.dn} ({why})" for entry, why in self.candidates)

    def instruction(self) -> str:
        eid = self.employee_id
        if self.numbered:
            dns = ", ".join(entry.dn for entry, _ in self.candidates)
            return (f"remove employeeNumber from {dns} first (a new account would carry the same number), or adopt it: "
                    f"`lifecycle adopt {eid} {self.candidates[0][0].uid or 'UID'}`")
        return f"`lifecycle adopt {eid} UID` links one, `lifecycle adopt {eid} --new` makes a new account"


def possible_existing_accounts(
    hired: Sequence[PersonView],
    intents: Sequence[Intent],
    joined: Joined,
    directory: DirectorySnapshot,
    state: StoredState,
    ctx: PolicyContext,
) -> dict[str, PossibleAccount]:
    """Each new joiner (a create under a new name) with entries nobody owns that may be theirs, by employee id.

    The entries are indexed once per plan, and only when there is such a joiner and such an entry.
    """
    joiners = [(view, intent) for view, intent in zip(hired, intents) if _new_joiner(view, intent)]
    if not joiners:
        return {}
    pool = _unowned(joined.unmatched, directory, state)
    if not pool:
        return {}
    # An entry carrying an employee's number is that employee's, never another joiner's.
    numbers = {match_key(view.employee_id) for view in hired} | {match_key(p.employee_id) for p in state.persons}
    by_number: dict[str, list[DirectoryEntry]] = {}
    by_name: dict[str, list[DirectoryEntry]] = {}
    by_local: dict[str, list[DirectoryEntry]] = {}
    for entry in pool:
        if entry.employee_number:
            by_number.setdefault(match_key(entry.employee_number), []).append(entry)
        if entry.cn:
            by_name.setdefault(_name_key(entry.cn), []).append(entry)
        locals_ = {lower_name(entry.uid)} if entry.uid else set()
        if "@" in entry.mail:
            locals_.add(lower_name(entry.mail.split("@", 1)[0]))
        for local in locals_:
            by_local.setdefault(local, []).append(entry)

    found: dict[str, PossibleAccount] = {}
    for view, intent in joiners:
        record = view.hr
        assert record is not None
        reasons: dict[str, tuple[DirectoryEntry, list[str]]] = {}
        found_by = [(by_number.get(match_key(record.employee_id), []), f"employeeNumber {record.employee_id}")]
        found_by += [(by_local.get(name, []), f"uid or mail {name}") for name in _names_of(intent.uid)]
        for entries, why in found_by:
            for entry in entries:
                reasons.setdefault(entry.dn, (entry, []))[1].append(why)
        # The same cn anywhere: in the company's subtree, outside the subtrees (moved away by hand), or in another
        # company's (a mover whose entry was never linked).
        for entry in by_name.get(_name_key(record.name), []):
            where = ctx.company_of_dn(entry.dn)
            place = (f"in {record.company}" if where == record.company else f"in {where}'s subtree" if where
                     else "outside the companies' subtrees")
            reasons.setdefault(entry.dn, (entry, []))[1].append(f"cn {record.name} {place}")
        own = match_key(record.employee_id)
        candidates = tuple((entry, ", ".join(why)) for _, (entry, why) in sorted(reasons.items())
                           if not entry.employee_number or match_key(entry.employee_number) not in numbers - {own})
        if view.employee_id in ctx.interventions.new_accounts:  # none is the person; but one carrying their number...
            candidates = tuple(c for c in candidates if c[0].employee_number and match_key(c[0].employee_number) == own)
            if candidates:
                found[view.employee_id] = PossibleAccount(view.employee_id, candidates, numbered=True)
        elif candidates:
            found[view.employee_id] = PossibleAccount(view.employee_id, candidates)
    return found


def possible_account_review(record: HrRecord, possible: PossibleAccount) -> Review:
    first = possible.candidates[0][0]
    if possible.numbered:
        return Review(
            ReviewKind.POSSIBLE_EXISTING_ACCOUNT, record.employee_id, record.company,
            ", ".join(entry.dn for entry, _ in possible.candidates),
            f"a new account was asked for {record.name} ({record.employee_id}), but {possible.described()} carries "
            f"employeeNumber {record.employee_id}; no account is made while it does",
            possible.instruction(),
        )
    return Review(
        ReviewKind.POSSIBLE_EXISTING_ACCOUNT, record.employee_id, record.company,
        ", ".join(entry.dn for entry, _ in possible.candidates),
        f"{record.name} may have an account already: {possible.described()}; no account is made for "
        f"{record.employee_id} until an admin says which",
        f"run `lifecycle adopt {record.employee_id} {first.uid or '<uid>'}` if an entry is this person (its uid), "
        f"or `lifecycle adopt {record.employee_id} --new` if none is",
    )


def _new_joiner(view: PersonView, intent: Intent) -> bool:
    return (intent.account == AccountStep.CREATE and intent.create is not None and intent.create.rule == JOINER_RULE
            and view.hr is not None)


def _unowned(unmatched: Iterable[DirectoryEntry], directory: DirectorySnapshot, state: StoredState) -> list[DirectoryEntry]:
    """The entries no employee is linked to: unmatched ones in the subtrees, and the others under the base DN
    whose uid is no employee's stored one."""
    pool = list(unmatched)
    elsewhere = (*directory.outside, *directory.other_classes)
    if not elsewhere:
        return pool
    owned = {lower_name(p.uid) for p in state.persons if p.uid}
    pool.extend(entry for entry in elsewhere if not (entry.uid and lower_name(entry.uid) in owned))
    return pool


def _names_of(uid: str) -> tuple[str, ...]:
    """The name a joiner gets and its base without the counter (`yuejia2` -> `yuejia2`, `yuejia`)."""
    if not uid:
        return ()
    name = lower_name(uid)
    base = _COUNTER.fullmatch(name)
    return (name, base.group(1)) if base else (name,)


def _name_key(name: str) -> str:
    return match_key(normalize_name(name))


def held_joiners(possible: Mapping[str, PossibleAccount]) -> dict[str, str]:
    """employee id -> why their creation waits (policies.guards holds it, and what follows it)."""
    return {employee_id: f"{POSSIBLE_EXISTING}{found.described()}; {found.instruction()}"
            for employee_id, found in possible.items()}
