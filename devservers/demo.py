"""`./scripts/demo`: the whole lifecycle on a throwaway slapd with the shipped sample export.

Everything happens in a work directory (a temp dir by default): the slapd,
the config, the state store and the sealed initial passwords.  The demo runs
the real CLI commands an admin would run, with `--now` to travel in time.

With Modoboa (scripts/install-modoboa) and Dovecot (scripts/install-dovecot)
installed, a throwaway Dovecot serves IMAP for the demo's mailboxes, checking
passwords against the demo's directory (passdb ldap, the supported set-up): the
sealed initial password is refused with "change it first" and the address of
the console's /password page, the chosen one is accepted.  A real SMTP server then
delivers the demo's notices into its mailboxes (devservers/demo_notices.py): a
joiner's manager (the branch contact in copy) and a leaver's manager are told;
the demo prints who received what and how to read it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devservers.demo_notices import (
    ENGLISH_COMPANY,
    company_notify_lines,
    contact_entries,
    create_contact_mailboxes,
    notify_section,
    show_notices,
    smtp_server,
)
from devservers.slapd import Slapd

BASE_DN = "dc=example,dc=com"
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "demo" / "employees.csv"
COMPANIES = (
    ("HQ", "集团总部", "example.com", "hq"),
    ("SZ", "深圳分公司", "sz.example.com", "sz"),
    ("GZ", "广州分公司", "gz.example.com", "gz"),
)
LEAVER = "100028"  # 马超, SZ: termination date 2027-01-15 in the sample
DAY_ONE = "2026-12-01T09:00"
AFTER_DEPARTURE = "2027-01-16T09:00"
JOINER = "100029"  # 胡军, SZ: hired 2027-02-01 in the sample, his manager 单雄信
JOINER_DAY = "2027-02-01T09:00"
BEFORE_DELETION = "2027-04-15T09:00"  # 89 days after the suspension
AFTER_RETENTION = "2027-04-17T09:00"  # 91 days after


MODOBOA_VENV = Path(__file__).resolve().parent.parent / ".modoboa-venv"


def mail_section(modoboa) -> str:
    token = Path(modoboa.db_path).parent / "demo-token"  # the running copy's folder, never a shared template's
    token.write_text(modoboa.token + "\n", encoding="utf-8")
    token.chmod(0o600)
    return f"""
[mail]
kind = "modoboa"
url = "{modoboa.url}"
token_file = "{token}"
max_writes_per_second = 50
max_requests_per_minute = 100000
# The demo has no Dovecot to archive with: delete without an archive after retention.
archive_before_delete = false
"""


def write_config(workdir: Path, slapd: Slapd, hr_path: Path, *, company_lines: Mapping[str, str] | None = None) -> Path:
    """The demo's config; `company_lines`: more TOML lines for a company's [[companies]] table, by code."""
    secret = workdir / "ldap-password"
    secret.write_text(slapd.admin_password + "\n", encoding="utf-8")
    secret.chmod(0o600)
    extra = company_lines or {}
    companies = "\n".join(
        f'[[companies]]\ncode = "{code}"\nname = "{name}"\ndomain = "{domain}"\npeople_dn = "ou={ou},ou=people,{BASE_DN}"\n'
        + (extra[code] + "\n" if code in extra else "")
        for code, name, domain, ou in COMPANIES
    )
    config = workdir / "config.toml"
    config.write_text(
        f"""# Written by `lifecycle demo`: a throwaway directory on {slapd.url}
[state]
url = "sqlite:///{workdir}/state.db"

[hr]
path = "{hr_path}"

[directory]
url = "{slapd.url}"
bind_dn = "{slapd.admin_dn}"
bind_password_file = "{secret}"
base_dn = "{BASE_DN}"
groups_dn = "ou=groups,{BASE_DN}"

[policy]
timezone = "Asia/Shanghai"
retention_days = 90

[accounts]
initial_password_dir = "{workdir}/credentials"

[guards]
# The demo writes its HR file a moment before each run: do not wait for it to settle.
min_file_age_seconds = 0

