"""Feed health: is this HR snapshot trustworthy enough to take anything away from anyone?

Compared with the last accepted snapshot, a company whose row count drops by more
than `max_feed_drop`, a column that vanished, or a file that looks cut off or is
still being written freezes destructive actions (for that company, or for all);
everything else in the plan goes ahead.

A company most of whose rows were rejected (every one, or more than `[hr]
max_rejected_fraction`) has an unusable feed: a wrong export, a changed column, a date
format HR changed.  Nothing at all is done for it (`unusable_companies`), and `plan` and
`check` fail, naming the most common rejection and its fix.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from lifecycle.domain.models import FeedBaseline, HrSnapshot, RejectedRow
from lifecycle.domain.settings import Settings


def feed_baseline(hr: HrSnapshot, previous: FeedBaseline | None, frozen: dict[str, str]) -> FeedBaseline:
    """The baseline to keep after this cycle: a frozen company keeps its old count."""
    counts = dict(Counter(r.company for r in hr.records))
    if previous is not None:
        for company in frozen:
            if company in previous.rows_per_company:
                counts[company] = previous.rows_per_company[company]
    columns = hr.columns if not (previous and "*" in frozen) else previous.columns
    return FeedBaseline(counts, tuple(columns))


def frozen_companies(hr: HrSnapshot, previous: FeedBaseline | None, settings: Settings) -> dict[str, str]:
    """company -> why its destructive actions wait; "*" stands for every company."""
    everyone = [c.code for c in settings.companies]
    whole: str = ""
    if hr.settling:
        whole = f"the HR file was modified less than {settings.guards.min_file_age_seconds} s ago and may still be written"
    elif hr.truncated:
        whole = "the HR file looks cut off (its last row is incomplete and it has no final line break)"
    elif previous is not None and hr.columns:
        vanished = sorted(set(previous.columns) - set(hr.columns))
        if vanished:
            whole = f"column(s) {', '.join(vanished)} present in the last accepted export are missing"
    if whole:
        return {"*": whole, **{code: whole for code in everyone}}
    if previous is None:
        return {}
    now_counts = Counter(r.company for r in hr.records)
    frozen: dict[str, str] = {}
    for company, before in sorted(previous.rows_per_company.items()):
        after = now_counts.get(company, 0)
        if before > 0 and (before - after) / before > settings.guards.max_feed_drop:
            frozen[company] = (
                f"{company}'s HR rows dropped from {before} to {after} ({(before - after) / before:.0%}, "
                f"more than max_feed_drop {settings.guards.max_feed_drop:.0%}); accept with `lifecycle accept-feed {company}` "
                "if the drop is real"
            )
    return frozen


def unusable_companies(hr: HrSnapshot, settings: Settings, previous: FeedBaseline | None = None) -> dict[str, str]:
    """company -> why its HR rows cannot be used this cycle; "*" (with every company) when the rows whose
    company cannot be told are more than the fraction allowed of the whole feed.

    A company none of whose rows could be read while rows name a company the config does not know
    (its legal name changed, say) is unusable too, when the last accepted feed had rows of it.
    """
    limit = settings.hr.max_rejected_fraction
    accepted = Counter(r.company for r in hr.records)
    rejected: dict[str, list[RejectedRow]] = defaultdict(list)
    for row in hr.rejected:
        if not row.test_record:  # HR's test rows are set aside on purpose
            rejected[row.company].append(row)
    unattributed = rejected.pop("", [])
    total = len(hr.records) + sum(map(len, rejected.values())) + len(unattributed)
    if unattributed and len(unattributed) / total > limit:
        why = _why("the HR feed", len(unattributed), total, unattributed, limit, whose="and name no company the config knows")
        return {"*": why, **{c.code: why for c in settings.companies}}
    unusable: dict[str, str] = {}
    for company, rows in sorted(rejected.items()):
        count = accepted.get(company, 0) + len(rows)
        if accepted.get(company, 0) == 0 or len(rows) / count > limit:
            unusable[company] = _why(f"{company}'s HR feed", len(rows), count, rows, limit)
    if unattributed and previous is not None:
        configured = {c.code for c in settings.companies}  # a company taken out of the config is gone, not renamed
        for company, before in sorted(previous.rows_per_company.items()):
            if company not in configured or company in unusable or accepted.get(company) or rejected.get(company):
                continue
            if before:
                example = min(unattributed, key=lambda r: r.row)
                unusable[company] = (
                    f"{company}'s HR feed is unusable: none of its rows was read (the last accepted feed had {before}), "
                    f"and {len(unattributed)} rows name a company the config does not know, e.g. {example.where}: "
                    f"{example.reason}; fix: {example.fix}"
                )
    return unusable


def _why(what: str, bad: int, total: int, rows: tuple[RejectedRow, ...] | list[RejectedRow], limit: float,
         *, whose: str = "") -> str:
    by_field = Counter(r.field for r in rows)
    field, count = by_field.most_common(1)[0]
    example = min((r for r in rows if r.field == field), key=lambda r: r.row)
    share = "every one" if bad == total else f"{bad / total:.0%}, more than [hr] max_rejected_fraction {limit:.0%}"
    rejected = f"were rejected {whose}" if whose else "were rejected"
    return (
        f"{what} is unusable: {bad} of its {total} rows {rejected} ({share}), so nothing is done for it this cycle; "
        f"the most common problem ({count} rows, field {field}), e.g. {example.where}: {example.reason}; fix: {example.fix}"
    )
