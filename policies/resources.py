"""Functional mailboxes and lists: declared by the admins (lifecycle.domain.resources), or following HR
membership ([lists] department / all_staff).

- A functional mailbox is made on the mail server (no directory person: nobody logs in to it, nothing makes it
  inactive); its display name follows the file; its mail is also forwarded to its owner, the mailbox keeping a
  copy (`copy_to_owner`, default true), re-pointed when the owner changes (only a forward as the daemon sets
  it: one set by hand is reported and left).  While the owner is suspended the copy goes to their manager.
  One no longer declared is left as it is: the daemon never deletes a mailbox it holds no person for.
- A list is a managed alias (Alias.managed) whose recipients are its members' addresses after the plan:
  declared employees and addresses (an address of one of our people counts as that person), and the people
  employed in its departments; a leaver, a suspended or a deleted person goes out, a joiner comes in
  (UPDATE_ALIAS).  Someone whose standing the plan does not settle (absent from one export, a rejected row, a
  duplicate employeeNumber, a cut-off file) keeps their place as it is (policies.resource_people).  An alias at
  that address the daemon did not make, or changed by hand since, is left alone and reported.  A list with
  nobody in it delivers to its owner.
- Department lists (`[lists] department`): one per department of each company, <pinyin of the department
  name>@<company domain> (`[department_lists]` in the file names one otherwise, or "" for none); the all-staff
  list (`[lists] all_staff`): <all_staff_name>@<company domain>.
- The owner is an employee or a department's head (policies.resource_people).  An owner who left hands over to
  their manager (up the chain) with a RESOURCE_OWNER_CHANGED review asking to update the file.
- Every declared address and list name is reserved in the naming namespace (`reserved_names`).

A file that could not be read (Resources.broken) changes nothing this cycle; a bad entry is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from lifecycle.domain.action_params import AliasParams, ForwardParams, MailboxUpdateParams, NewMailboxParams
from lifecycle.domain.mail import MailCapability, MailSnapshot
from lifecycle.domain.models import Action, ActionKind, DirectorySnapshot, HrRecord, Review, ReviewKind
from lifecycle.domain.resources import NO_RESOURCES, FunctionalMailbox, MailList, Owner, Resources
from lifecycle.domain.settings import Settings
from policies.context import PolicyContext
from policies.intent import Intent
from policies.join import PersonView
from policies.naming import lower_name
from policies.resource_people import People, Person, department_local_part

FILE_FIX = "correct the resources file ([resources] path); `lifecycle check` reads it"


@dataclass
class ResourcePlan:
    actions: list[Action] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)


def reserved_names(resources: Resources, records: Iterable[HrRecord] = (), settings: Settings | None = None) -> frozenset[str]:
    """Local parts no person may be given: the functional addresses and lists (lower-case), those of entries
    skipped for a mistake too (the admins mean them)."""
    names = {address.partition("@")[0] for address in resources.addresses()}
    names |= {p.address.partition("@")[0] for p in resources.problems if "@" in p.address}
    if settings is not None:
        if settings.lists.all_staff:
            names.add(settings.lists.all_staff_name.lower())
        if settings.lists.department:
            overrides = dict(resources.department_names)
            for department in {r.department for r in records if r.department}:
                local = overrides.get(department)
                names.add(local if local is not None else department_local_part(department))
    names.discard("")
    return frozenset(names)


def plan_resources(
    resources: Resources,
    people: Sequence[PersonView],
    intents: Sequence[Intent],
    address_of: Callable[[PersonView, Intent], str],
    directory: DirectorySnapshot,
    mail: MailSnapshot | None,
    capabilities: frozenset[MailCapability],
    ctx: PolicyContext,
) -> ResourcePlan:
    """The actions that make and keep the resources as declared, and the findings for an admin."""
    plan = ResourcePlan()
    if resources.broken:
        plan.reviews.append(Review(ReviewKind.RESOURCE_PROBLEM, "", "", resources.source, resources.broken
                                   + "; nothing about functional mailboxes and lists is changed until it is readable",
                                   FILE_FIX))
        return plan
    for problem in resources.problems:
        plan.reviews.append(Review(ReviewKind.RESOURCE_PROBLEM, "", problem.company, problem.address or problem.where,
                                   f"{problem.where}: {problem.field}: {problem.reason}; the entry is skipped",
                                   problem.fix))
    lists = ctx.settings.lists
    if resources is NO_RESOURCES and not lists.department and not lists.all_staff:
        return plan
    if mail is None:
        if resources.mailboxes or resources.lists or lists.department or lists.all_staff:
            plan.reviews.append(Review(ReviewKind.RESOURCE_PROBLEM, "", "", resources.source or "[lists]",
                                       "functional mailboxes and lists need a mail backend, and none is configured",
                                       "configure [mail], or remove [resources] path and [lists]"))
        return plan
    _Planner(People.of(people, intents, address_of, ctx, directory), directory, mail, capabilities, ctx, plan).run(resources)
    return plan


class _Planner:
    def __init__(self, people: People, directory: DirectorySnapshot, mail: MailSnapshot,
                 capabilities: frozenset[MailCapability], ctx: PolicyContext, plan: ResourcePlan) -> None:
        self.people, self.mail, self.capabilities, self.ctx, self.plan = people, mail, capabilities, ctx, plan
        self.person_addresses = {e.mail.lower(): e.uid for e in directory.entries if e.mail}
        self.declared: set[str] = set()
        self.reserved: set[str] = set()  # declared, or named by an entry that was skipped: no rule takes it over
        self.named: set[str] = set()  # every list address a declaration or a rule produces this cycle

    def run(self, resources: Resources) -> None:
        self.declared = set(resources.addresses())
        self.reserved = self.declared | {p.address for p in resources.problems if p.address}
        for box in resources.mailboxes:
            self.mailbox(box)
        for declared in resources.lists:
            self.declared_list(declared)
        self.hr_lists(resources)
        self.orphans()

    # -- owners ------------------------------------------------------------------------------------

    def owner(self, owner: Owner, company: str, address: str, where: str) -> Person | None:
        """The owner now (after a handover), reviews said; None when there is none (reviewed)."""
        if owner.head_of:
            head, why = self.people.head_of(company, owner.head_of)
            if head is None:
                self.problem(company, address, f"{where}: owner: {why}",
                             f"name the owner by employee id (owner = \"<id>\") or correct HR's managers in {owner.head_of}")
            return head
        person = self.people.by_id.get(owner.employee_id)
        if person is None:
            self.problem(company, address, f"{where}: owner: employee {owner.employee_id} is not known to HR or the "
                         "daemon, or nothing is done for them this cycle (a rejected row, a duplicate employeeNumber, "
                         "an id that changed shape): nothing is re-pointed to another owner",
                         "set owner to the employee id of someone in the HR export, or fix what the plan reports "
                         "about that employee")
            return None
        if not person.departed:  # an absence alone, or a standing this plan does not settle, hands nothing over
            return person
        successor, chain = self.people.successor(person)
        if successor is None:
            walked = f" (managers: {', '.join(chain)})" if chain else ""
            self.problem(company, address, f"{where}: owner: employee {owner.employee_id} has left and no manager "
                         f"up the chain is employed{walked}", "name a new owner in the resources file")
            return None
        self.plan.reviews.append(Review(
            ReviewKind.RESOURCE_OWNER_CHANGED, owner.employee_id, company, address,
            f"{where}: the owner, employee {owner.employee_id}, has left; ownership passed to their manager, "
            f"employee {successor.view.employee_id} ({successor.address})",
            f'update the resources file: owner = "{successor.view.employee_id}" (or another owner)'))
        return successor

    def receiver(self, owner: Person, company: str = "", address: str = "", where: str = "") -> Person | None:
        """Who receives what goes to the owner: the owner, or while they cannot (suspended, no mailbox yet) their
        manager up the chain, said in a review when `where` is given; None when nobody can (left as it is)."""
        if owner.receives or owner.uncertain:
            return owner if owner.address else None
        successor, _ = self.people.successor(owner)
        if successor is not None and where:
            self.plan.reviews.append(Review(
                ReviewKind.RESOURCE_OWNER_CHANGED, owner.view.employee_id, company, address,
                f"{where}: the owner, employee {owner.view.employee_id}, cannot receive mail now (account suspended "
                f"or not made); they stay the owner, and the copy goes to their manager, employee "
                f"{successor.view.employee_id} ({successor.address}), meanwhile",
                "nothing while it lasts; name another owner in the resources file if it does not end"))
        return successor

    # -- functional mailboxes -------------------------------------------------------------------------

    def mailbox(self, box: FunctionalMailbox) -> None:
        address, company = box.address, box.company
        owner = self.owner(box.owner, company, address, box.where)
        if address in self.person_addresses:
            self.problem(company, address, f"{box.where}: {address} is the address of the account "
                         f"{self.person_addresses[address]}: left as it is", "choose another address for the functional mailbox")
            return
        found = self.mail.mailbox(address)
        display = box.display_name
        settings = self.ctx.settings.mail
        quota = box.quota_mb if box.quota_mb is not None else (settings.default_quota_mb if settings else 0)
        if found is None:
            if self.mail.alias(address) is not None:
                self.problem(company, address, f"{box.where}: an alias is at {address}, which the daemon does not "
                             "turn into a mailbox", "delete the alias in the mail server, or choose another address")
                return
            self.act(ActionKind.CREATE_MAILBOX, company, address, "resource",
                     f"functional mailbox declared in the resources file ({box.where})",
                     {"display_name": [None, display]}, NewMailboxParams(address, display, quota, ""))
            forward_to: tuple[str, ...] = ()
            keeps_copy = False
        else:
            changes: dict[str, list[object]] = {}
            if MailCapability.DISPLAY_NAME in self.capabilities and found.display_name != display:
                changes["display_name"] = [found.display_name, display]
            if box.quota_mb is not None and MailCapability.QUOTA in self.capabilities and found.quota_mb != box.quota_mb:
                changes["quota_mb"] = [found.quota_mb, box.quota_mb]
            if changes:
                self.act(ActionKind.UPDATE_MAILBOX, company, address, "resource",
                         f"the functional mailbox follows the resources file ({box.where})", changes,
                         MailboxUpdateParams(address, display if "display_name" in changes else None,
                                             box.quota_mb if "quota_mb" in changes else None))
            forward_to, keeps_copy = found.forward_to, found.forward_keeps_copy
        if not box.copy_to_owner or owner is None:
            return  # a forward set by hand, or the last owner's, is left as it is
        if MailCapability.FORWARD_KEEPS_COPY not in self.capabilities:
            self.problem(company, address, f"{box.where}: the mail server cannot forward while keeping a copy",
                         "set copy_to_owner = false for this mailbox")
            return
        receiver = self.receiver(owner, company, address, box.where)
        if receiver is None:
            return
        wanted = (receiver.address,)
        if forward_to == wanted and keeps_copy:
            return
        if forward_to and not self.daemons_forward(forward_to, keeps_copy):
            self.problem(company, address, f"{box.where}: {address} forwards to {', '.join(forward_to)}"
                         f"{'' if keeps_copy else ' without keeping a copy'}, which the daemon did not set: left as it is",
                         f"clear the forward in the mail server so the owner ({receiver.address}) gets the copy, or set "
                         "copy_to_owner = false for this mailbox")
            return
        self.act(ActionKind.FORWARD_MAIL, company, address, "resource",
                 f"a copy of the functional mailbox's mail goes to {receiver.address}, employee {receiver.view.employee_id}",
                 {"forward_to": [list(forward_to), list(wanted)]}, ForwardParams(address, wanted, True))

    def daemons_forward(self, forward_to: tuple[str, ...], keeps_copy: bool) -> bool:
        """A forward as the daemon sets it: one of our people's address, the mailbox keeping a copy."""
        return keeps_copy and len(forward_to) == 1 and forward_to[0] in self.people.by_address

    # -- lists ----------------------------------------------------------------------------------------------

    def declared_list(self, declared: MailList) -> None:
        company, address, where = declared.company, declared.address, declared.where
        owner = self.owner(declared.owner, company, address, where)
        recipients: set[str] = set()
        for member in declared.members:
            if "@" in member:
                person = self.people.by_address.get(member)
                if person is not None:  # one of our people's address: as that person
                    if person.member:
                        recipients.add(person.address)
                elif self.usable_address(member):
                    recipients.add(member)
                else:
                    self.problem(company, address, f"{where}: member {member} is neither a mailbox nor an alias of "
                                 "the mail server: left out", f"correct the address, or remove it from members of {address}")
                continue
            person = self.people.by_id.get(member)
            if person is None:
                self.problem(company, address, f"{where}: member {member} is not an employee known to HR or the daemon, "
                             "or nothing is done for them this cycle: their presence in the list is left as it is",
                             f"correct the employee id, or remove it from members of {address}")
            elif person.member:
                recipients.add(person.address)
        for department in declared.departments:
            recipients.update(p.address for p in self.people.members(company, department))
        self.keep_list(company, address, recipients, owner, where, "list")

    def hr_lists(self, resources: Resources) -> None:
        lists = self.ctx.settings.lists
        overrides = dict(resources.department_names)
        for company in self.ctx.settings.companies:
            code, domain = company.code, company.domain
            if lists.all_staff:
                address = f"{lists.all_staff_name.lower()}@{domain}"
                if address not in self.reserved:
                    members = {p.address for p in self.people.members(code)}
                    self.keep_list(code, address, members, None, "[lists] all_staff", "all_staff_list")
            if not lists.department:
                continue
            by_address: dict[str, list[str]] = {}
            for department in self.people.departments(code):
                local = overrides.get(department)
                if local is None:
                    local = department_local_part(department)
                    if not local:
                        self.problem(code, department, f"[lists] department: no list name can be made of {department!r}",
                                     f'add "{department}" = "<name>" under [department_lists] in the resources file')
                        continue
                if local:
                    by_address.setdefault(f"{local}@{domain}", []).append(department)
            all_staff = f"{lists.all_staff_name.lower()}@{domain}" if lists.all_staff else ""
            for address, departments in sorted(by_address.items()):
                where = f"[lists] department {departments[0]!r}"
                if len(departments) > 1 or address in self.reserved or address == all_staff:
                    others = " and ".join(repr(d) for d in departments)
                    why = (f"{others} of {code} would share the list {address}" if len(departments) > 1 else
                           f"{address} is the all-staff list ([lists] all_staff_name)" if address == all_staff else
                           f"{address} is named in the resources file already")
                    self.problem(code, address, f"{where}: {why}: no department list made",
                                 "name the lists apart under [department_lists] in the resources file")
                    continue
                head, _ = self.people.head_of(code, departments[0])
                members = {p.address for p in self.people.members(code, departments[0])}
                self.keep_list(code, address, members, head, where, "department_list")

    def keep_list(self, company: str, address: str, recipients: set[str], owner: Person | None, where: str,
                  rule: str) -> None:
        self.named.add(address)
        if MailCapability.ALIASES not in self.capabilities:
            self.problem(company, address, f"{where}: the mail server cannot make aliases, which lists are",
                         "use a mail backend with aliases, or remove the list")
            return
        if address in self.person_addresses or self.mail.mailbox(address) is not None:
            self.problem(company, address, f"{where}: {address} is a mailbox's address: no list made there",
                         "choose another address for the list (or rename the department's list under [department_lists])")
            return
        found = self.mail.alias(address)
        if found is not None and found.managed:
            # Whoever this plan does not settle (absent from one export, a rejected row...) stays as they are.
            recipients |= {r for r in found.recipients if r not in recipients and self.people.keeps(r)}
        recipients.discard(address)
        receiver = self.receiver(owner) if owner is not None else None
        if not recipients and receiver is not None:
            recipients = {receiver.address}  # nobody in it: its mail is not lost, the owner receives it
        wanted = tuple(sorted(recipients))
        if not wanted:
            if found is None:
                self.problem(company, address, f"{where}: the list {address} has nobody in it and no owner: not made yet",
                             "add members or an owner in the resources file")
            return
        if found is None:
            self.act(ActionKind.CREATE_ALIAS, company, address, rule, f"mail list ({where}): {len(wanted)} recipients",
                     {"recipients": [None, list(wanted)]}, AliasParams(address, wanted, mail_list=True))
        elif not found.managed:
            if found.recipients == wanted:  # an equal alias: the daemon's from now on
                self.act(ActionKind.CREATE_ALIAS, company, address, rule, f"mail list ({where}): the alias already "
                         "there has its members", {"recipients": [list(found.recipients), list(wanted)]},
                         AliasParams(address, wanted, mail_list=True))
                return
            self.problem(company, address, f"{where}: the alias {address} was not made by the daemon, or was changed "
                         f"by hand since (recipients {', '.join(found.recipients) or 'none'}): left as it is",
                         f"delete it in the mail server so the daemon makes the list, or remove {address} from the "
                         "resources file")
        elif found.recipients != wanted:
            added = sorted(set(wanted) - set(found.recipients))
            removed = sorted(set(found.recipients) - set(wanted))
            words = "; ".join(part for part in (f"in: {', '.join(added)}" if added else "",
                                                 f"out: {', '.join(removed)}" if removed else "") if part)
            self.act(ActionKind.UPDATE_ALIAS, company, address, rule, f"mail list ({where}) kept in step: {words}",
                     {"recipients": [list(found.recipients), list(wanted)]}, AliasParams(address, wanted, mail_list=True))

    def orphans(self) -> None:
        """Lists the daemon made that nothing produces any more (a department renamed or dissolved, a list taken out
        of the file): reported; never deleted, and their leavers still go out."""
        companies = {c.domain: c.code for c in self.ctx.settings.companies}
        for alias in self.mail.aliases:
            address = alias.address
            if not alias.mail_list or address in self.named or address in self.reserved:
                continue
            company = companies.get(address.partition("@")[2], "")
            self.problem(company, address, f"{address} is a list the daemon made, but neither the resources file nor "
                         "[lists] produces it any more (a department renamed or dissolved, a list taken out of the file): "
                         "nobody joins it; its leavers still go out, and it is never deleted by the daemon",
                         f"declare {address} in the resources file (a department's list: name it under "
                         "[department_lists]), or delete the alias in the mail server if it is no longer wanted")
            kept = sorted({self.still_in(r) for r in alias.recipients} - {""})
            if kept and tuple(kept) != alias.recipients:
                self.act(ActionKind.UPDATE_ALIAS, company, address, "list",
                         f"mail list {address}, produced by no rule any more: out: "
                         f"{', '.join(sorted(set(alias.recipients) - set(kept)))}",
                         {"recipients": [list(alias.recipients), kept]}, AliasParams(address, tuple(kept), mail_list=True))

    def still_in(self, recipient: str) -> str:
        """A recipient of a list no rule produces: kept (under the person's address after the plan), or "" when
        the person left, is suspended or deleted."""
        person = self.people.by_address.get(recipient)
        if person is None or person.uncertain:
            return recipient
        return person.address if person.member else ""

    # -- helpers ----------------------------------------------------------------------------------------

    def usable_address(self, address: str) -> bool:
        """An address the mail server takes as a recipient: outside its domains, or there (or made by this plan)."""
        domain = address.partition("@")[2]
        if domain not in self.mail.domains:
            return True
        return (self.mail.mailbox(address) is not None or self.mail.alias(address) is not None
                or address in self.declared or lower_name(address) in self.person_addresses)

    def act(self, kind: ActionKind, company: str, address: str, rule: str, reason: str,
            changes: dict[str, list[object]], params: AliasParams | ForwardParams | NewMailboxParams | MailboxUpdateParams
            ) -> None:
        self.plan.actions.append(Action(kind, "", company, address, rule, reason, changes, params=params))

    def problem(self, company: str, target: str, reason: str, fix: str) -> None:
        self.plan.reviews.append(Review(ReviewKind.RESOURCE_PROBLEM, "", company, target, reason, fix))