{companies}""",
        encoding="utf-8",
    )
    return config


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def _run(config: Path, *args: str) -> int:
    from lifecycle.cli.main import main

    print(f"$ lifecycle {' '.join(args)}", flush=True)
    code = main(["--config", str(config), *args])
    sys.stdout.flush()
    print(f"(exit {code})", flush=True)
    return code


def run_demo(workdir: Path | None = None, *, modoboa_template: Path | None = None,
             before_stop: Callable[[Path, Any], None] | None = None) -> int:
    """The demo; `modoboa_template`: a deployed Modoboa template to reuse (the tests'), else one in `workdir`;
    `before_stop(config, dovecot)` is called once the demo is done, its servers still running (the tests)."""
    keep = workdir is not None
    workdir = (workdir or Path(tempfile.mkdtemp(prefix="lifecycle-demo-"))).resolve()
    if keep and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    hr_path = workdir / "employees.csv"
    shutil.copyfile(SAMPLE, hr_path)
    units = [f"ou=people,{BASE_DN}", *(f"ou={ou},ou=people,{BASE_DN}" for *_, ou in COMPANIES), f"ou=groups,{BASE_DN}",
             f"ou=admins,{BASE_DN}", f"ou=roles,{BASE_DN}"]
    failures: list[str] = []

    def expect(condition: bool, what: str) -> None:
        print(("ok: " if condition else "UNEXPECTED: ") + what, flush=True)
        if not condition:
            failures.append(what)

    web_port = _free_port()
    with Slapd(workdir / "slapd", base_dn=BASE_DN, organizational_units=units, anonymous_lookup=True) as slapd, \
            _mail_server(workdir, modoboa_template) as modoboa, _imap_server(workdir, modoboa, slapd, web_port) as dovecot, \
            smtp_server(dovecot, modoboa) as smtp:
        config = write_config(workdir, slapd, hr_path, company_lines=company_notify_lines(COMPANIES) if smtp else None)
        console_accounts(slapd)
        password_policy(slapd)
        with open(config, "a", encoding="utf-8") as handle:
            handle.write(web_section(workdir, web_port))
        if modoboa is not None:
            with open(config, "a", encoding="utf-8") as handle:
                handle.write(mail_section(modoboa))
            _banner(f"A throwaway OpenLDAP on {slapd.url} and Modoboa on {modoboa.url}; config in {config}")
        if smtp is not None:
            with open(config, "a", encoding="utf-8") as handle:
                handle.write(notify_section(smtp.url))
            slapd.load_ldif(contact_entries(BASE_DN, COMPANIES))
            contacts = create_contact_mailboxes(config, COMPANIES)
            print(f"Notices go through an SMTP server on {smtp.url} into the demo's Dovecot ([notify]); the branch "
                  f"contacts ([[companies]] notify_to, {ENGLISH_COMPANY} in English): {', '.join(contacts)}", flush=True)
        if modoboa is None:
            _banner(f"A throwaway OpenLDAP on {slapd.url} (no Modoboa installed: directory only); config in {config}")
        expect(_run(config, "check") == 0, "config valid, HR export readable, directory reachable with a lockout policy")

        _banner(f"Day one ({DAY_ONE}): what would happen, and why")
        expect(_run(config, "plan", "--now", DAY_ONE) == 2, "plan lists changes (exit 2) and changes nothing")

        _banner("Apply it")
        expect(_run(config, "apply", "--now", DAY_ONE) == 0, "apply succeeded")
        _show_accounts(config)
        if modoboa is not None:
            _show_mailboxes(config)

        if dovecot is not None:
            _banner("IMAP checks the directory's password: the initial one must be changed first")
            _imap_story(config, slapd, dovecot, modoboa, expect)

        _banner("Plan again: nothing left to do")
        expect(_run(config, "plan", "--now", DAY_ONE) == 0, "second plan is empty (exit 0)")

        _banner(f"马超 ({LEAVER}) leaves on 2027-01-15: what the daemon will do")
        _run(config, "explain", LEAVER, "--now", DAY_ONE)
        expect(_can_log_in(config, workdir) is True, "马超 can log in with the initial password")

        _banner(f"Preview the day after the departure ({AFTER_DEPARTURE})")
        _run(config, "plan", "--now", AFTER_DEPARTURE)
        _run(config, "apply", "--now", AFTER_DEPARTURE)
        expect(_can_log_in(config, workdir) is False, "after the suspension 马超 can no longer log in (bind fails)")
        if modoboa is not None:
            box = _mailbox(config, "machao@sz.example.com")
            expect(box is not None and not box.is_active and box.forward_to == ("sunli@sz.example.com",),
                   "马超's mailbox is suspended and his mail goes to his manager 孙丽")

        _banner(f"胡军 ({JOINER}) starts on {JOINER_DAY[:10]}: his account and mailbox are made, his manager is told")
        _run(config, "apply", "--now", JOINER_DAY)
        expect(_entry_exists(config, JOINER) is True, "胡军's account exists on his first day")

        _banner(f"89 days later ({BEFORE_DELETION}): still retained")
        _run(config, "apply", "--now", BEFORE_DELETION)
        expect(_entry_exists(config, LEAVER) is True, "马超's suspended entry is kept during the retention period")
        _banner(f"After 90 days of retention ({AFTER_RETENTION}): deletion")
        _run(config, "apply", "--now", AFTER_RETENTION)
        expect(_entry_exists(config, LEAVER) is False, "马超's entry is deleted only after the retention period")

        _banner(f"The action log for {LEAVER}")
        _run(config, "log", "--employee", LEAVER)
        _banner("Rejected HR rows and findings, as recorded in the log")
        _print_rejections(config)

        _banner("The console: each branch admin sees and decides for their own company")
        with console(config) as address:
            expect(address is not None, f"the console answers at {address}")
            if address is not None:
                expect(_console_companies(address, *CONSOLE_ACCOUNTS[1][:2]) == ["SZ"],
                       "the SZ branch admin logs in with their own directory password and sees SZ alone")
            print(f"Open {address} and log in as:", flush=True)
            for uid, password, what in CONSOLE_ACCOUNTS:
                print(f"  {uid:<14} password {password:<16} {what}", flush=True)
            if dovecot is not None:
                print(f"IMAP (no TLS, loopback): 127.0.0.1:{dovecot.imap_port}, user {IMAP_PERSON[1]}, password "
                      f"{IMAP_CHOSEN}; any other employee: their address and the password sealed in "
                      f"{workdir / 'credentials'}, changed first at {address}/password", flush=True)
            if smtp is not None:
                _banner("The notices, in the demo's own mailboxes")
                show_notices(config, dovecot, COMPANIES, address or f"http://127.0.0.1:{web_port}", _run, expect)
            if before_stop is not None:
                before_stop(config, dovecot)
            if failures:
                print(f"\nDEMO FAILED: {len(failures)} unexpected result(s): {failures}", file=sys.stderr, flush=True)
            else:
                print("\nDemo finished: every step behaved as expected.", flush=True)
            if address is not None and sys.stdin.isatty() and not os.environ.get("DEMO_NO_WAIT"):
                print("The console, IMAP and the mail keep running until you press Enter (or Ctrl-C).", flush=True)
                try:
                    input()
                except (EOFError, KeyboardInterrupt):
                    pass

    print(f"Demo files (config, state.db, sealed passwords) are in {workdir}; the servers have been stopped.")
    return 1 if failures else 0


# The console's demo accounts: in ou=admins (outside the companies' subtrees, so the daemon leaves them
# alone), members of role groups in ou=roles that [[web.roles]] maps to companies.
CONSOLE_ACCOUNTS = (
    ("it-admin", "demo-group-admin", "group administrator: every company"),
    ("sz-mailadmin", "demo-sz-admin", "the SZ branch's mail administrator: SZ only"),
)


def console_accounts(slapd: Slapd) -> None:
    from devservers.slapd import ssha

    people = []
    for uid, password, what in CONSOLE_ACCOUNTS:
        people.append(f"dn: uid={uid},ou=admins,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
                      f"description: {what}\nuserPassword: {ssha(password)}\n")
    groups = [
        f"dn: cn=lifecycle-admins,ou=roles,{BASE_DN}\nobjectClass: groupOfNames\ncn: lifecycle-admins\n"
        f"member: uid=it-admin,ou=admins,{BASE_DN}\n",
        f"dn: cn=mail-admins-sz,ou=roles,{BASE_DN}\nobjectClass: groupOfNames\ncn: mail-admins-sz\n"
        f"member: uid=sz-mailadmin,ou=admins,{BASE_DN}\n",
    ]
    slapd.load_ldif("\n".join(people + groups))


def password_policy(slapd: Slapd) -> None:
    """What a site's password policy says of a new password (the console's /password page shows its refusals):
    10 characters at least, not one of the last 3.  The daemon writes as the directory's admin, whom it spares."""
    from connectors.ldap.client import Connection

    connection = Connection(slapd.url, timeout=30)
    try:
        connection.bind(slapd.admin_dn, slapd.admin_password)
        result = connection.modify(slapd.policy_dn, [("replace", "pwdMinLength", ["10"]),
                                                     ("replace", "pwdCheckQuality", ["1"]),
                                                     ("replace", "pwdInHistory", ["3"])])
        if result.code != 0:
            raise RuntimeError(f"the demo's password policy was not set: {result}")
    finally:
        connection.close()


