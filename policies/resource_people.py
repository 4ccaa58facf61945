"""Who is who for the functional mailboxes and lists: the people employed now, their addresses after the
plan, a department's head, and whom ownership passes to when an owner leaves (pure).

- a *member* is a person employed (HR's dates), whose account is enabled after the plan and has an address;
- an *uncertain* person is one whose standing this plan does not settle (absent from HR but not a leaver yet, a
  hire date ahead with an account already there: `Intent.memberships_frozen`); they keep their presence in every
  list as it is, like the people the plan does not decide for at all (a rejected row, a duplicate
  employeeNumber, an id that changed shape: not among the views; their entries' addresses are `foreign`);
- everyone else who is not a member (departed, suspended, deleted) is *out* of every list;
- a department's *head* is the one employed member of that department (in that company) whose HR manager is
  outside it, or who has none; none or several is a finding for an admin;
- an owner who has *departed* (HR's termination, or an absence that counts as one) hands over to their manager
  (HR's manager_id, else the directory's manager attribute), following the chain past managers who cannot receive
  mail; an absence alone never does.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from lifecycle.domain.dn import dn_key
from lifecycle.domain.models import DirectorySnapshot
from policies.context import PolicyContext
from policies.employment import Standing, employment
from policies.intent import Intent
from policies.join import PersonView

_LOCAL = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_CHAIN = 50  # a manager chain longer than this is a loop HR has not been told about


@dataclass(slots=True)
class Person:
    view: PersonView
    standing: Standing
    address: str  # after the plan ("" without one)
    enabled: bool  # account enabled after the plan
    departed: bool = False  # HR's termination, or an absence that counts as one (Intent.departed), or deleted
    uncertain: bool = False  # this plan does not settle their standing: their presence in a list is kept

    @property
    def member(self) -> bool:
        return self.standing is Standing.EMPLOYED and self.enabled and bool(self.address) and not self.uncertain

    @property
    def receives(self) -> bool:
        """Mail to their address reaches them (an owner's copy, a list's last resort)."""
        return self.enabled and bool(self.address) and not self.departed

    @property
    def department(self) -> str:
        return self.view.hr.department if self.view.hr is not None else ""


@dataclass
class People:
    """Everyone the plan knows, by employee id, with their standing and address after the plan."""

    by_id: dict[str, Person] = field(default_factory=dict)
    by_dn: dict[str, str] = field(default_factory=dict)  # entry DN key -> employee id
    by_address: dict[str, Person] = field(default_factory=dict)  # their address now and after the plan
    foreign: frozenset[str] = frozenset()  # addresses of directory entries of no one the plan decides for
    # The people HR employs, per company and per (company, department), in `by_id`'s order: the lists and heads
    # look a department up here rather than going through everyone once per department.
    staff: dict[str, list[Person]] = field(default_factory=dict)
    department_staff: dict[tuple[str, str], list[Person]] = field(default_factory=dict)

    @classmethod
    def of(cls, views: Sequence[PersonView], intents: Sequence[Intent],
           address_of: Callable[[PersonView, Intent], str], ctx: PolicyContext,
           directory: DirectorySnapshot | None = None) -> People:
        found = cls()
        for view, intent in zip(views, intents):
            standing = employment(view.hr, ctx).standing
            exists = intent.exists_after
            address = address_of(view, intent).lower() if exists else ""
            out = intent.departed or intent.suspend is not None or intent.delete is not None
            person = Person(view, standing, address, intent.enabled and exists,
                            departed=intent.departed or intent.delete is not None,
                            uncertain=intent.memberships_frozen and not out)
            found.by_id[view.employee_id] = person
            if view.entry is not None:
                found.by_dn[dn_key(view.entry.dn)] = view.employee_id
                if view.entry.mail:
                    found.by_address[view.entry.mail.lower()] = person
            if address:
                found.by_address[address] = person
            if standing is Standing.EMPLOYED:
                found.staff.setdefault(view.company, []).append(person)
                found.department_staff.setdefault((view.company, person.department), []).append(person)
        if directory is not None:
            entries = (*directory.entries, *directory.outside, *directory.other_classes)
            found.foreign = frozenset(e.mail.lower() for e in entries
                                      if e.mail and e.mail.lower() not in found.by_address)
        return found

    def keeps(self, address: str) -> bool:
        """Whether a list keeps `address` as it is, whatever its rules say now: the address of someone whose
        standing this plan does not settle (see the module doc)."""
        person = self.by_address.get(address)
        return person.uncertain if person is not None else address in self.foreign

    def members(self, company: str, department: str | None = None) -> list[Person]:
        """Everyone employed in `company` (in `department`, when given) with an enabled account and an address."""
        employed = self.staff.get(company, []) if department is None else self.department_staff.get((company, department), [])
        return [p for p in employed if p.member]

    def departments(self, company: str) -> list[str]:
        return sorted({p.department for p in self.staff.get(company, []) if p.department})

    def manager_of(self, person: Person) -> str:
        """The person's manager's employee id ("" none): HR's word, else the directory's manager attribute."""
        if person.view.hr is not None:
            return person.view.hr.manager_id
        entry = person.view.entry
        return self.by_dn.get(dn_key(entry.manager), "") if entry is not None and entry.manager else ""

    def head_of(self, company: str, department: str) -> tuple[Person | None, str]:
        """The department's head, or why there is not exactly one."""
        staff = self.department_staff.get((company, department), [])
        if not staff:
            return None, f"nobody is employed in {department} at {company}"
        inside = {p.view.employee_id for p in staff}
        heads = [p for p in staff if self.manager_of(p) not in inside]
        if len(heads) != 1:
            names = ", ".join(sorted(p.view.employee_id for p in heads)) or "none"
            return None, f"{department} at {company} has {len(heads)} people whose manager is outside it ({names}), not one"
        return heads[0], ""

    def successor(self, person: Person) -> tuple[Person | None, list[str]]:
        """Whom ownership (or an owner's copy) passes to: the first manager up the chain who receives mail; the
        chain walked (employee ids), for the review's words."""
        chain: list[str] = []
        current = person
        for _ in range(MAX_CHAIN):
            manager_id = self.manager_of(current)
            if not manager_id or manager_id in chain or manager_id == person.view.employee_id:
                return None, chain
            chain.append(manager_id)
            manager = self.by_id.get(manager_id)
            if manager is None:
                return None, chain
            if manager.receives:
                return manager, chain
            current = manager
        return None, chain


def department_local_part(department: str) -> str:
    """The local part of a department's list: the pinyin of its name, syllables joined (研发部 -> yanfabu);
    ASCII letters and digits kept in lower case, anything else dropped ("" when nothing is left)."""
    return _department_local(unicodedata.normalize("NFKC", department).strip())


def _kept(text: str) -> str:
    return text  # what has no pinyin (Latin letters, digits) is kept as written


@lru_cache(maxsize=4096)
def _department_local(name: str) -> str:
    from pypinyin import Style, lazy_pinyin  # large: loaded only when a department list is named

    parts: list[str] = []
    for piece in lazy_pinyin(name, style=Style.NORMAL, errors=_kept):
        parts.append("".join(ch for ch in piece.lower().replace("ü", "v") if ch.isascii() and ch.isalnum()))
    local = "".join(parts)
    return local if _LOCAL.fullmatch(local) else ""
