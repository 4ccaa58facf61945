"""Feed health: is this HR snapshot trustworthy enough to take anything away from anyone?

Compared with the last accepted snapshot, a company whose row count drops by more
than `max_feed_drop`, a column that vanished, or a file that looks cut off or is
still being written freezes destructive actions (for that company, or for all);
everything else in the plan goes ahead.
"""

from __future__ import annotations

from collections import Counter

from lifecycle.domain.models import FeedBaseline, HrSnapshot
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
