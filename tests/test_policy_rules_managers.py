"""The manager-loop review, word for word (tests/MUTATION.md): which rows, in which order, for which company."""

from __future__ import annotations

from lifecycle.domain.models import Review, ReviewKind
from policies.managers import manager_chain_reviews
from tests.harness import person


def test_a_self_manager_review_names_the_row_the_company_and_the_fix() -> None:
    (review,) = manager_chain_reviews([person("20", "张三", "SZ", manager="20", row=7)])
    assert review == Review(
        ReviewKind.MANAGER_LOOP, "20", "SZ", "row 7",
        "employee 20 is their own manager (row 7); the manager attribute is left empty",
        "put the real manager's employee id in the manager column, or leave it empty",
    )


def test_a_loop_lists_its_rows_in_row_order_and_its_chain_from_the_smallest_id() -> None:
    # Entered from "1" (outside the loop) at "5": the loop is 5 -> 3 -> 5; its rows are 9 and 4.
    records = [person("1", "张三", "SZ", manager="5", row=2), person("5", "李四", "SZ", manager="3", row=9),
               person("3", "王五", "SZ", manager="5", row=4)]
    (review,) = manager_chain_reviews(records)
    assert review == Review(
        ReviewKind.MANAGER_LOOP, "3", "SZ", "rows 4, 9",
        "the managers form a loop: 3 (row 4) -> 5 (row 9) -> 3 (row 4) (each is managed by the next); "
        "written as HR has them",
        "correct the manager column of these rows so the chain ends at someone without a manager",
    )


def test_a_loop_is_reported_once_for_the_company_of_its_smallest_id() -> None:
    records = [person("b", "张三", "HQ", manager="a", row=3), person("a", "李四", "SZ", manager="b", row=5)]
    (review,) = manager_chain_reviews(records)
    assert (review.employee_id, review.company, review.target) == ("a", "SZ", "rows 3, 5")
    assert "a (row 5) -> b (row 3) -> a (row 5)" in review.reason
