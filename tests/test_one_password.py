"""One password per account: IMAP checks the directory's password, and only it (real slapd, Modoboa, Dovecot).

The person is made the way the engine makes one (the directory connector's create_person with the
sealed initial password, so pwdReset is TRUE; the mailbox created without a password); the
employee changes the password with an LDAP Password Modify bound as themself, as the console's
/password page does.  Dovecot's passdb chain is devservers/dovecot_config.py's.
"""

from __future__ import annotations

import logging
import sqlite3
import warnings
from collections.abc import Iterator

import pytest
from ldap3 import Connection, Server

from connectors.ldap import LdapDirectory
from connectors.mail_modoboa import ModoboaBackend
from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.slapd import Slapd
from lifecycle.domain.settings import CompanySettings, DirectorySettings
from tests.conftest import HQ_PEOPLE_DN
from tests.mail_fixtures import PASSWORD_PAGE

ADDRESS = "zhangwei@example.com"
INITIAL, CHOSEN = "Initial-Pass-7x4q", "Chosen-by-Zhang-2027"
REFUSED = "[AUTHENTICATIONFAILED] Authentication failed."
MUST_CHANGE = f"[EXPIRED] Your password must be changed first: {PASSWORD_PAGE}"


@pytest.fixture
def directory(directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]) -> Iterator[LdapDirectory]:
    with LdapDirectory(directory_settings, companies) as connector:
        yield connector


def add_person(directory: LdapDirectory, uid: str, address: str, password: str) -> str:
    """An entry as the engine creates one: with the sealed initial password, pwdReset TRUE."""
    dn = directory.person_dn(uid, HQ_PEOPLE_DN)
    attributes = {"uid": uid, "cn": "张伟", "sn": "张", "employeeNumber": f"E-{uid}", "mail": address}
    directory.create_person(dn, attributes, password)
    return dn


def add_mailbox(backend: ModoboaBackend, address: str) -> None:
    """A mailbox as the engine creates one: no password of its own."""
    backend.ensure_domains([address.partition("@")[2]])
    backend.create_mailbox(address, "张伟", 100)


def change_password(slapd: Slapd, dn: str, old: str, new: str) -> None:
    """LDAP Password Modify (RFC 3062) bound as the person, as the console's /password page does."""
    with Connection(Server(slapd.url), dn, old, auto_bind=True) as as_person:
        assert as_person.extend.standard.modify_password(dn, old, new), as_person.result


def test_the_initial_password_is_refused_with_the_change_page_and_then_the_chosen_one_alone_opens_imap(
    slapd: Slapd, directory: LdapDirectory, mail_backend: ModoboaBackend, dovecot: DovecotInstance
) -> None:
    dn = add_person(directory, "zhangwei", ADDRESS, INITIAL)
    add_mailbox(mail_backend, ADDRESS)

    assert dovecot.login(ADDRESS, INITIAL) == MUST_CHANGE
    assert dovecot.login(ADDRESS.upper(), INITIAL) == MUST_CHANGE  # the directory matches mail case-insensitively
    # A wrong password says nothing about pwdReset: the answer of an unknown address.
    assert dovecot.login(ADDRESS, "Not-The-Password-1") == REFUSED == dovecot.login("nobody@example.com", INITIAL)

    change_password(slapd, dn, INITIAL, CHOSEN)
    assert dovecot.login(ADDRESS, CHOSEN) == "OK"
    assert dovecot.login(ADDRESS, INITIAL) == REFUSED

    directory.lock(dn)  # how the daemon suspends an account
    assert dovecot.login(ADDRESS, CHOSEN) == REFUSED
    directory.unlock(dn)
    assert dovecot.login(ADDRESS, CHOSEN) == "OK"

    # A rehire: a fresh initial password, again to be changed first; the old chosen one is gone.
    directory.set_password(dn, "Fresh-Initial-9k2m")
    assert dovecot.login(ADDRESS, "Fresh-Initial-9k2m") == MUST_CHANGE
    assert dovecot.login(ADDRESS, CHOSEN) == REFUSED


