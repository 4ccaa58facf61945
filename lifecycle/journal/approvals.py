"""What waits for a person, and what admins decide: held actions, legal holds, reinstatements, adoptions.

Every decision is recorded in the action log in the same transaction as its effect.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from lifecycle.domain.interventions import InterventionKind
from lifecycle.domain.models import DESTRUCTIVE_KINDS, Action, Held, PersonState, PersonStatus, SuspensionRule
from lifecycle.journal.action_log import record_admin_entry
from lifecycle.journal.interventions import remove_intervention
from lifecycle.journal.schema import approvals, holds, interventions, persons, utc_text
from lifecycle.journal.state import read_person, upsert_person

# approvals.status: waiting for an admin, waiting for the HR feed, and the decisions.
HELD, FROZEN = "held", "frozen"
OPEN_APPROVALS = (HELD, FROZEN, "approved", "rejected")


class Approvals:
    """The Journal's held actions and admin decisions."""

    engine: Engine

    # -- held actions ---------------------------------------------------------------------------

    def sync_held(self, held: Iterable[Held], planned: Iterable[Action], now: datetime) -> list[int]:
        """Register held actions (once) and retire the ones no longer held or planned.

        An action the guards hold for approval is `held`; a suspension or deletion
        held because its company's HR feed is frozen is `frozen` (listed by
        `lifecycle held`, released by the feed, not by an approval).  An action may
        move between the two as the feed and the outcome guard change.  Actions
        that only wait for a held one (leaving groups...) are not registered: they
        follow it.  Returns the ids of actions that newly wait for an approval.
        """
        new_ids: list[int] = []
        held = list(held)
        current = {(h.action.kind.value, h.action.employee_id, h.action.target) for h in held}
        current |= {(a.kind.value, a.employee_id, a.target) for a in planned}
        with self.engine.begin() as conn:
            open_rows = conn.execute(
                select(approvals.c.id, approvals.c.kind, approvals.c.employee_id, approvals.c.target, approvals.c.status,
                       approvals.c.reason).where(approvals.c.status.in_(OPEN_APPROVALS))
            ).all()
            known = {(k, e, t): (row_id, status, reason) for row_id, k, e, t, status, reason in open_rows}
            held_keys = {(h.action.kind.value, h.action.employee_id, h.action.target) for h in held}
            for key, (row_id, status, _reason) in known.items():
                # No longer held or planned; or released from a freeze and now simply planned.
                if key not in current or (status == FROZEN and key not in held_keys):
                    conn.execute(update(approvals).where(approvals.c.id == row_id).values(status="obsolete", decided_at=utc_text(now)))
            for item in held:
                key = (item.action.kind.value, item.action.employee_id, item.action.target)
                wanted = HELD if item.approvable else FROZEN if item.action.kind in DESTRUCTIVE_KINDS else None
                row_id, status, reason = known.get(key, (None, None, None))
                if row_id is None:
                    if wanted is None:
                        continue  # a dependent action, or one an admin rejected
                    new_id = conn.execute(
                        insert(approvals).values(
                            kind=key[0], employee_id=key[1], target=key[2], company=item.action.company,
                            action=json.dumps(item.action.to_dict(), ensure_ascii=False), reason=item.reason,
                            status=wanted, created_at=utc_text(now),
                        ).returning(approvals.c.id)
                    ).scalar_one()
                    if wanted == HELD:
                        new_ids.append(int(new_id))
                elif status in (HELD, FROZEN) and wanted in (HELD, FROZEN) and (status, reason) != (wanted, item.reason):
                    conn.execute(update(approvals).where(approvals.c.id == row_id).values(status=wanted, reason=item.reason))
                    if wanted == HELD and status == FROZEN:
                        new_ids.append(row_id)
        return new_ids

    def held_actions(self, company: str | None = None, *, companies: Collection[str] | None = None,
                     employee_id: str | None = None) -> list[dict[str, Any]]:
        """What waits for an admin (`held`) or for the HR feed (`frozen`), oldest first; filtered by
        one company, by several (the console's admin), or by employee."""
        query = select(approvals).where(approvals.c.status.in_((HELD, FROZEN))).order_by(approvals.c.id)
        if company:
            query = query.where(approvals.c.company == company)
        if companies is not None:
            query = query.where(approvals.c.company.in_(list(companies)))
        if employee_id:
            query = query.where(approvals.c.employee_id == employee_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**dict(row), "action": json.loads(row["action"])} for row in rows]

    def decide(self, ids: Iterable[int], decision: str, actor: str, now: datetime, *, reason: str = "", origin: str = "",
               companies: Collection[str] | None = None) -> list[str]:
        """Approve or reject held actions; returns one line per id saying what happened.

        With `companies`, an action of another company is refused, and nothing is recorded.
        """
        assert decision in ("approved", "rejected")
        lines = []
        with self.engine.begin() as conn:
            for action_id in ids:
                row = conn.execute(select(approvals).where(approvals.c.id == action_id)).mappings().first()
                if row is not None and companies is not None and row["company"] not in companies:
                    lines.append(f"#{action_id}: not an action of your companies")
                    continue
                if row is not None and row["status"] == FROZEN:
                    lines.append(f"#{action_id}: not approvable: held by the frozen HR feed of {row['company']}; "
                                 f"`lifecycle accept-feed {row['company']}` accepts the feed if its drop is real")
                    continue
                if row is None or row["status"] != HELD:
                    lines.append(f"#{action_id}: not a held action ({row['status'] if row else 'unknown id'})")
                    continue
                conn.execute(
                    update(approvals).where(approvals.c.id == action_id)
                    .values(status=decision, decided_by=actor, decided_at=utc_text(now))
                )
                verb = "approve" if decision == "approved" else "reject"
                because = f": {reason}" if reason else ""
                record_admin_entry(
                    conn, kind=verb, employee_id=row["employee_id"], target=row["target"], company=row["company"],
                    changes={"held_action": [action_id, decision]}, actor=actor, now=now, origin=origin,
                    reason=f"{verb}d held {row['kind']} #{action_id} ({row['reason']}){because}",
                )
                lines.append(f"#{action_id}: {decision} {row['kind']} {row['employee_id']} {row['target']}")
        return lines

    def mark_approvals_applied(self, keys: Iterable[tuple[str, str, str]], now: datetime) -> None:
        with self.engine.begin() as conn:
            for kind, employee_id, target in keys:
                conn.execute(
                    update(approvals)
                    .where(approvals.c.status == "approved", approvals.c.kind == kind,
                           approvals.c.employee_id == employee_id, approvals.c.target == target)
                    .values(status="applied", decided_at=utc_text(now))
                )

    # -- admin decisions about people --------------------------------------------------------------

    def set_hold(self, employee_id: str, reason: str, actor: str, now: datetime, *, on: bool, origin: str = "",
                 company: str = "") -> str:
        with self.engine.begin() as conn:
            existing = conn.execute(select(holds).where(holds.c.employee_id == employee_id)).mappings().first()
            if on and existing:
                return f"{employee_id} is already on hold since {existing['created_at']} ({existing['reason']})"
            if not on and not existing:
                return f"{employee_id} is not on hold"
            if on:
                conn.execute(insert(holds).values(employee_id=employee_id, reason=reason, actor=actor, created_at=utc_text(now)))
            else:
                conn.execute(holds.delete().where(holds.c.employee_id == employee_id))
            stored = conn.execute(select(persons.c.company).where(persons.c.employee_id == employee_id)).scalar()
            record_admin_entry(
                conn, kind="hold" if on else "release", employee_id=employee_id, target=employee_id,
                company=stored or company, changes={"legal_hold": [not on, on]}, actor=actor, now=now, origin=origin,
                reason=reason if on else f"hold released ({reason})" if reason else "hold released",
            )
        return f"{employee_id}: {'on legal hold: account and mail are never deleted until released' if on else 'hold released'}"

    def reinstate(self, employee_id: str, actor: str, now: datetime) -> str:
        """Let a person deleted for inactivity get an account again (with the same, reserved name)."""
        with self.engine.begin() as conn:
            person = read_person(conn, employee_id)
            if person is None or person.status != PersonStatus.DELETED or person.suspension_rule != SuspensionRule.INACTIVITY:
                return f"{employee_id}: not an account deleted for inactivity; nothing to reinstate"
            conn.execute(update(persons).where(persons.c.employee_id == employee_id).values(suspension_rule=None,
                                                                                           updated_at=utc_text(now)))
            record_admin_entry(conn, kind="reinstate", employee_id="", target=employee_id, company=person.company,
                               reason=f"admin allows a new account for {employee_id} ({person.uid})", actor=actor, now=now)
        return f"{employee_id}: reinstated; the next cycle makes the account {person.uid} again"

    def confirm_match(self, employee_id: str, uid: str, company: str, actor: str, now: datetime, *, origin: str = "",
                      moved: tuple[str, str] | None = None) -> None:
        """An admin says the pre-existing entry `uid` is this employee (see `lifecycle adopt`); `moved`: (old DN,
        new DN) when the command brought the entry into the company's subtree first.  A standing `adopt --new`
        of the employee ends with it."""
        changes: dict[str, Any] = {"link": [None, uid]}
        if moved is not None:
            changes["dn"] = list(moved)
        with self.engine.begin() as conn:
            upsert_person(conn, employee_id, {"uid": uid, "company": company, "status": PersonStatus.CONFIRMED.value,
                                              "match_confirmed": True}, now)
            record_admin_entry(conn, kind="confirm_match", employee_id=employee_id, target=uid, company=company,
                               changes=changes, actor=actor, now=now, origin=origin,
                               reason=f"admin confirmed that entry {uid} is employee {employee_id}")
            remove_intervention(conn, InterventionKind.NEW_ACCOUNT, employee_id, company, journal_kind="new_account_ended",
                                reason=f"entry {uid} adopted instead", actor=actor, now=now, origin=origin)
            _release_unlinked(conn, uid)  # an admin gives the name to this employee (a re-keyed person, say)

    def uid_owner(self, uid: str) -> str | None:
        """The employee whose stored link (or reserved name) `uid` is, if any."""
        with self.engine.connect() as conn:
            return conn.execute(select(persons.c.employee_id).where(func.lower(persons.c.uid) == uid.lower())).scalar()

    def unlink(self, employee_id: str, reason: str, actor: str, now: datetime, *, origin: str = "",
               number_removed_from: str = "") -> PersonState:
        """An admin says the entry linked to this employee is not theirs (`lifecycle unlink`): the link is gone.

        The employee's stored row goes (the entry is nobody's: the next cycle reports it and leaves it as it
        is); its uid stays reserved (never a joiner's, even once the entry is deleted by hand) until an admin
        adopts it for someone (`lifecycle adopt`); and so does a standing `adopt --new`, so that the next cycle
        holds the employee again with their possible entries until an admin adopts one.  Raises LookupError
        when nothing is linked.
        """
        with self.engine.begin() as conn:
            person = read_person(conn, employee_id)
            if person is None or not person.uid or person.status == PersonStatus.DELETED:
                raise LookupError(f"employee {employee_id} is linked to no entry"
                                  + (f" (account {person.uid} was deleted)" if person is not None and person.uid else ""))
            conn.execute(persons.delete().where(persons.c.employee_id == employee_id))
            _reserve_unlinked(conn, employee_id, person.company, person.uid, reason, actor, now)
            changes: dict[str, Any] = {"link": [person.uid, None]}
            if number_removed_from:
                changes["employeeNumber"] = [employee_id, None]
            record_admin_entry(conn, kind="unlink", employee_id=employee_id, target=person.uid, company=person.company,
                               changes=changes, actor=actor, now=now, origin=origin,
                               reason=f"admin unlinked entry {person.uid} from employee {employee_id}: {reason}")
            remove_intervention(conn, InterventionKind.NEW_ACCOUNT, employee_id, person.company,
                                journal_kind="new_account_ended", reason=f"entry {person.uid} unlinked", actor=actor,
                                now=now, origin=origin)
        return person


