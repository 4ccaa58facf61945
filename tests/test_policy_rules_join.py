"""Joining HR, the directory and the stored state (tests/MUTATION.md): who is matched to which
entry, and the reviews an admin reads when that is not clear."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from lifecycle.domain.models import DirectoryEntry, DirectorySnapshot, PersonState, RejectedRow, Review, ReviewKind, StoredState
from policies.context import PolicyContext
from policies.join import join_snapshots
from tests.harness import at, hr, make_settings, person

NOW = at("2026-12-01T09:00")
HQ = "ou=hq,ou=people,dc=example,dc=com"
LINA = f"uid=lina,{HQ}"


def settings(match_attribute: str = "mail"):
    return make_settings(Path("/nonexistent/policy-rules-join"), directory={"match_attribute": match_attribute})


def join(records, entries, persons=(), *, match_attribute: str = "mail", rejected=()):
    ctx = PolicyContext(settings(match_attribute), NOW)
    snapshot = hr(*records, rejected=tuple(rejected))
    return join_snapshots(snapshot, DirectorySnapshot(tuple(entries)), StoredState(tuple(persons)), ctx)


def lina(**fields) -> DirectoryEntry:
    values = {"dn": LINA, "uid": "lina", "cn": "李娜", "mail": "Li.Na@example.com"} | fields
    return DirectoryEntry(**values)


def hire(**fields):
    return replace(person("1", "李娜"), **fields)


# -- an entry without employeeNumber, matched by one attribute, waits for an admin -------------------

@pytest.mark.parametrize("attribute, record", [
    ("mail", hire(email="li.na@EXAMPLE.com")),
    ("uid", hire(account="LiNa")),
    ("cn", hire()),
])
def test_an_entry_matched_by_the_configured_attribute_waits_for_confirmation(attribute, record) -> None:
    joined = join([record], [lina()], match_attribute=attribute)
    assert joined.persons == [] and joined.unmatched == []
    assert joined.reviews == [Review(
        ReviewKind.CONFIRM_MATCH, "1", "HQ", LINA,
        f"entry {LINA} has no employeeNumber but its {attribute} matches employee 1 (李娜); "
        "waiting for confirmation before adopting it",
        "run `lifecycle adopt 1 lina` to confirm, or set employeeNumber on the entry",
    )]


@pytest.mark.parametrize("attribute", ["mail", "uid", "cn"])
def test_only_the_configured_attribute_matches(attribute: str) -> None:
    # HR's mail, account and name each match the entry's, but under another attribute than configured.
    others = {"mail": lina(uid="x", cn="x"), "uid": lina(mail="x@example.com", cn="x"),
              "cn": lina(mail="x@example.com", uid="x")}
    record = hire(email="li.na@example.com", account="lina")
    for configured, entry in others.items():
        joined = join([record], [entry], match_attribute=attribute)
        matched = [r.kind for r in joined.reviews] == [ReviewKind.CONFIRM_MATCH]
        assert matched == (configured == attribute), (configured, attribute)


def test_no_match_by_attribute_when_matching_is_off() -> None:
    joined = join([hire(email="li.na@example.com", account="lina")], [lina()], match_attribute="none")
    assert [(p.employee_id, p.entry) for p in joined.persons] == [("1", None)]  # a joiner
    assert joined.unmatched == [lina()]
    assert joined.reviews == [Review(
        ReviewKind.UNMATCHED_ENTRY, "", "HQ", LINA,
        "entry in a managed subtree matches no HR record; it is left untouched",
        "add the person to the HR export, set employeeNumber, or move the entry out of the managed subtree",
    )]


def test_an_unmatched_entry_names_its_employee_number_and_no_company_outside_the_subtrees() -> None:
    outside = DirectoryEntry(dn="uid=x,ou=other,dc=example,dc=com", uid="x", employee_number="77")
    (review,) = join([], [outside]).reviews
    assert (review.kind, review.employee_id, review.company, review.target) == (
        ReviewKind.UNMATCHED_ENTRY, "77", "", outside.dn)


def test_an_employee_linked_by_employee_number_is_not_matched_again_by_mail() -> None:
    numbered = lina(employee_number="1")
    unnumbered = lina(dn=f"uid=lina.old,{HQ}", uid="lina.old")  # the same mail, no employeeNumber
    joined = join([hire(email="li.na@example.com")], [numbered, unnumbered])
    assert [(p.employee_id, p.entry) for p in joined.persons] == [("1", numbered)]
    assert [(r.kind, r.target) for r in joined.reviews] == [(ReviewKind.UNMATCHED_ENTRY, unnumbered.dn)]


def test_a_match_waiting_for_confirmation_does_not_stop_the_employees_after_it() -> None:
    joined = join([hire(email="li.na@example.com"), person("2", "王五")], [lina()])
    assert [r.kind for r in joined.reviews] == [ReviewKind.CONFIRM_MATCH]
    assert [(p.employee_id, p.entry) for p in joined.persons] == [("2", None)]


def test_a_value_two_hr_rows_or_two_entries_share_matches_nobody() -> None:
    two_rows = [hire(email="li.na@example.com"), replace(person("2", "李娜"), email="li.na@example.com")]
    assert [r.kind for r in join(two_rows, [lina()]).reviews] == [ReviewKind.UNMATCHED_ENTRY]
    two_entries = [lina(), lina(dn=f"uid=lina2,{HQ}", uid="lina2")]
    assert [r.kind for r in join([hire(email="li.na@example.com")], two_entries).reviews] == [
        ReviewKind.UNMATCHED_ENTRY, ReviewKind.UNMATCHED_ENTRY]


def test_an_hr_row_without_the_value_matches_no_entry_without_it() -> None:
    joined = join([hire(email="")], [lina(mail="")])
    assert [r.kind for r in joined.reviews] == [ReviewKind.UNMATCHED_ENTRY]


# -- one employeeNumber on several entries ------------------------------------------------------------

def test_an_employee_number_on_three_entries_is_one_review_naming_all_of_them() -> None:
    dns = [f"uid=a,{HQ}", f"uid=b,{HQ}", f"uid=c,{HQ}"]
    entries = [DirectoryEntry(dn=dn, uid=dn[4], employee_number="1") for dn in dns]
    joined = join([hire()], entries)
    listed = ", ".join(dns)
    assert joined.reviews == [Review(
        ReviewKind.DUPLICATE_EMPLOYEE_NUMBER, "1", "HQ", listed,
        f"employeeNumber 1 is on several entries ({listed}); nothing is done for this employee",
        "remove employeeNumber from the entries that are not this person",
    )]
    assert joined.persons == [] and joined.unmatched == []
    review, *others = join([], entries).reviews  # a number nobody HR lists or we recorded: no company to name
    assert (review.kind, review.employee_id, review.company, review.target) == (
        ReviewKind.DUPLICATE_EMPLOYEE_NUMBER, "1", "", listed)
    assert [r.kind for r in others] == [ReviewKind.UNMATCHED_ENTRY] * 3


# -- ids a spreadsheet changed -------------------------------------------------------------------------

@pytest.mark.parametrize("known, new, change", [
    ("00123", "123", "leading zeros lost"),
    ("123", "00123", "leading zeros added"),
    ("gz0001", "GZ0001", "its letter case changed (the directory takes both as one employeeNumber)"),
])
def test_an_id_that_lost_or_gained_zeros_or_changed_case_is_a_review_and_blocks_both(known, new, change) -> None:
    stored = PersonState(known, "lina", "HQ", created_at=NOW - timedelta(days=30))
    joined = join([replace(person(new, "李娜"), row=5)], [lina(employee_number=known)], [stored])
    assert joined.reviews == [Review(
        ReviewKind.INCONSISTENT_RECORD, new, "HQ", "row 5",
        f"employee id {new} looks like the known id {known} with {change} "
        "(a spreadsheet may have changed the id column); neither is acted on until the ids agree",
        f"export the id column as text, exactly as before ({known}), or correct the id in HR",
    )]
    assert joined.blocked == frozenset({known, new}) and joined.persons == []



# -- a uid reserved for someone else, and rows never acted on ------------------------------------------

def test_an_entry_whose_uid_is_reserved_for_another_employee_is_not_taken_over() -> None:
    stored = [PersonState("2", "lina", "HQ", created_at=NOW - timedelta(days=30))]
    joined = join([hire(), person("2", "李娜二")], [lina(employee_number="1")], stored)
    assert joined.reviews == [Review(
        ReviewKind.DUPLICATE_EMPLOYEE_NUMBER, "1", "HQ", LINA,
        f"entry {LINA} carries employeeNumber 1, but its uid lina is reserved for employee 2; nothing is done for 1",
        "give the entry another uid, or correct its employeeNumber",
    )]
    assert [p.employee_id for p in joined.persons] == ["2"] and joined.unmatched == []


def test_the_review_of_someone_hr_no_longer_lists_names_the_recorded_company() -> None:
    stored = [PersonState("1", "zhang", "SZ", created_at=NOW - timedelta(days=30)),
              PersonState("2", "lina", "HQ", created_at=NOW - timedelta(days=30))]
    (review,) = join([person("2", "李娜二")], [lina(employee_number="1")], stored).reviews
    assert (review.employee_id, review.company) == ("1", "SZ")


def test_a_rejected_row_is_not_acted_on_and_its_entries_are_not_reported_as_unmatched() -> None:
    stored = [PersonState("1", "lina", "HQ", created_at=NOW - timedelta(days=30))]
    numbered = DirectoryEntry(dn=f"uid=lina.old,{HQ}", uid="lina.old", employee_number="1")
    by_uid = lina()  # the stored uid, without employeeNumber
    later = DirectoryEntry(dn=f"uid=wangwu,{HQ}", uid="wangwu", employee_number="3")
    rejected = [RejectedRow(4, "hire_date", "not a date", "correct the date", employee_id="1")]
    joined = join([person("3", "王五")], [by_uid, numbered, later], stored, rejected=rejected)
    assert joined.reviews == [] and joined.unmatched == []
    assert [(p.employee_id, p.entry) for p in joined.persons] == [("3", later)]  # the next employee still is
    assert "1" in joined.blocked


def stored(employee_id: str, uid: str = "lina") -> PersonState:
    return PersonState(employee_id, uid, "HQ", created_at=NOW - timedelta(days=30))


def inconsistent(joined) -> list[str]:
    return [r.employee_id for r in joined.reviews if r.kind is ReviewKind.INCONSISTENT_RECORD]


def test_a_known_id_only_the_state_or_only_the_directory_holds_is_recognised_without_its_zeros() -> None:
    assert inconsistent(join([person("123", "李娜")], [], [stored("00123")])) == ["123"]
    assert inconsistent(join([person("123", "李娜")], [lina(employee_number="00123")])) == ["123"]


def test_a_new_id_that_differs_by_a_leading_letter_is_another_employee() -> None:
    assert inconsistent(join([person("123", "李娜")], [], [stored("X123")])) == []
    assert inconsistent(join([person("X123", "李娜")], [], [stored("123")])) == []


def test_an_id_we_already_know_is_not_taken_for_a_mangled_one() -> None:
    # 123 is known (stored, its entry gone) and still in HR; 0123, another known id, left.
    joined = join([person("123", "李娜")], [], [stored("123"), stored("0123", "wangwu")])
    assert inconsistent(joined) == []
