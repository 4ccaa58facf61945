"""Text and JSON renderings of plans, log entries and held actions for people and scripts.

Text shows times in the given zone ([policy] timezone) with their offset;
JSON keeps the stored UTC times.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from lifecycle.domain.action_params import MemberParams, NewAccountParams, NewGroupParams
from lifecycle.domain.models import DESTRUCTIVE_KINDS, Action, ActionKind, Held, Plan
from lifecycle.journal.action_log import LogEntry
from lifecycle.journal.approvals import FROZEN, HELD
from policies.adoption import POSSIBLE_EXISTING

SYMBOLS = {
    ActionKind.CREATE_ACCOUNT: "+",
    ActionKind.CREATE_GROUP: "+",
    ActionKind.ADD_MEMBER: "+",
    ActionKind.ADOPT_ACCOUNT: "=",
    ActionKind.UPDATE_ACCOUNT: "~",
    ActionKind.MOVE_ACCOUNT: ">",
    ActionKind.RESTORE_ACCOUNT: "^",
    ActionKind.WARN_INACTIVE: "!",
    ActionKind.SUSPEND_ACCOUNT: "-",
    ActionKind.REMOVE_MEMBER: "-",
    ActionKind.DELETE_ACCOUNT: "x",
    ActionKind.DELETE_GROUP: "x",
    ActionKind.RECORD_STATE: "*",
    ActionKind.CREATE_MAILBOX: "+",
    ActionKind.UPDATE_MAILBOX: "~",
    ActionKind.RENAME_MAILBOX: ">",
    ActionKind.SUSPEND_MAILBOX: "-",
    ActionKind.RESTORE_MAILBOX: "^",
    ActionKind.FORWARD_MAIL: "~",
    ActionKind.CLEAR_FORWARD: "~",
    ActionKind.AUTO_REPLY: "~",
    ActionKind.ARCHIVE_MAILBOX: "=",
    ActionKind.DELETE_MAILBOX: "x",
    ActionKind.CREATE_ALIAS: "+",
    ActionKind.DELETE_ALIAS: "x",
    ActionKind.UPDATE_ALIAS: "~",
    ActionKind.WRITE_BACK_HR: "<",
    ActionKind.RESET_PASSWORD: "*",
}


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), ensure_ascii=False, indent=2)


@dataclass(frozen=True)
class HeldSummary:
    """A plan's held actions by what releases them; `lifecycle held` lists the first two kinds."""

    for_approval: tuple[Held, ...]  # `lifecycle approve ID`
    frozen: tuple[Held, ...]  # the HR feed: healthy again, or `lifecycle accept-feed CODE`
    rejected: tuple[Held, ...]  # an admin's rejection, while it stands
    dependent: tuple[Held, ...]  # follow a held suspension or creation (groups, mailbox, lists)
    # A joiner who may have an account already, waiting for `lifecycle adopt EMPLOYEE UID` or `--new`.
    undecided: tuple[Held, ...] = ()

    @property
    def listed(self) -> int:
        return len(self.for_approval) + len(self.frozen)

    def text(self) -> str:
        """E.g. "6 held (+24 that depend on them)"."""
        words = f"{self.listed} held"
        if self.rejected:
            words += f", {len(self.rejected)} rejected"
        if self.undecided:
            words += f", {len(self.undecided)} waiting for an adoption decision"
        if self.dependent:
            words += f" (+{len(self.dependent)} that depend on them)"
        return words

    def fields(self) -> dict[str, int]:
        """For a structured log line: what `lifecycle held` lists, and the rest apart."""
        return {"held": self.listed, "held_for_approval": len(self.for_approval), "held_frozen": len(self.frozen),
                "held_rejected": len(self.rejected), "held_dependent": len(self.dependent),
                "held_undecided": len(self.undecided)}


def summarize_held(plan: Plan) -> HeldSummary:
    groups: dict[str, list[Held]] = {"approval": [], "frozen": [], "rejected": [], "dependent": [], "undecided": []}
    for item in plan.held:
        if item.approvable:
            groups["approval"].append(item)
        elif item.action.kind is ActionKind.CREATE_ACCOUNT and item.reason.startswith(POSSIBLE_EXISTING):
            groups["undecided"].append(item)
        elif item.action.kind not in DESTRUCTIVE_KINDS:
            groups["dependent"].append(item)
        elif item.action.company in plan.frozen:
            groups["frozen"].append(item)
        else:
            groups["rejected"].append(item)
    return HeldSummary(*(tuple(groups[k]) for k in ("approval", "frozen", "rejected", "dependent", "undecided")))


