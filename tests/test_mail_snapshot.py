"""MailSnapshot keeps its mailboxes column by column: the same answers as a tuple of Mailbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifecycle.mail import Alias, Mailbox, Mailboxes, MailSnapshot

WHEN = datetime(2026, 11, 1, tzinfo=UTC)


def box(address: str, **fields) -> Mailbox:
    values = {"display_name": address.split("@")[0].title(), "quota_mb": 1024, "is_active": True, "last_login": None,
              "created": WHEN} | fields
    return Mailbox(address, **values)


def test_mailboxes_answer_as_the_tuple_they_were_made_from() -> None:
    boxes = [box("wang@example.com", forward_to=("li@example.com",), forward_keeps_copy=True),
             box("li@example.com", is_active=False, last_login=WHEN, quota_mb=0),
             box("zhao@example.com"), box("li@example.com", display_name="second")]
    snapshot = MailSnapshot(tuple(boxes), (Alias("team@example.com", ("li@example.com",), True),), ("example.com",))
    ordered = sorted(boxes, key=lambda b: b.address)  # stable: the first li@ stays first
    assert isinstance(snapshot.mailboxes, Mailboxes)
    assert snapshot.mailboxes == tuple(ordered) and list(snapshot.mailboxes) == ordered
    assert snapshot.mailboxes[0] == ordered[0] and snapshot.mailboxes[-1] == ordered[-1]
    assert snapshot.mailboxes[1:3] == tuple(ordered[1:3]) and len(snapshot.mailboxes) == 4
    with pytest.raises(IndexError):
        snapshot.mailboxes[4]
    assert snapshot.mailbox("LI@example.com") == boxes[1]  # the first of two, as a scan finds it
    assert snapshot.mailbox("wang@example.com").forward_to == ("li@example.com",)
    assert snapshot.mailbox("wang@example.com").forward_keeps_copy is True
    assert snapshot.mailbox("nobody@example.com") is None and snapshot.mailbox("") is None
    assert snapshot.alias("Team@example.com").recipients == ("li@example.com",)
    assert sorted(set(snapshot.strings())) == sorted({b.address for b in boxes} | {b.display_name for b in boxes})
