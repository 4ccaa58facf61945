"""MailSnapshot keeps its mailboxes column by column: the same answers as a tuple of Mailbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifecycle.domain.mail import Alias, Mailbox, Mailboxes, MailboxesBuilder, MailSnapshot

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


def test_a_builder_fed_part_by_part_gives_the_same_mailboxes() -> None:
    shanghai = datetime(2026, 11, 2, 9, 30, 15, 123456).astimezone()  # any aware time comes back as the same instant
    boxes = [box("zhao@b.example.com", display_name="赵\x00伟\n", last_login=shanghai),
             box("wang@a.example.com", forward_to=("li@a.example.com",), forward_keeps_copy=True, created=None),
             box("li@a.example.com", is_active=False, quota_mb=0, last_login=datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)),
             box("li@a.example.com", display_name="second"), box("empty@a.example.com", display_name="")]
    builder = MailboxesBuilder()
    for part in (boxes[:1], boxes[1:4], [], boxes[4:]):  # a domain at a time
        for b in part:
            builder.add(b)
        builder.flush()
    built = builder.build()
    assert isinstance(built, Mailboxes) and built == Mailboxes(boxes) == tuple(sorted(boxes, key=lambda b: b.address))
    assert built.find("li@a.example.com") == boxes[2] and built.find("zhao@b.example.com").display_name == "赵\x00伟\n"
    assert built.find("zhao@b.example.com").last_login == shanghai and built.find("wang@a.example.com").created is None
    assert built.find("wang@a.example.com").forward_to == ("li@a.example.com",)
    assert MailboxesBuilder().build() == ()