def plan_text(plan: Plan) -> str:
    lines = [f"Plan as of {plan.now.isoformat(timespec='minutes')}"]
    counts = Counter(a.kind.value for a in plan.actions)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no changes"
    held = summarize_held(plan)
    lines.append(
        f"  {len(plan.actions)} actions ({summary}); {held.text()}; {len(plan.rejected)} rejected rows; "
        f"{len(plan.reviews)} to review"
    )
    if plan.actions:
        lines.append("")
        lines.append("Actions:")
        for action in plan.actions:
            lines.extend(_action_lines(action))
    if plan.notices:
        lines.append("")
        lines.append("Told by mail once their action is applied ([notify]):")
        for notice in plan.notices:
            cc = f" (cc {', '.join(notice.cc)})" if notice.cc else ""
            who = f" {notice.employee_id}" if notice.employee_id else ""
            lines.append(f"  @ {notice.event.value}{who} [{notice.company}] to {', '.join(notice.to)}{cc}")
    if plan.unusable:
        lines.append("")
        lines.append("HR feed UNUSABLE (nothing at all is done for these companies until HR's rows are fixed):")
        for company, why in sorted(plan.unusable.items()):
            if company != "*" or len(plan.unusable) == 1:
                lines.append(f"  {company}: {why}")
    frozen = {c: why for c, why in plan.frozen.items() if c != "*" and c not in plan.unusable}
    if frozen:
        lines.append("")
        lines.append("HR feed frozen (no suspension or deletion for these companies this cycle):")
        for company, why in sorted(frozen.items()):
            lines.append(f"  {company}: {why}")
    if plan.held:
        lines.append("")
        lines.append(f"Held back by the guards: {held.text()}")
        lines.extend(_held_lines(held))
    if plan.rejected:
        lines.append("")
        lines.append("Rejected HR rows (never acted on):")
        for row in plan.rejected:
            lines.append(f"  {row.message()}")
    if plan.reviews:
        lines.append("")
        lines.append("For an admin to review (nothing is done about these):")
        for review in plan.reviews:
            who = f" {review.employee_id}" if review.employee_id else ""
            lines.append(f"  ? {review.kind.value}{who} [{review.company or '-'}] {review.target}")
            lines.append(f"      {review.reason}")
            lines.append(f"      fix: {review.fix}")
    return "\n".join(lines) + "\n"


def _held_lines(held: HeldSummary) -> list[str]:
    frozen_companies = " ".join(sorted({h.action.company for h in held.frozen}))
    groups = (
        (held.for_approval, "waiting for an approval: once a cycle has registered them, `lifecycle held` lists them "
                            "with the ids for `lifecycle approve ID` / `lifecycle reject ID`"),
        (held.frozen, "frozen with the HR feed: they go ahead once the feed looks healthy again, or after "
                      f"`lifecycle accept-feed {frozen_companies}` accepts a real drop; `lifecycle held` lists them "
                      "once a cycle has registered them"),
        (held.rejected, "rejected by an admin: not applied while the rejection stands"),
        (held.undecided, "waiting for an admin to say whether an existing entry is the person: `lifecycle adopt "
                         "EMPLOYEE UID` links it, `lifecycle adopt EMPLOYEE --new` makes a new account (the console's "
                         "Adoptions page does the same)"),
        (held.dependent, "waiting with a held action (a suspension, a new account): groups, mailbox, lists follow it"),
    )
    lines: list[str] = []
    for items, what in groups:
        if not items:
            continue
        lines.append(f"  {len(items)} {what}")
        for item in items:
            lines.extend("  " + line for line in _action_lines(item.action))
            lines.append(f"        held: {item.reason}")
    return lines


