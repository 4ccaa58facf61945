"""Aliases against a real Modoboa 2.12: transfers there and back, the expiry of a transfer alias, and which
aliases the daemon may change (tests/mail_fixtures.py; delivery as Postfix's alias map resolves it)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from connectors.mail_modoboa import ModoboaBackend
from devservers.modoboa import ModoboaInstance
from lifecycle.domain.errors import AlreadyExistsError, RecordError
from tests.test_mail_modoboa import BRANCH, DOMAIN, PASSWORD, api, postfix_resolves


def test_a_mailbox_renamed_back_after_its_transfer_alias_expired_still_gets_its_mail(
    modoboa: ModoboaInstance, mail_backend: ModoboaBackend
) -> None:
    """Suspended once (Modoboa's hidden self-alias stays disabled), transferred, and back after the transfer
    alias at the old address expired: the mailbox takes that alias over as its own, and restore() must not
    leave delivery resting on an expired alias."""
    db, home, away = modoboa.db_path, f"w@{DOMAIN}", f"w@{BRANCH}"
    mail_backend.ensure_domains([DOMAIN, BRANCH])
    mail_backend.create_mailbox(home, "W", 10, PASSWORD)
    mail_backend.rename_mailbox(home, away)
    mail_backend.create_alias(home, [away], expires=datetime.now(UTC) + timedelta(seconds=2))
    mail_backend.suspend(away)  # suspended for inactivity, say, and back
    mail_backend.restore(away)
    assert postfix_resolves(db, away) == [away] and postfix_resolves(db, home) == [away]
    time.sleep(3.2)  # Postfix compares whole seconds: an expiry ends up to 1 s late
    assert postfix_resolves(db, home) == []  # the transfer alias has expired
    expired = mail_backend.read_snapshot([DOMAIN, BRANCH]).alias(home)
    assert expired is not None and not expired.is_active and expired.expires is not None

    mail_backend.rename_mailbox(away, home)
    mail_backend.restore(home)
    assert postfix_resolves(db, home) == [home]
    box = mail_backend.read_snapshot([DOMAIN, BRANCH]).mailbox(home)
    assert box is not None and box.is_active and box.forward_to == ()


def test_a_mailbox_renamed_back_before_its_transfer_alias_expires_keeps_its_mail_after(
    modoboa: ModoboaInstance, mail_backend: ModoboaBackend
) -> None:
    db, home, away = modoboa.db_path, f"v@{DOMAIN}", f"v@{BRANCH}"
    mail_backend.ensure_domains([DOMAIN, BRANCH])
    mail_backend.create_mailbox(home, "V", 10, PASSWORD)
    mail_backend.rename_mailbox(home, away)
    mail_backend.create_alias(home, [away], expires=datetime.now(UTC) + timedelta(seconds=2))
    mail_backend.suspend(away)
    mail_backend.restore(away)
    mail_backend.rename_mailbox(away, home)
    mail_backend.restore(home)
    time.sleep(3.2)  # Postfix compares whole seconds: an expiry ends up to 1 s late  # the expiry the alias had when the mailbox came back
    assert postfix_resolves(db, home) == [home]


def test_the_transfer_alias_expires_although_the_mailbox_had_an_alias_at_the_old_address(
    modoboa: ModoboaInstance, mail_backend: ModoboaBackend
) -> None:
    """Modoboa's rename leaves the mailbox's own alias (made by restore) at the old address, to the new one and
    without an expiry: the old address must not forward for ever, so the planned transfer alias gets its expiry."""
    db, home, away = modoboa.db_path, f"t@{DOMAIN}", f"t@{BRANCH}"
    mail_backend.ensure_domains([DOMAIN, BRANCH])
    mail_backend.create_mailbox(home, "T", 10, PASSWORD)
    mail_backend.restore(home)  # delivery through the visible self-alias, as after any rehire or transfer
    mail_backend.rename_mailbox(home, away)
    mail_backend.create_alias(home, [away], expires=datetime.now(UTC) + timedelta(seconds=2))
    alias = mail_backend.read_snapshot([DOMAIN, BRANCH]).alias(home)
    assert alias is not None and alias.expires is not None and alias.managed and alias.is_active
    assert postfix_resolves(db, home) == [away] and postfix_resolves(db, away) == [away]
    time.sleep(3.2)  # Postfix compares whole seconds: an expiry ends up to 1 s late
    assert postfix_resolves(db, home) == [] and postfix_resolves(db, away) == [away]


def test_an_alias_with_the_planned_recipients_gets_the_planned_expiry(
    modoboa: ModoboaInstance, mail_backend: ModoboaBackend
) -> None:
    """What an interrupted run, or an older version's rename, left at the old address: it becomes the transfer alias."""
    home, away = f"s@{DOMAIN}", f"s@{BRANCH}"
    mail_backend.ensure_domains([DOMAIN, BRANCH])
    mail_backend.create_mailbox(away, "S", 10, PASSWORD)
    with api(modoboa) as client:
        made = client.post("/aliases/", json={"address": home, "recipients": [away], "enabled": True})
        assert made.status_code == 201, made.text
    expires = datetime.now(UTC) + timedelta(days=180)
    mail_backend.create_alias(home, [away], expires=expires)
    alias = mail_backend.find_alias(home)
    assert alias is not None and alias.managed and alias.expires is not None
    assert abs((alias.expires - expires).total_seconds()) < 1
    with pytest.raises(AlreadyExistsError):  # an alias to anyone else there is not replaced
        mail_backend.create_alias(home, [f"someone@{DOMAIN}"])


def test_a_rename_takes_the_mailbox_s_forward_along(modoboa: ModoboaInstance, mail_backend: ModoboaBackend) -> None:
    """A leaver's forward at the old address would go on to the manager for ever after a rehire elsewhere."""
    db, home, away, boss = modoboa.db_path, f"r@{DOMAIN}", f"r@{BRANCH}", f"boss@{DOMAIN}"
    mail_backend.ensure_domains([DOMAIN, BRANCH])
    mail_backend.create_mailbox(boss, "Boss", 10, PASSWORD)
    mail_backend.create_mailbox(home, "R", 10, PASSWORD)
    mail_backend.suspend(home)
    mail_backend.set_forward(home, [boss], keep_copy=False)
    mail_backend.restore(home)
    mail_backend.rename_mailbox(home, away)
    snapshot = mail_backend.read_snapshot([DOMAIN, BRANCH])
    assert snapshot.alias(home) is None
    box = snapshot.mailbox(away)
    assert box is not None and box.forward_to == (boss,)
    mail_backend.clear_forward(away)
    assert postfix_resolves(db, home) == [] and postfix_resolves(db, away) == [away]
    before = mail_backend.read_snapshot([DOMAIN, BRANCH])
    mail_backend.rename_mailbox(home, away)  # again (an interrupted run): nothing moves
    assert mail_backend.read_snapshot([DOMAIN, BRANCH]) == before
    assert postfix_resolves(db, away) == [away]


def test_only_the_daemon_s_own_unchanged_aliases_are_managed_and_removable(
    modoboa: ModoboaInstance, mail_backend: ModoboaBackend
) -> None:
    db, manager, other = modoboa.db_path, f"boss@{DOMAIN}", "desk@elsewhere.org"
    mail_backend.ensure_domains([DOMAIN])
    mail_backend.create_mailbox(manager, "Boss", 10, PASSWORD)
    mail_backend.create_alias(f"gone@{DOMAIN}", [manager])
    with api(modoboa) as client:  # what an admin makes in Modoboa's UI: no description
        made = client.post("/aliases/", json={"address": f"team@{DOMAIN}", "recipients": [manager], "enabled": True})
        assert made.status_code == 201, made.text
        mine = client.post("/aliases/", json={"address": f"moved@{DOMAIN}", "recipients": [manager], "enabled": True})
        assert mine.status_code == 201, mine.text
    snapshot = mail_backend.read_snapshot([DOMAIN])
    assert {a.address: a.managed for a in snapshot.aliases} == {
        f"gone@{DOMAIN}": True, f"team@{DOMAIN}": False, f"moved@{DOMAIN}": False}

    mail_backend.create_alias(f"left@{DOMAIN}", [manager])
    with api(modoboa) as client:  # an admin re-points the daemon's alias: it is theirs now
        row = client.get("/aliases/", params={"search": f"left@{DOMAIN}"}).json()["results"][0]
        assert client.patch(f"/aliases/{row['pk']}/", json={"recipients": [other], "enabled": True}).status_code == 200
    left = mail_backend.find_alias(f"left@{DOMAIN}")
    assert left is not None and left.recipients == (other,) and not left.managed
    with pytest.raises(RecordError, match="changed"):
        mail_backend.delete_alias(f"left@{DOMAIN}", [manager])
    with pytest.raises(RecordError, match="changed"):
        mail_backend.delete_alias(f"team@{DOMAIN}", [manager])  # same recipients, but not made by the daemon
    assert postfix_resolves(db, f"left@{DOMAIN}") == [other] and postfix_resolves(db, f"team@{DOMAIN}") == [manager]

    mail_backend.delete_alias(f"gone@{DOMAIN}", [manager])
    assert mail_backend.find_alias(f"gone@{DOMAIN}") is None and postfix_resolves(db, f"gone@{DOMAIN}") == []
    mail_backend.delete_alias(f"gone@{DOMAIN}", [manager])  # gone already: done
    mail_backend.set_forward(manager, [other])
    with pytest.raises(RecordError, match="forward"):
        mail_backend.delete_alias(manager)
