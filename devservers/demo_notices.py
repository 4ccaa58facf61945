"""The demo's notices (issue 17): a real SMTP server delivering into the demo's Dovecot, and where to read them.

With Modoboa and Dovecot, `./scripts/demo` (devservers/demo.py) starts an SmtpServer beside them and
writes a [notify] section: every `lifecycle apply` of the demo sends its notices through it into the
demo's own mailboxes.  Each company's branch contact is a mailbox of its own, it@<domain>, with a
directory entry in ou=admins (outside the companies' subtrees, so the daemon leaves it alone) whose
password is the demo's: it logs in over IMAP at once, where an employee must first change the sealed
initial password at the console's /password page.  GZ's notices are in English, the others in Chinese.

No daily digest: a digest tells what waits *now*, so only a cycle of the present queues one (the daemon at
digest_at, `lifecycle apply` without --now), and the demo travels in time with --now; it says so.

After the steps `show_notices` prints, read back from Dovecot: each mailbox's subjects, how to log in
over IMAP, the command listing the outbox, and one notice in full.
"""

from __future__ import annotations

import email
import email.policy
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

SENDER = "IT <it@example.com>"
ENGLISH_COMPANY = "GZ"
CONTACT_PASSWORD = "demo-branch-it"  # the branch contacts' directory password: they are not employees
DIGEST_AT = "08:30"  # company time; the digest is the daemon's (a cycle of the present), never the demo's --now
# The sample's two latest hires before day one (2026-12-01), 吴敏 (SZ) and 韩冰 (GZ), joined 54 and 78 days before.
JOINER_DAYS = 90


def contact_address(domain: str) -> str:
    return f"it@{domain}"


def company_notify_lines(companies: Sequence[tuple[str, str, str, str]]) -> dict[str, str]:
    """Each company's `notify_to` (its branch contact) and, for one of them, `language = "en"`."""
    return {
        code: f'notify_to = ["{contact_address(domain)}"]' + ('\nlanguage = "en"' if code == ENGLISH_COMPANY else "")
        for code, _, domain, _ in companies
    }


def notify_section(smtp_url: str) -> str:
    return f"""
[notify]
# The demo's own SMTP server (devservers/smtp.py), delivering into the demo's Dovecot like Modoboa's Postfix.
smtp_url = "{smtp_url}"
sender = "{SENDER}"
language = "zh-CN"
digest_at = "{DIGEST_AT}"
# The first load tells the managers of those hired in the last {JOINER_DAYS} days, not of the long-standing staff.
joiner_days = {JOINER_DAYS}
"""


def contact_entries(base_dn: str, companies: Sequence[tuple[str, str, str, str]]) -> str:
    """LDIF: one directory entry per branch contact, so that Dovecot (passdb ldap) lets it log in."""
    from devservers.slapd import ssha

    return "\n".join(
        f"dn: uid=it-{ou},ou=admins,{base_dn}\nobjectClass: inetOrgPerson\nuid: it-{ou}\ncn: IT {name}\nsn: IT\n"
        f"mail: {contact_address(domain)}\ndescription: the branch contact of {code} ([[companies]] notify_to)\n"
        f"userPassword: {ssha(CONTACT_PASSWORD)}\n"
        for code, name, domain, ou in companies
    )


