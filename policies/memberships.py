"""Department group memberships, collected person by person in hire order, then planned (policies.groups)."""

from __future__ import annotations

from collections.abc import Mapping

from lifecycle.domain.models import Action, DirectorySnapshot, Review, ReviewKind
from policies.context import PolicyContext
from policies.groups import Departure, Membership, nested_memberships, plan_groups, spelling_variants
from policies.intent import AccountStep, Intent
from policies.join import PersonView
from policies.placement import dn_key, group_dn


class Memberships:
    """What `plan_groups` needs, collected person by person in hire order."""

    __slots__ = ("causes", "dn_after", "owners", "wanted")

    def __init__(self) -> None:
        self.wanted: list[Membership] = []
        self.dn_after: dict[str, str | None] = {}
        self.causes: dict[str, Departure] = {}
        self.owners: Mapping[str, str] = {}

    def add(self, view: PersonView, intent: Intent) -> None:
        if intent.memberships_frozen:
            return
        employee_id = view.employee_id
        dn = intent.dn
        key = dn_key(dn) if dn else ""
        entry = view.entry
        exists = intent.exists_after
        if entry is not None and intent.account != AccountStep.NONE:
            self.dn_after[key if dn and entry.dn == dn else dn_key(entry.dn)] = dn if exists else None
        if exists and intent.enabled and view.hr is not None and view.hr.department:
            self.wanted.append(Membership(employee_id, view.company, view.hr.department, dn, key))
        if intent.suspend is not None and dn:
            self.causes[key] = Departure(employee_id, f"account suspended ({intent.suspend.rule})")

    def actions(self, directory: DirectorySnapshot, ctx: PolicyContext) -> list[Action]:
        # Entries we do not manage (unmatched, rejected rows): their memberships stay as they are.
        dn_after = self.dn_after
        frozen = {key for key in map(dn_key, (e.dn for e in directory.entries)) if key not in dn_after}
        bases = [c.people_dn for c in ctx.settings.companies]
        groups_dn = ctx.settings.directory.groups_dn
        if ctx.settings.hr.department_groups == "nested":
            wanted = self.wanted + nested_memberships(self.wanted, groups_dn)
            nested = frozenset(dn_key(g.dn) for g in directory.groups)
            return plan_groups(wanted, directory.groups, dn_after, self.causes, frozen, self.owners, bases, groups_dn,
                               nested)
        return plan_groups(self.wanted, directory.groups, dn_after, self.causes, frozen, self.owners, bases, groups_dn)

    def spelling_reviews(self, ctx: PolicyContext) -> list[Review]:
        """Departments HR spells in several ways that the directory takes as one name (`Sales`, `sales`)."""
        reviews = []
        for spellings in spelling_variants(self.wanted).values():
            company = spellings[0][0]
            shown = ", ".join(repr(department) for _, department in spellings)
            reviews.append(
                Review(ReviewKind.INCONSISTENT_RECORD, "", company,
                       group_dn(company, spellings[0][1], ctx.settings.directory.groups_dn),
                       f"departments {shown} of {company} differ only in letter case or spacing; the directory takes "
                       "them as one name, so their people share one department group",
                       "spell the department the same way in every HR row")
            )
        return reviews