def web_section(workdir: Path, port: int) -> str:
    import secrets

    key = workdir / "web-session-key"
    key.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    key.chmod(0o600)
    return f"""
[web]
listen = "127.0.0.1:{port}"
base_url = "http://127.0.0.1:{port}"
session_secret_file = "{key}"
language = "zh-CN"

[[web.roles]]
group_dn = "cn=lifecycle-admins,ou=roles,{BASE_DN}"
companies = ["*"]

[[web.roles]]
group_dn = "cn=mail-admins-sz,ou=roles,{BASE_DN}"
companies = ["SZ"]
"""


def _console_companies(address: str, uid: str, password: str) -> list[str] | None:
    import httpx

    with httpx.Client(base_url=address, timeout=10) as client:
        login = client.post("/api/v1/session", json={"username": uid, "password": password})
        if login.status_code != 200:
            return None
        overview = client.get("/api/v1/overview").json()
        return [c["company"] for c in overview["companies"]]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def console(config: Path) -> Iterator[str | None]:
    """`lifecycle web` on the demo's config, as a process of its own; its address once it answers, else None."""
    import subprocess
    import time
    import urllib.error
    import urllib.request

    from lifecycle.domain.settings import load_settings

    web = load_settings(config, secrets=False).web
    assert web is not None
    log_path = config.parent / "console.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen([sys.executable, "-m", "lifecycle.cli.main", "--config", str(config), "web"],
                               stdout=subprocess.DEVNULL, stderr=log_file)
    address: str | None = None
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(web.base_url + "/login", timeout=2):
                    address = web.base_url
                    break
            except urllib.error.HTTPError:  # an answer all the same
                address = web.base_url
                break
            except OSError:
                if process.poll() is not None:
                    print(log_path.read_text(encoding="utf-8", errors="replace"), file=sys.stderr)
                    break
                time.sleep(0.2)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