def _reserve_unlinked(conn: Connection, employee_id: str, company: str, uid: str, reason: str, actor: str,
                      now: datetime) -> None:
    """Keep an unlinked uid from joiners: the entry (and its mailbox, holding mail) may still be there, or come back
    after being deleted by hand.  One row per employee lists every uid unlinked from them (journalled by the unlink)."""
    kind = InterventionKind.UNLINKED.value
    where = (interventions.c.kind == kind, interventions.c.employee_id == employee_id)
    row = conn.execute(select(interventions.c.details).where(*where)).scalar()
    uids = list(json.loads(row or "{}").get("uids", ())) if row is not None else []
    if uid.lower() not in {u.lower() for u in uids}:
        uids.append(uid)
    conn.execute(delete(interventions).where(*where))
    conn.execute(insert(interventions).values(kind=kind, employee_id=employee_id, company=company,
                                              details=json.dumps({"uids": uids}, ensure_ascii=False), reason=reason,
                                              actor=actor, created_at=utc_text(now)))


def _release_unlinked(conn: Connection, uid: str) -> None:
    """`uid` is linked again (adopted): no longer kept from anyone."""
    kind = InterventionKind.UNLINKED.value
    for employee_id, details in conn.execute(select(interventions.c.employee_id, interventions.c.details)
                                             .where(interventions.c.kind == kind)).all():
        uids = list(json.loads(details or "{}").get("uids", ()))
        kept = [u for u in uids if u.lower() != uid.lower()]
        if kept == uids:
            continue
        where = (interventions.c.kind == kind, interventions.c.employee_id == employee_id)
        if kept:
            conn.execute(update(interventions).where(*where).values(details=json.dumps({"uids": kept}, ensure_ascii=False)))
        else:
            conn.execute(delete(interventions).where(*where))
