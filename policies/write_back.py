"""Write-back: HR is told the account and work address a person was given, once the account exists.

Only for a source that takes them (`[hr] writes_back`: an SQL statement or table, a REST preset
whose vendor lets the work email be set), and only for the values the source itself carries
(its `email` / `account` columns): what HR reads back is what tells the daemon it was written,
so each value is written once, and again only if HR loses it.  A departed person, a suspended
account or an entry not yet linked to the employee is left out.
"""

from __future__ import annotations

from collections.abc import Collection

from lifecycle.domain.action_params import HrWriteBackParams
from lifecycle.domain.models import Action, ActionKind, HrStatus
from policies.join import PersonView

RULE = "hr_write_back"


def plan_write_back(view: PersonView, carried: Collection[str], written: Collection[str]) -> Action | None:
    """The write-back `view`'s HR record lacks, if any: `written` is the fields the source takes back, `carried`
    those of them it also reads back."""
    record, entry = view.hr, view.entry
    if record is None or entry is None or record.status is HrStatus.TERMINATED or entry.locked:
        return None
    if "email" in written and not entry.mail:
        return None  # no address yet (it comes with this plan): HR's own must not be set to nothing meanwhile
    if entry.employee_number != view.employee_id:
        return None  # not (yet) linked to this employee: HR would be told someone else's account
    # What HR holds decides whether to write; what is written is always the directory's own (a statement
    # may set a column the source does not read back: it must never be set to nothing).
    stale = [(field, before, after) for field, before, after in (("account", record.account, entry.uid),
                                                                  ("email", record.email, entry.mail))
             if field in carried and after and before.casefold() != after.casefold()]
    if not stale:
        return None
    told = " and ".join(f"{field} {after}" for field, _, after in stale)
    return Action(
        ActionKind.WRITE_BACK_HR, view.employee_id, view.company, f"hr:{view.employee_id}", RULE,
        f"the account exists: HR is told its {told}",
        changes={field: [before or None, after] for field, before, after in stale},
        params=HrWriteBackParams(entry.uid, entry.mail),
    )