def test_a_password_set_in_modoboa_opens_nothing(
    slapd: Slapd, directory: LdapDirectory, mail_backend: ModoboaBackend, dovecot: DovecotInstance
) -> None:
    dn = add_person(directory, "zhangwei", ADDRESS, INITIAL)
    add_mailbox(mail_backend, ADDRESS)
    change_password(slapd, dn, INITIAL, CHOSEN)

    in_modoboa = "Set-In-Modoboa-2027"
    api = mail_backend.api  # the admin API itself: the port no longer sets mailbox passwords
    api.patch_account(api.account(ADDRESS), {"password": in_modoboa}, what="set a password", secrets=(in_modoboa,))
    assert dovecot.login(ADDRESS, in_modoboa) == REFUSED
    assert dovecot.login(ADDRESS, CHOSEN) == "OK"


def test_the_mailbox_must_exist_and_be_active_in_modoboa(
    slapd: Slapd, directory: LdapDirectory, mail_backend: ModoboaBackend, dovecot: DovecotInstance
) -> None:
    dn = add_person(directory, "zhangwei", ADDRESS, INITIAL)
    change_password(slapd, dn, INITIAL, CHOSEN)
    assert dovecot.login(ADDRESS, CHOSEN) == REFUSED  # a directory entry alone has no mail
    add_mailbox(mail_backend, ADDRESS)
    assert dovecot.login(ADDRESS, CHOSEN) == "OK"
    mail_backend.suspend(ADDRESS)
    assert dovecot.login(ADDRESS, CHOSEN) == REFUSED
    mail_backend.restore(ADDRESS)
    assert dovecot.login(ADDRESS, CHOSEN) == "OK"


def test_modoboas_own_web_login_checks_the_directory_too(
    slapd: Slapd, directory: LdapDirectory, modoboa: ModoboaInstance, mail_backend: ModoboaBackend
) -> None:
    """Modoboa's LDAP authentication (devservers/modoboa.py use_directory()): its login page, not only IMAP."""
    dn = add_person(directory, "zhangwei", ADDRESS, INITIAL)
    add_mailbox(mail_backend, ADDRESS)
    assert not modoboa.web_login(ADDRESS, INITIAL)  # before: Modoboa's own (throwaway) password, which nobody knows
    modoboa.use_directory(slapd.url, slapd.base_dn, slapd.admin_dn, slapd.admin_password)

    assert not modoboa.web_login(ADDRESS, INITIAL)  # pwdReset: to be changed first, on the console's page
    change_password(slapd, dn, INITIAL, CHOSEN)
    assert modoboa.web_login(ADDRESS, CHOSEN)
    box = mail_backend.find_mailbox(ADDRESS)
    assert box is not None and box.display_name == "张伟"  # the login did not copy the entry's sn over it
    assert not modoboa.web_login(ADDRESS, INITIAL)
    directory.lock(dn)
    assert not modoboa.web_login(ADDRESS, CHOSEN)
    directory.unlock(dn)
    mail_backend.suspend(ADDRESS)
    assert not modoboa.web_login(ADDRESS, CHOSEN)


def test_without_a_directory_every_login_is_refused_and_says_why(mail_backend: ModoboaBackend, dovecot: DovecotInstance) -> None:
    add_mailbox(mail_backend, ADDRESS)
    answer = dovecot.login(ADDRESS, INITIAL)
    assert "no-directory" in answer and "use_directory" in answer


def test_a_mailbox_created_without_a_password_gets_a_throwaway_one_nobody_knows(
    modoboa: ModoboaInstance, mail_backend: ModoboaBackend, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Modoboa's API insists on a password: each mailbox gets a random value, sent once and kept nowhere."""
    from connectors.mail_modoboa import backend as backend_module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # Python 3.11 still has it; Modoboa stores {SHA512-CRYPT}

    real, sent = backend_module.throwaway_password, []
    monkeypatch.setattr(backend_module, "throwaway_password", lambda: sent.append(real()) or sent[-1])
    mail_backend.ensure_domains(["example.com"])
    addresses = ("one@example.com", "two@example.com")
    with caplog.at_level(logging.DEBUG):
        made = [mail_backend.create_mailbox(address, "x", 10) for address in addresses]
    assert len(sent) == 2 and sent[0] != sent[1] and min(len(value) for value in sent) >= 48
    with sqlite3.connect(f"file:{modoboa.db_path}?mode=ro", uri=True) as connection:
        for value, address in zip(sent, addresses, strict=True):
            stored = connection.execute("SELECT password FROM core_user WHERE username=?", (address,)).fetchone()[0]
            hashed = stored.removeprefix("{SHA512-CRYPT}")
            assert crypt.crypt(value, hashed) == hashed  # what Modoboa stored, and only Modoboa
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err + repr(made)
    assert "mail.mailbox_created" in everything and not any(value in everything for value in sent)
