"""Where an initial password is sealed ([accounts] initial_password_delivery), and the rehire's fresh password:
set in the real directory by the executor, and set again with the same sealed password after a crash."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from ldap3 import Connection, Server
from sqlalchemy import select

from connectors.ldap import LdapDirectory
from devservers.slapd import Slapd, ssha
from lifecycle.domain.action_params import PasswordResetParams
from lifecycle.domain.errors import ConfigError
from lifecycle.domain.models import Action, ActionKind, Plan
from lifecycle.domain.settings import DirectorySettings
from lifecycle.engine.apply import Executor
from lifecycle.engine.recovery import recover
from lifecycle.engine.vault import CredentialVault, Recipient
from lifecycle.journal.action_log import ActionStatus
from lifecycle.journal.schema import sealed_passwords
from lifecycle.journal.sealed import Reveal, SealedPasswords, load_key
from lifecycle.journal.store import Journal
from tests.conftest import HQ_PEOPLE_DN
from tests.harness import make_settings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OLD_PASSWORD = "Old-Initial-Pw-1"


def key_file(folder: Path, size: int = 32) -> Path:
    path = folder / "password-key"
    path.write_bytes(os.urandom(size))
    return path


def console_vault(tmp_path: Path) -> tuple[CredentialVault, Journal]:
    settings = make_settings(tmp_path, accounts={"initial_password_delivery": "console",
                                                 "password_key_file": str(key_file(tmp_path))})
    journal = Journal(settings.state.url)
    return CredentialVault.for_settings(settings.accounts, journal.engine), journal


# -- where passwords are sealed -----------------------------------------------------------------------------


def test_file_delivery_seals_one_folder_per_company_and_still_reads_the_flat_files(tmp_path: Path) -> None:
    vault = CredentialVault(tmp_path / "credentials", 16)
    passwords = vault.issue_many([Recipient("1", "u1", "u1@sz.example.com", "SZ"), Recipient("2", "u2", "u2@example.com", "HQ"),
                                  Recipient("3", "u3", "u3@sz.example.com", "SZ")])
    for employee_id, company in (("1", "SZ"), ("2", "HQ"), ("3", "SZ")):
        path = tmp_path / "credentials" / company / f"{employee_id}.txt"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert f"initial_password: {passwords[employee_id]}" in path.read_text(encoding="utf-8")
        assert vault.read_password(employee_id, company) == passwords[employee_id]
        assert vault.read_password(employee_id) == passwords[employee_id]  # found without the company too
    assert stat.S_IMODE((tmp_path / "credentials" / "SZ").stat().st_mode) == 0o700
    assert vault.read_password("1", "HQ") is None  # another company's folder is not looked in
    assert not list((tmp_path / "credentials").rglob("*.tmp"))
    # A file sealed before the folders, at the top: read where it is.
    (tmp_path / "credentials" / "9.txt").write_text("employee_id: 9\nlogin: u9\nmail: u9@example.com\n"
                                                    "initial_password: Flat-Pw-9\n", encoding="utf-8")
    assert vault.read_password("9", "HQ") == "Flat-Pw-9" and vault.read_password("9") == "Flat-Pw-9"
    with pytest.raises(ValueError, match="cannot name a folder"):
        vault.issue("4", "u4", "u4@example.com", "../HQ")


def test_personal_email_delivery_reads_and_destroys_the_sealed_file(tmp_path: Path) -> None:
    vault = CredentialVault(tmp_path / "credentials", 16, delivery="personal_email")
    password = vault.issue("1", "u1", "u1@sz.example.com", "SZ")
    assert vault.read_password("1", "SZ") == password
    vault.destroy("1", "SZ")
    assert vault.read_password("1", "SZ") is None and not (tmp_path / "credentials" / "SZ" / "1.txt").exists()
    vault.destroy("1", "SZ")  # destroying twice (a resent confirmation) is harmless


def test_console_delivery_seals_in_the_state_store_encrypted_and_no_file(tmp_path: Path) -> None:
    vault, journal = console_vault(tmp_path)
    try:
        passwords = vault.issue_many([Recipient("1", "u1", "u1@sz.example.com", "SZ"),
                                      Recipient("2", "u2", "u2@example.com", "HQ")])
        with journal.engine.connect() as conn:
            rows = {r["employee_id"]: dict(r) for r in conn.execute(select(sealed_passwords)).mappings()}
        assert set(rows) == {"1", "2"}
        assert rows["1"]["company"] == "SZ" and rows["1"]["uid"] == "u1" and rows["1"]["mail"] == "u1@sz.example.com"
        for employee_id, password in passwords.items():
            assert password not in rows[employee_id]["sealed"]
            assert vault.read_password(employee_id) == password
        database = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
        assert all(p.encode() not in database for p in passwords.values())  # nowhere in the store's files
        assert not (tmp_path / "credentials").exists()
        # Another key opens nothing.
        (tmp_path / "other").mkdir()
        other = SealedPasswords(journal.engine, load_key(key_file(tmp_path / "other")))
        assert other.read("1") is None
        # A second issue for the same person (a rehire before the first was revealed) replaces the row.
        again = vault.issue("1", "u1", "u1@sz.example.com", "SZ")
        assert vault.read_password("1") == again != passwords["1"]
        vault.destroy("1")
        assert vault.read_password("1") is None
    finally:
        journal.close()


def test_a_reveal_opens_only_a_row_of_the_callers_companies_and_says_only_their_reveals(tmp_path: Path) -> None:
    vault, journal = console_vault(tmp_path)
    try:
        passwords = vault.issue_many([Recipient("1", "u1", "u1@sz.example.com", "SZ")])
        sealed = vault.sealed
        assert sealed is not None
        reveal = partial(sealed.reveal, "1", actor="gzadmin", origin="console 203.0.113.7", reason="curious", now=NOW)
        assert reveal(companies=["GZ", ""]) is None  # another company's row: nothing, and it stays
        assert sealed.read("1") == passwords["1"]
        opened = reveal(companies=["GZ", "SZ"], actor="groupadmin")
        assert opened is not None and opened.password == passwords["1"] and sealed.read("1") is None
        # Gone: its reveal is named to its company's callers only.
        again = reveal(companies=["SZ"])
        assert again is not None and (again.password, again.revealed_by) == (None, "groupadmin")
        assert reveal(companies=["GZ"]) == Reveal(None)
    finally:
        journal.close()


def test_a_key_file_too_short_or_missing_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"holds 31 bytes; it needs 32 or more random bytes: `head -c 32"):
        load_key(key_file(tmp_path, 31))
    with pytest.raises(ConfigError, match=r"password_key_file .*nowhere.*head -c 32 /dev/urandom"):
        load_key(tmp_path / "nowhere")
    assert load_key(key_file(tmp_path, 64)) is not None  # any 32 or more bytes


# -- the rehire's fresh password, in the real directory ---------------------------------------------------------


DN = f"uid=zhang.wei,{HQ_PEOPLE_DN}"


def reset_action() -> Action:
    return Action(ActionKind.RESET_PASSWORD, "100001", "HQ", DN, "rehire", "rehired: a fresh initial password",
                  params=PasswordResetParams(DN, "zhang.wei", "zhang.wei@example.com",
                                                {"uid": "zhang.wei", "company": "HQ", "status": "active"}))


@pytest.fixture
def rehired(slapd: Slapd) -> Slapd:
    """A person back from a leave, with the password they had before."""
    slapd.load_ldif(f"dn: {DN}\nobjectClass: inetOrgPerson\nuid: zhang.wei\ncn: Zhang Wei\nsn: Zhang\n"
                    f"employeeNumber: 100001\nmail: zhang.wei@example.com\nuserPassword: {ssha(OLD_PASSWORD)}\n")
    return slapd


def binds(slapd: Slapd, password: str) -> bool:
    return bool(Connection(Server(slapd.url), DN, password).bind())


def password_reset_flag(slapd: Slapd) -> object:
    admin = Connection(Server(slapd.url), slapd.admin_dn, slapd.admin_password, auto_bind=True)
    admin.search(DN, "(objectClass=*)", search_scope="BASE", attributes=["pwdReset"])
    return admin.entries[0].pwdReset.value


@pytest.mark.parametrize("delivery", ["file", "console"])
def test_reset_password_sets_a_fresh_sealed_password_that_must_be_changed(
    tmp_path: Path, rehired: Slapd, directory_settings: DirectorySettings, companies, delivery: str
) -> None:
    settings = make_settings(tmp_path, accounts={"initial_password_delivery": delivery,
                                                 "password_key_file": str(key_file(tmp_path))})
    journal = Journal(settings.state.url)
    vault = CredentialVault.for_settings(settings.accounts, journal.engine)
    with LdapDirectory(directory_settings, companies) as directory:
        result = Executor(directory, journal, vault, "test").apply(Plan(NOW, (reset_action(),)),
                                                                   journal.begin_run("apply", NOW))
    assert result.ok and result.counts[ActionStatus.APPLIED] == 1
    fresh = vault.read_password("100001", "HQ")
    assert fresh and fresh != OLD_PASSWORD
    assert not binds(rehired, OLD_PASSWORD) and binds(rehired, fresh)
    assert password_reset_flag(rehired) is True
    if delivery == "file":
        assert (tmp_path / "credentials" / "HQ" / "100001.txt").exists()
    entries = [e for e in journal.entries() if e.kind == "reset_password"]
    assert [e.status for e in entries] == ["applied"]
    assert fresh not in str([e.to_dict() for e in entries]) + str([e.params for e in entries])
    journal.close()


@pytest.mark.parametrize("delivery", ["file", "console"])
def test_an_interrupted_reset_is_done_again_with_the_password_sealed_for_it(
    tmp_path: Path, rehired: Slapd, directory_settings: DirectorySettings, companies, delivery: str
) -> None:
    settings = make_settings(tmp_path, accounts={"initial_password_delivery": delivery,
                                                 "password_key_file": str(key_file(tmp_path))})
    journal = Journal(settings.state.url)
    vault = CredentialVault.for_settings(settings.accounts, journal.engine)
    action = reset_action()
    # The crash: the write-ahead row and the sealed password are there, the request never went.
    journal.begin_actions(journal.begin_run("apply", NOW), [(action, ActionStatus.PENDING, "")], NOW, "test")
    sealed = vault.issue_for([action])["100001"]
    with LdapDirectory(directory_settings, companies) as directory:
        settled = recover(journal, directory, None, vault)
    assert [e.kind for e in settled] == ["reset_password"]
    assert journal.pending_actions() == []
    assert [e.status for e in journal.entries() if e.kind == "reset_password"] == ["applied"]
    assert binds(rehired, sealed) and not binds(rehired, OLD_PASSWORD)  # the one sealed, never a second one
    assert vault.read_password("100001", "HQ") == sealed
    journal.close()


def test_an_interrupted_reset_with_no_password_sealed_for_it_is_replanned(
    tmp_path: Path, rehired: Slapd, directory_settings: DirectorySettings, companies
) -> None:
    settings = make_settings(tmp_path)
    journal = Journal(settings.state.url)
    vault = CredentialVault.for_settings(settings.accounts, journal.engine)
    # The hire's initial password, sealed long before: not this reset's, never set again by the recovery.
    vault.issue("100001", "zhang.wei", "zhang.wei@example.com", "HQ")
    hire_file = tmp_path / "credentials" / "HQ" / "100001.txt"
    old = (datetime.now(UTC) - timedelta(days=400)).timestamp()
    os.utime(hire_file, (old, old))
    journal.begin_actions(journal.begin_run("apply", NOW), [(reset_action(), ActionStatus.PENDING, "")], NOW, "test")
    with LdapDirectory(directory_settings, companies) as directory:
        recover(journal, directory, None, vault)
    assert [e.status for e in journal.entries() if e.kind == "reset_password"] == ["interrupted"]
    assert binds(rehired, OLD_PASSWORD)  # untouched: the next plan asks again
    journal.close()
