"""The manager chain in HR: someone who is their own manager, or managers that form a loop."""

from __future__ import annotations

from collections.abc import Iterable

from lifecycle.domain.models import HrRecord, Review, ReviewKind


def manager_chain_reviews(records: Iterable[HrRecord]) -> list[Review]:
    """One review per self-manager and per loop (A manages B manages A), naming the rows.

    The manager attributes are still written as HR has them (a self-manager's stays empty): HR
    is the source, and the loop is HR's to fix.
    """
    by_id = {r.employee_id: r for r in records}
    reviews: list[Review] = []
    done: set[str] = set()  # ids whose chain has been followed to its end
    for start in sorted(by_id):
        path: list[str] = []
        on_path: dict[str, int] = {}
        current = start
        while current in by_id and current not in done and current not in on_path:
            on_path[current] = len(path)
            path.append(current)
            current = by_id[current].manager_id
        if current in on_path:  # the chain came back to itself: a loop
            loop = path[on_path[current]:]
            reviews.append(_review(loop, by_id))
        done.update(path)
    return reviews


def _review(loop: list[str], by_id: dict[str, HrRecord]) -> Review:
    first = by_id[min(loop)]
    rows = ", ".join(str(by_id[e].row) for e in sorted(loop, key=lambda e: by_id[e].row))
    if len(loop) == 1:
        return Review(
            ReviewKind.MANAGER_LOOP, first.employee_id, first.company, f"row {first.row}",
            f"employee {first.employee_id} is their own manager (row {first.row}); the manager attribute is left empty",
            "put the real manager's employee id in the manager column, or leave it empty",
        )
    start = loop.index(min(loop))
    ordered = loop[start:] + loop[:start]
    chain = " -> ".join(f"{e} (row {by_id[e].row})" for e in [*ordered, ordered[0]])
    return Review(
        ReviewKind.MANAGER_LOOP, first.employee_id, first.company, f"rows {rows}",
        f"the managers form a loop: {chain} (each is managed by the next); written as HR has them",
        "correct the manager column of these rows so the chain ends at someone without a manager",
    )