def create_contact_mailboxes(config: Path, companies: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """The branch contacts' mailboxes, made through the demo's Modoboa (its domains first); their addresses."""
    from lifecycle.domain.errors import AlreadyExistsError
    from lifecycle.domain.settings import load_settings
    from lifecycle.engine.cycle import mail_domains, open_mail

    settings = load_settings(config)
    mail = open_mail(settings)
    assert mail is not None
    made = []
    try:
        mail.ensure_domains(mail_domains(settings))
        for _, name, domain, _ in companies:
            try:
                mail.create_mailbox(contact_address(domain), f"IT {name}", None)
            except AlreadyExistsError:
                pass
            made.append(contact_address(domain))
    finally:
        mail.close()
    return made


@contextmanager
def smtp_server(dovecot: Any, modoboa: Any) -> Iterator[Any]:
    """The demo's SMTP server delivering into its Dovecot, or None without one (then nothing is sent)."""
    if dovecot is None or modoboa is None:
        yield None
        return
    from devservers.smtp import SmtpServer

    server = SmtpServer(dovecot, modoboa.db_path).start()
    try:
        yield server
    finally:
        server.stop()


def messages(dovecot: Any, address: str) -> list[EmailMessage]:
    """Every message of a mailbox, all folders, as Dovecot stores it (doveadm fetch: no login needed)."""
    result = dovecot.doveadm("-f", "json", "fetch", "-u", address, "text", "all", check=False)
    if result.returncode != 0:
        return []
    found = []
    for row in json.loads(result.stdout or "[]"):
        parsed = email.message_from_string(row["text"], policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


def _outbox(config: Path) -> list[Any]:
    from lifecycle.domain.settings import load_settings
    from lifecycle.journal.store import Journal

    journal = Journal(load_settings(config).state.url)
    try:
        return journal.outbox_rows(statuses=None)
    finally:
        journal.close()


def _people(config: Path) -> dict[str, tuple[str, str, str]]:
    """address -> (name, employee number, company) of everyone in the companies' subtrees."""
    from connectors.ldap import LdapDirectory
    from lifecycle.domain.settings import load_settings

    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as directory:
        snapshot = directory.read_snapshot()
    def company(dn: str) -> str:
        return next((c.code for c in settings.companies if dn.lower().endswith("," + c.people_dn.lower())), "")

    return {e.mail.lower(): (e.cn, e.employee_number, company(e.dn)) for e in snapshot.entries if e.mail}


def lifecycle_command(config: Path, *args: str) -> str:
    """The command an admin types for `lifecycle <args>` on the demo's config."""
    script = Path(sys.executable).parent / "lifecycle"
    program = str(script) if script.exists() else f"{sys.executable} -m lifecycle.cli.main"
    return f"{program} --config {config} {' '.join(args)}"


def show_notices(config: Path, dovecot: Any, companies: Sequence[tuple[str, str, str, str]], console_address: str,
                 run: Callable[..., int], expect: Callable[[bool, str], None]) -> None:
    """What was sent and where it arrived; how to read it (see the module doc)."""
    print(f"The outbox (`{lifecycle_command(config, 'outbox', '--all')}`):", flush=True)
    code = run(config, "outbox", "--all")
    rows = _outbox(config)
    statuses = sorted({r.status for r in rows})
    expect(code == 0 and bool(rows) and statuses == ["sent"],
           f"every notice of the outbox was sent ({len(rows)} sent, none waiting or failed)")
    events = {r.event for r in rows}
    for event, what in (("joiner", "a joiner's manager was told, the branch contact in copy"),
                        ("leaver_suspended", "a leaver's manager was told")):
        expect(event in events, what)
    if "digest" not in events:
        print("No daily digest: a digest tells the branch contact what waits now, so only a cycle of the present "
              f"sends one (the daemon at [notify] digest_at {DIGEST_AT}, or `lifecycle apply` without --now); "
              "the demo's cycles travel in time with --now.", flush=True)

    contacts = {contact_address(domain) for _, _, domain, _ in companies}
    people = _people(config)
    received: dict[str, list[EmailMessage]] = {}
    for address in sorted({a for r in rows for a in (*r.notice.to, *r.notice.cc)}):
        received[address] = messages(dovecot, address)
    ids = {address: {(m["Message-ID"] or "").strip() for m in found} for address, found in received.items()}
    missing = [(r.message_id, a) for r in rows for a in (*r.notice.to, *r.notice.cc) if r.message_id not in ids[a]]
    expect(not missing, "each notice is in the mailbox of each of its recipients" + (f": missing {missing}" if missing else ""))

    passwords = config.parent / "credentials"
    print(f"\nWhere to read them: IMAP (no TLS, loopback) 127.0.0.1:{dovecot.imap_port}, login = the address, "
          "while the console runs.", flush=True)
    print(f"A branch contact's password is {CONTACT_PASSWORD}; an employee's is the initial one sealed in {passwords}, "
          f"which IMAP refuses until it is changed at the console's page {console_address}/password "
          "(the demo started the console above).", flush=True)
    print("What each mailbox received (read from the demo's Dovecot):", flush=True)
    for address, found in received.items():
        if address in contacts:
            who = f"the branch contact; password {CONTACT_PASSWORD}"
        else:
            name, number, company = people.get(address, ("", "", ""))
            who = f"{name} ({number}); initial password in {passwords / company / (number + '.txt')}" if name else "?"
        print(f"  {address}  {who}: {len(found)} notice(s)", flush=True)
        for message in found:
            print(f"    - {message['Subject']}", flush=True)
    _print_examples(rows, received)


def _print_examples(rows: Sequence[Any], received: dict[str, list[EmailMessage]]) -> None:
    """One notice in full in each language: a manager's (the leaver's, else any), and an English one."""
    shown: set[str] = set()
    for language, preferred in (("zh-CN", "leaver_suspended"), ("en", "joiner")):
        candidates = [r for r in rows if r.notice.language == language]
        candidates.sort(key=lambda r: r.event != preferred)
        for row in candidates:
            found = [m for m in received.get(row.notice.to[0], []) if (m["Message-ID"] or "").strip() == row.message_id]
            if found and row.message_id not in shown:
                shown.add(row.message_id)
                _print_message(found[0], row)
                break


def _print_message(message: EmailMessage, row: Any) -> None:
    print(f"\nOne notice in full ({row.event}, {row.notice.language}), as {row.notice.to[0]} received it:", flush=True)
    for header in ("From", "To", "Cc", "Subject"):
        if message[header]:
            print(f"  {header}: {message[header]}", flush=True)
    body = message.get_body(("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    print("", flush=True)
    for line in text.rstrip().splitlines():
        print(f"  | {line}", flush=True)