@contextmanager
def _mail_server(workdir: Path, template: Path | None = None) -> Iterator[Any]:
    """A throwaway Modoboa (if scripts/install-modoboa has run), else None."""
    from devservers.modoboa import ModoboaError, ModoboaInstance

    if not (MODOBOA_VENV / "bin" / "modoboa-admin.py").exists():
        yield None
        return
    print("Deploying a throwaway Modoboa (about 20 s)...", flush=True)
    try:
        instance = ModoboaInstance.build(template or workdir / "modoboa-template", MODOBOA_VENV).start(workdir / "modoboa")
    except ModoboaError as exc:
        print(f"Modoboa could not start ({exc}); the demo goes on with the directory only", flush=True)
        yield None
        return
    try:
        yield instance
    finally:
        instance.stop()


# 司马光 (HQ) shows the first login over IMAP; the leaver 马超 keeps his initial password for the story above.
IMAP_PERSON = ("100001", "simaguang@example.com")
IMAP_CHOSEN = "Chosen-by-Sima-2026"


@contextmanager
def _imap_server(workdir: Path, modoboa: Any, slapd: Slapd, web_port: int) -> Iterator[Any]:
    """A throwaway Dovecot on the demo's Modoboa and directory (if scripts/install-dovecot has run), else None.

    It finds people with the demo slapd's admin; a deployment gives Dovecot a read-only lookup account
    (devservers/dovecot.py).  The change page is the console's /password.
    """
    from devservers.dovecot import DOVECOT, DovecotError, DovecotInstance
    from devservers.dovecot_config import DirectoryLogin
    from devservers.modoboa import ModoboaError

    if modoboa is None:
        yield None
        return
    try:  # Modoboa's own web login checks the directory too
        modoboa.use_directory(slapd.url, BASE_DN, slapd.admin_dn, slapd.admin_password)
    except ModoboaError as exc:
        print(f"Modoboa's web login stays on its own passwords ({exc})", flush=True)
    if not Path(DOVECOT).exists():
        yield None
        return
    directory = DirectoryLogin(slapd.url, BASE_DN, slapd.admin_dn, slapd.admin_password,
                               f"http://127.0.0.1:{web_port}/password")
    try:
        instance = DovecotInstance(workdir / "dovecot", modoboa.db_path, directory=directory).start()
    except DovecotError as exc:
        print(f"Dovecot could not start ({exc}); the demo goes on without IMAP", flush=True)
        yield None
        return
    try:
        yield instance
    finally:
        instance.stop()


