"""The mail archive as the Deploy section lays it out: written by Dovecot's mail user, verified by the service user.

The shipped tmpfiles config is applied with `systemd-tmpfiles --root` under the
Dovecot test instance's data directory (the mail user can reach it), with
stand-in ids for the service user and group (the host has no `lifecycle`
user), and the README's one hand step (`chown <mail user>` of the archive).
Then the companion backs up a mailbox from a process that is the service user
alone (not root: no capability bypasses the modes), the way the daemon does:
a real `doveadm backup` writes the archive, and the verification counts it
through Dovecot (`fs iter`), since the service user cannot read what Dovecot
wrote (measured: 0700 folders, 0600 files, whatever archive_dir's mode).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.mail_dovecot import DovecotCompanion, DovecotSettings, count_maildir
from connectors.mail_modoboa import ModoboaBackend
from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.postfix import deliver
from tests.as_user import run_as

ROOT = Path(__file__).resolve().parent.parent
TMPFILES = ROOT / "systemd" / "lifecycle.tmpfiles"
# Ids no account on the host has: the service user and group stand-ins.
SERVICE_UID = SERVICE_GID = 64_990
ARCHIVE = Path("var/lib/lifecycle/archive")
MAIL_USER = "mail"  # the test Dovecot's mail user when run as root (devservers/dovecot.py)
ADDRESS = "wangfang@example.com"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: files owned by the mail user and a stand-in user")


def tmpfiles_with_stand_in_ids(text: str) -> str:
    """The shipped lines with the user and group fields `lifecycle` replaced by the stand-in ids."""
    lines = []
    for line in text.splitlines():
        fields = line.split()
        if fields and not line.startswith("#"):
            fields[3:5] = [str(SERVICE_UID) if field == "lifecycle" else field for field in fields[3:5]]
            line = " ".join(fields)
        lines.append(line)
    return "\n".join(lines) + "\n"


def apply_tmpfiles(root: Path, scratch: Path) -> None:
    config = scratch / "lifecycle.conf"
    config.write_text(tmpfiles_with_stand_in_ids(TMPFILES.read_text(encoding="utf-8")), encoding="utf-8")
    made = subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create", str(config)], capture_output=True, text=True,
                          timeout=60)
    assert made.returncode == 0, made.stderr


@pytest.fixture
def deploy_root(dovecot: DovecotInstance, tmp_path: Path) -> Iterator[Path]:
    """A root directory laid out by the shipped tmpfiles config, where the mail user can reach it."""
    root = dovecot.data_dir / "deploy-root"
    apply_tmpfiles(root, tmp_path)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def as_service_user(work: Callable[[], object]) -> object:
    """work() in a child process that is the service user and group only; its JSON answer, or the error's text."""
    return run_as(SERVICE_UID, SERVICE_GID, work)


def count_as_service_user(path: Path) -> object:
    return as_service_user(lambda: count_maildir(path))


def leaver_with_mail(mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance) -> str:
    """A suspended 3-message mailbox, as a leaver's is when it is archived."""
    mail_backend.ensure_domains(["example.com"])
    mail_backend.create_mailbox(ADDRESS, "Wang Fang", 100, "Initial-Pass-0000")
    for n in range(3):
        delivery = deliver(dovecot, modoboa.db_path, "customer@partner.test", ADDRESS, f"message {n}", "body\n")
        assert delivery.delivered == (ADDRESS,)
    mail_backend.suspend(ADDRESS)
    return ADDRESS


def backup_as_service_user(dovecot: DovecotInstance, archive_dir: Path, address: str) -> object:
    """companion.backup(address) run by the service user, as the daemon runs it: the archive's path, or the error."""
    settings = DovecotSettings(api_url=dovecot.api_url, api_key=SecretStr(dovecot.api_key), archive_dir=archive_dir)

    def backup() -> str:
        with DovecotCompanion(settings) as companion:
            return str(companion.backup(address))

    return as_service_user(backup)


def test_tmpfiles_makes_an_archive_dir_the_mail_user_writes_and_keeps(
    mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance, deploy_root: Path, tmp_path: Path
) -> None:
    archive_dir = deploy_root / ARCHIVE
    assert archive_dir.is_dir(), "the tmpfiles config does not create the archive directory"
    assert oct(archive_dir.stat().st_mode & 0o7777) == "0o700"
    assert oct((deploy_root / ARCHIVE.parent).stat().st_mode & 0o7777) == "0o711"  # the mail user passes through
    os.chown(archive_dir, pwd.getpwnam(MAIL_USER).pw_uid, -1)  # the README's hand step

    address = leaver_with_mail(mail_backend, modoboa, dovecot)
    archive = Path(str(backup_as_service_user(dovecot, archive_dir, address)))

    assert archive.parent.parent == archive_dir and count_maildir(archive) == 3
    apply_tmpfiles(deploy_root, tmp_path)  # as at every boot: the owner set by hand stays
    assert archive_dir.stat().st_uid == pwd.getpwnam(MAIL_USER).pw_uid
    assert count_maildir(archive) == 3


def test_the_service_user_can_verify_an_archive_dovecot_wrote(
    mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance, deploy_root: Path
) -> None:
    archive_dir = deploy_root / ARCHIVE
    os.chown(archive_dir, pwd.getpwnam(MAIL_USER).pw_uid, -1)
    address = leaver_with_mail(mail_backend, modoboa, dovecot)

    answer = backup_as_service_user(dovecot, archive_dir, address)

    guid = dovecot.doveadm("-f", "flow", "mailbox", "status", "-u", address, "guid", "INBOX").stdout.split("guid=")[1].strip()
    archive = archive_dir / "example.com" / f"wangfang-{guid}"
    assert answer == str(archive), answer  # written, counted and verified by the service user's process
    assert count_maildir(archive) == 3  # and it is what it claims (counted here as root)
    # What Dovecot wrote stays the mail user's alone (measured: 0700 folders, 0600 files, whatever
    # archive_dir's mode), so the service user could not have counted it from the files.
    written = [archive, *archive.rglob("*")]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in written if p.is_dir()} == {"0o700"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in written if p.is_file()} <= {"0o600", "0o444"}
    assert str(count_as_service_user(archive)).startswith("PermissionError")
