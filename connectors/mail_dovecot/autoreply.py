"""A departed person's auto-reply: a sieve vacation script put and activated over doveadm (`sieve put`).

ManageSieve would need the user's own login; doveadm's sieve commands act for
any user.  The script that was active before the auto-reply is remembered in
a comment of the auto-reply's script and re-activated when it is removed.
"""

from __future__ import annotations

import re

import structlog

from connectors.mail_dovecot.doveadm import EX_NOTFOUND, Doveadm, DoveadmError

log = structlog.get_logger(__name__)

AUTOREPLY_SCRIPT = "lifecycle-autoreply"
_PREVIOUS = re.compile(r'^# lifecycle: previously active: "((?:[^"\\]|\\.)*)"$', re.MULTILINE)


def _sieve_string(value: str) -> str:
    """A sieve quoted string (RFC 5228 2.4.2): backslash and double quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sieve_unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def autoreply_script(subject: str, text: str, *, days: int = 1, previous: str | None = None) -> str:
    """The vacation script put by put_autoreply()."""
    subject = " ".join(subject.split())  # one header line
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = ["# lifecycle: auto-reply for a departed person (replaced and removed by lifecycle)"]
    if previous:
        lines.append(f"# lifecycle: previously active: {_sieve_string(previous)}")
    lines += ['require ["vacation"];', f"vacation :days {int(days)} :subject {_sieve_string(subject)} {_sieve_string(text)};", ""]
    return "\n".join(lines)


def put_autoreply(doveadm: Doveadm, address: str, subject: str, text: str, *, days: int) -> None:
    """Reply `text` (at most once per sender per `days`) to mail delivered to the mailbox."""
    scripts = _scripts(doveadm, address)
    previous = next((name for name, active in scripts.items() if active and name != AUTOREPLY_SCRIPT), None)
    if previous is None and AUTOREPLY_SCRIPT in scripts:
        previous = _previous_of(doveadm, address)  # keep what an earlier put remembered
    script = autoreply_script(subject, text, days=days, previous=previous)
    doveadm.run(
        "sievePut",
        {"user": address, "scriptname": AUTOREPLY_SCRIPT, "activate": True, "file": script},
        what=f"put the auto-reply of {address}",
    )
    log.info("mail.autoreply_set", address=address, replaced_active=previous)


def remove_autoreply(doveadm: Doveadm, address: str) -> None:
    """Remove the auto-reply (absent is fine) and re-activate the script that was active before it."""
    scripts = _scripts(doveadm, address)
    if AUTOREPLY_SCRIPT not in scripts:
        return
    previous = _previous_of(doveadm, address)
    what = f"remove the auto-reply of {address}"
    if scripts[AUTOREPLY_SCRIPT]:
        if previous and previous in scripts:
            doveadm.run("sieveActivate", {"user": address, "scriptname": previous}, what=what)
        else:
            doveadm.run("sieveDeactivate", {"user": address}, what=what)
    try:
        doveadm.run("sieveDelete", {"user": address, "scriptname": [AUTOREPLY_SCRIPT]}, what=what)
    except DoveadmError as exc:
        if exc.exit_code != EX_NOTFOUND:
            raise
    log.info("mail.autoreply_removed", address=address, reactivated=previous if previous in scripts else None)


def _scripts(doveadm: Doveadm, address: str) -> dict[str, bool]:
    """The user's sieve scripts: name -> active."""
    rows = doveadm.run("sieveList", {"user": address}, what=f"list the sieve scripts of {address}")
    return {str(row.get("script")): str(row.get("active", "")).upper() == "ACTIVE" for row in rows if row.get("script")}


def _previous_of(doveadm: Doveadm, address: str) -> str | None:
    try:
        rows = doveadm.run("sieveGet", {"user": address, "scriptname": AUTOREPLY_SCRIPT}, what=f"read the auto-reply of {address}")
    except DoveadmError as exc:
        if exc.exit_code == EX_NOTFOUND:
            return None
        raise
    text = "".join(str(value) for row in rows for value in row.values())
    match = _PREVIOUS.search(text.replace("\r\n", "\n"))
    return _sieve_unquote(match.group(1)) if match else None