def held_text(rows: Sequence[dict[str, Any]], zone: tzinfo, last_run: datetime | None) -> str:
    """`lifecycle held`: what the feed froze (by company, with how to release it), then what waits for approval."""
    if not rows:
        as_of = f" as of the last cycle ({local_time(last_run, zone)})" if last_run else ""
        return f"no actions are held{as_of}; `lifecycle plan` shows what the next cycle would hold\n"
    lines: list[str] = []
    frozen = [r for r in rows if r["status"] == FROZEN]
    for company in sorted({r["company"] for r in frozen}):
        mine = [r for r in frozen if r["company"] == company]
        lines.append(f"Frozen with the HR feed of {company} ({len(mine)}): no suspension or deletion for {company} until "
                     f"the feed looks healthy again, or `lifecycle accept-feed {company}` accepts a real drop "
                     "(then the next cycle re-checks them); `lifecycle approve` cannot release them")
        lines.append(f"  why: {mine[0]['reason']}")
        lines.extend(line for row in mine for line in _held_row_lines(row, zone))
    waiting = [r for r in rows if r["status"] == HELD]
    if waiting:
        if lines:
            lines.append("")
        lines.append(f"Waiting for an approval ({len(waiting)}): `lifecycle approve ID`, `lifecycle reject ID`")
        for row in waiting:
            lines.extend(_held_row_lines(row, zone))
            lines.append(f"         why held:    {row['reason']}")
    return "\n".join(lines) + "\n"


def _held_row_lines(row: dict[str, Any], zone: tzinfo) -> list[str]:
    action = row["action"]
    return [
        f"  #{row['id']:<5} {row['kind']:<16} {row['company']:<4} {row['employee_id'] or '-':<10} {row['target']}",
        f"         why planned: [{action['rule']}] {action['reason']}",
        f"         held since {local_time(row['created_at'], zone)}",
    ]


def local_time(value: str | datetime, zone: tzinfo) -> str:
    """A stored UTC time in `zone`, with its offset: 2026-12-01 17:00:05+08:00."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def _action_lines(action: Action) -> list[str]:
    who = action.employee_id or "-"
    head = f"  {SYMBOLS.get(action.kind, '?')} {action.kind.value:<16} {action.company:<4} {who:<10} {action.target}"
    params = action.params
    if isinstance(params, NewGroupParams) and params.members:  # a new group with all its initial members
        members = params.members
        shown = ", ".join(members[:3]) + (f" (+{len(members) - 3} more)" if len(members) > 3 else "")
        count = f"{len(members)} member" + ("" if len(members) == 1 else "s")
        return [f"{head}  {count}: {shown}", f"      [{action.rule}] {action.reason}"]
    member = ""
    if isinstance(params, MemberParams):
        member = params.member_dn
    elif isinstance(params, NewGroupParams):
        member = params.first_member
    if member:  # group changes: one line each, the member is the news
        return [f"{head}  member {member}", f"      [{action.rule}] {action.reason}"]
    lines = [head, f"      [{action.rule}] {action.reason}"]
    if isinstance(params, NewAccountParams):
        attrs = params.attributes.to_dict()
        summary = ", ".join(f"{k}={attrs[k]}" for k in ("cn", "mail", "departmentNumber", "title") if attrs[k])
        lines.append(f"      {summary}")
        if attrs["manager"]:
            lines.append(f"      manager={attrs['manager']}")
        return lines
    for field, (before, after) in sorted(action.all_changes().items()):
        lines.append(f"      {field}: {_value(before)} -> {_value(after)}")
    return lines


def _value(value: Any) -> str:
    return "(none)" if value in (None, "") else str(value)


def log_text(entries: Iterable[LogEntry], zone: tzinfo = UTC) -> str:
    return "".join(log_lines(entries, zone))


def log_lines(entries: Iterable[LogEntry], zone: tzinfo = UTC) -> Iterator[str]:
    """The action log for people, one line at a time (written as they come: `lifecycle log | less` starts at once)."""
    for e in entries:
        logged, effective = local_time(e.logged_at, zone), local_time(e.effective_at, zone)
        yield (f"{logged}  #{e.id:<5} {e.status:<11} {e.kind:<18} {e.company or '-':<4} {e.employee_id or '-':<10} "
               f"{e.target}\n")
        yield f"      [{e.rule}] {e.reason}" + (f" (as of {effective})" if effective[:10] != logged[:10] else "") + "\n"
        for field, pair in sorted(e.changes.items()):
            if isinstance(pair, list) and len(pair) == 2:
                yield f"      {field}: {_value(pair[0])} -> {_value(pair[1])}\n"
        if e.error:
            yield f"      error: {e.error}\n"
        yield f"      by {e.actor}" + (f" from the {e.origin}" if e.origin else "") + f", run {e.run_id[:8]}\n"


def log_json(entries: Iterable[LogEntry]) -> str:
    return json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2)