def _imap_story(config: Path, slapd: Slapd, dovecot: Any, modoboa: Any, expect: Any) -> None:
    from ldap3 import Connection, Server

    from lifecycle.engine.vault import CredentialVault

    employee_id, address = IMAP_PERSON
    initial = CredentialVault(_settings(config).accounts.initial_password_dir, 16).read_password(employee_id)
    if initial is None:
        expect(False, f"a sealed initial password for {employee_id}")
        return
    answer = dovecot.login(address, initial)
    print(f"IMAP LOGIN {address} <initial password> -> {answer}", flush=True)
    expect("must be changed first" in answer and answer.endswith("/password"),
           "IMAP refuses the initial password and names the page where to change it")
    with Connection(Server(slapd.url), slapd.admin_dn, slapd.admin_password, auto_bind=True) as admin:
        admin.search(BASE_DN, f"(mail={address})", attributes=["1.1"])
        dn = admin.entries[0].entry_dn
    with Connection(Server(slapd.url), dn, initial, auto_bind=True) as person:  # what the /password page does
        changed = person.extend.standard.modify_password(dn, initial, IMAP_CHOSEN)
    print(f"{address} changes the password (LDAP Password Modify, as on the console's /password page)", flush=True)
    expect(bool(changed) and dovecot.login(address, IMAP_CHOSEN) == "OK", "IMAP accepts the password chosen")
    expect(dovecot.login(address, initial) != "OK", "and no longer the initial one")
    if modoboa.ldap_login:
        expect(modoboa.web_login(address, IMAP_CHOSEN), f"Modoboa's web UI ({modoboa.url}) takes the same password")


def _mailbox(config: Path, address: str):
    from lifecycle.engine.cycle import open_mail

    mail = open_mail(_settings(config))
    try:
        return mail.find_mailbox(address)
    finally:
        mail.close()


def _show_mailboxes(config: Path) -> None:
    from lifecycle.engine.cycle import mail_domains, open_mail

    settings = _settings(config)
    mail = open_mail(settings)
    try:
        snapshot = mail.read_snapshot(mail_domains(settings))
    finally:
        mail.close()
    active = sum(1 for m in snapshot.mailboxes if m.is_active)
    print(f"{len(snapshot.mailboxes)} mailboxes in Modoboa ({active} active), e.g.:")
    for box in snapshot.mailboxes[:6]:
        print(f"  {box.address:<30} {box.display_name:<20} quota {box.quota_mb} MB")


def _settings(config: Path):
    from lifecycle.domain.settings import load_settings

    return load_settings(config)


def _show_accounts(config: Path) -> None:
    from connectors.ldap import LdapDirectory

    settings = _settings(config)
    with LdapDirectory(settings.directory, settings.companies) as directory:
        snapshot = directory.read_snapshot()
    print(f"{len(snapshot.entries)} accounts in the directory, {len(snapshot.groups)} department groups:")
    for entry in sorted(snapshot.entries, key=lambda e: e.employee_number):
        print(f"  {entry.employee_number}  {entry.cn:<6} {entry.uid:<14} {entry.mail:<30} {entry.department}")


def _leaver_dn(config: Path) -> tuple[str, str] | None:
    from lifecycle.journal.store import Journal

    settings = _settings(config)
    journal = Journal(settings.state.url)
    try:
        person = journal.person(LEAVER)
    finally:
        journal.close()
    if person is None:
        return None
    company = settings.company(person.company)
    return f"uid={person.uid},{company.people_dn}", person.uid


def _can_log_in(config: Path, workdir: Path) -> bool | None:
    from connectors.ldap import LdapDirectory
    from lifecycle.engine.vault import CredentialVault

    settings = _settings(config)
    found = _leaver_dn(config)
    password = CredentialVault(settings.accounts.initial_password_dir, 16).read_password(LEAVER)
    if found is None or password is None:
        return None
    with LdapDirectory(settings.directory, settings.companies) as directory:
        return directory.bind_as(found[0], password)


def _entry_exists(config: Path, employee_id: str) -> bool:
    from connectors.ldap import LdapDirectory

    settings = _settings(config)
    with LdapDirectory(settings.directory, settings.companies) as directory:
        return directory.find_by_employee_number(employee_id) is not None


def _print_rejections(config: Path) -> None:
    from lifecycle.journal.store import Journal

    settings = _settings(config)
    journal = Journal(settings.state.url)
    try:
        for entry in journal.entries():
            if entry.status in ("rejected", "review"):
                print(f"  {entry.status:<8} {entry.kind:<20} {entry.employee_id or '-':<8} {entry.target}: {entry.reason}")
    finally:
        journal.close()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/demo", description="the whole lifecycle on a throwaway slapd and Modoboa")
    parser.add_argument("--workdir", type=Path, help="keep the demo's files here (default: a temp dir)")
    args = parser.parse_args(argv)
    return run_demo(args.workdir or (Path(os.environ["DEMO_DIR"]) if os.environ.get("DEMO_DIR") else None))


if __name__ == "__main__":
    sys.exit(main())
