"""Text and JSON renderings of plans and log entries for people and scripts."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from lifecycle.journal import LogEntry
from lifecycle.models import Action, ActionKind, Plan

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
}


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), ensure_ascii=False, indent=2)


def plan_text(plan: Plan) -> str:
    lines = [f"Plan as of {plan.now.isoformat(timespec='minutes')}"]
    counts = Counter(a.kind.value for a in plan.actions)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no changes"
    lines.append(
        f"  {len(plan.actions)} actions ({summary}); {len(plan.held)} held; {len(plan.rejected)} rejected rows; "
        f"{len(plan.reviews)} to review"
    )
    if plan.actions:
        lines.append("")
        lines.append("Actions:")
        for action in plan.actions:
            lines.extend(_action_lines(action))
    if plan.frozen:
        lines.append("")
        lines.append("HR feed frozen (no suspension or deletion for these companies this cycle):")
        for company, why in sorted(plan.frozen.items()):
            if company != "*":
                lines.append(f"  {company}: {why}")
    if plan.held:
        lines.append("")
        lines.append(f"Held back by the guards ({len(plan.held)}; see `lifecycle held`, `lifecycle approve ID`):")
        for item in plan.held:
            lines.extend(_action_lines(item.action))
            lines.append(f"      held: {item.reason}")
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


def _action_lines(action: Action) -> list[str]:
    who = action.employee_id or "-"
    head = f"  {SYMBOLS.get(action.kind, '?')} {action.kind.value:<16} {action.company:<4} {who:<10} {action.target}"
    members = action.params.get("members")
    if action.kind == ActionKind.CREATE_GROUP and members:  # a new group with all its initial members
        shown = ", ".join(members[:3]) + (f" (+{len(members) - 3} more)" if len(members) > 3 else "")
        count = f"{len(members)} member" + ("" if len(members) == 1 else "s")
        return [f"{head}  {count}: {shown}", f"      [{action.rule}] {action.reason}"]
    member = action.params.get("member_dn") or action.params.get("first_member")
    if member:  # group changes: one line each, the member is the news
        return [f"{head}  member {member}", f"      [{action.rule}] {action.reason}"]
    lines = [head, f"      [{action.rule}] {action.reason}"]
    if action.kind == ActionKind.CREATE_ACCOUNT:
        attrs = action.params.get("attributes", {})
        summary = ", ".join(f"{k}={attrs[k]}" for k in ("cn", "mail", "departmentNumber", "title") if attrs.get(k))
        lines.append(f"      {summary}")
        if attrs.get("manager"):
            lines.append(f"      manager={attrs['manager']}")
        return lines
    for field, (before, after) in sorted(action.all_changes().items()):
        lines.append(f"      {field}: {_value(before)} -> {_value(after)}")
    return lines


def _value(value: Any) -> str:
    return "(none)" if value in (None, "") else str(value)


def log_text(entries: Iterable[LogEntry]) -> str:
    lines = []
    for e in entries:
        lines.append(
            f"{e.logged_at}  #{e.id:<5} {e.status:<11} {e.kind:<18} {e.company or '-':<4} {e.employee_id or '-':<10} "
            f"{e.target}"
        )
        lines.append(f"      [{e.rule}] {e.reason}" + (f" (as of {e.effective_at})" if e.effective_at[:10] != e.logged_at[:10] else ""))
        for field, pair in sorted(e.changes.items()):
            if isinstance(pair, list) and len(pair) == 2:
                lines.append(f"      {field}: {_value(pair[0])} -> {_value(pair[1])}")
        if e.error:
            lines.append(f"      error: {e.error}")
        lines.append(f"      by {e.actor}, run {e.run_id[:8]}")
    return "\n".join(lines) + ("\n" if lines else "")


def log_json(entries: Iterable[LogEntry]) -> str:
    return json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2)
