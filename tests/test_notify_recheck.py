"""The outbox's re-check (MailCompanion.has_message): is a notice with this Message-ID in the recipient's mailbox?

Against the real test Dovecot (doveadm's HTTP API `search`), with the mail delivered the way a Modoboa server's
Postfix would (devservers/postfix.py), so the Message-ID is the one a delivered message really carries.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.mail_dovecot import DovecotCompanion, DovecotSettings
from connectors.mail_modoboa import ModoboaBackend
from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.postfix import deliver
from lifecycle.domain.errors import RecordError

ADDRESS = "wang.fang@example.com"


def companion_for(dovecot: DovecotInstance) -> DovecotCompanion:
    settings = DovecotSettings.model_validate(
        {"api_url": dovecot.api_url, "api_key": SecretStr(dovecot.api_key), "archive_dir": dovecot.archive_dir,
         "timeout_seconds": 10.0}
    )
    return DovecotCompanion(settings)


def test_has_message_finds_a_delivered_message_id_and_no_other(
    dovecot: DovecotInstance, modoboa: ModoboaInstance, mail_backend: ModoboaBackend
) -> None:
    mail_backend.ensure_domains(["example.com"])
    mail_backend.create_mailbox(ADDRESS, "Wang Fang", 100, "Initial-Pass-0000")
    other = "li.lei@example.com"
    mail_backend.create_mailbox(other, "Li Lei", 100, "Initial-Pass-0000")
    first = deliver(dovecot, modoboa.db_path, "it@example.com", ADDRESS, "one", "the first\n")
    second = deliver(dovecot, modoboa.db_path, "it@example.com", other, "two", "the second\n")
    assert first.delivered == (ADDRESS,) and second.delivered == (other,)
    # A second folder: the re-check looks in every folder (a user may have filed the notice away).
    dovecot.doveadm("mailbox", "create", "-u", ADDRESS, "Archive")
    dovecot.doveadm("move", "-u", ADDRESS, "Archive", "mailbox", "INBOX", "header", "Message-ID", first.message_id)
    third = deliver(dovecot, modoboa.db_path, "it@example.com", ADDRESS, "three", "the third\n")
    assert dovecot.message_count(ADDRESS) == 2

    with companion_for(dovecot) as companion:
        assert companion.has_message(ADDRESS, first.message_id) is True  # in Archive
        assert companion.has_message(ADDRESS, third.message_id) is True  # in INBOX
        assert companion.has_message(ADDRESS, second.message_id) is False  # another mailbox's
        assert companion.has_message(ADDRESS, "<never-sent@lifecycle.test>") is False
        assert companion.has_message(ADDRESS, first.message_id[:-1] + ".x>") is False
        # IMAP's HEADER search matches substrings: a part of a delivered Message-ID is refused, not "found".
        for partial in (first.message_id.strip("<>"), first.message_id[:-1], first.message_id[1:], "<a@b>\r\nBcc: x@y"):
            with pytest.raises(RecordError, match="not a Message-ID"):
                companion.has_message(ADDRESS, partial)
