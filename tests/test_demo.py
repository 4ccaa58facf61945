"""`./scripts/demo` end to end (devservers/demo.py): every step as expected, and its notices in its own mailboxes.

The demo starts its own slapd, Modoboa (from the session's deployed template, to spare a deploy), Dovecot,
SMTP server and console; the test reads the mailboxes from that Dovecot before the demo stops it, then
checks the outbox from the state store the demo leaves behind and that no server of the demo is left.
Without Modoboa the demo runs on the directory alone and sends nothing.
"""

from __future__ import annotations

import json
import os
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from devservers import demo
from devservers.demo_notices import CONTACT_PASSWORD, messages
from devservers.modoboa import ModoboaInstance
from lifecycle.cli.main import main

pytestmark = pytest.mark.servers

SZ_CONTACT, GZ_CONTACT = "it@sz.example.com", "it@gz.example.com"
SUNLI = "sunli@sz.example.com"  # 孙丽, 马超's manager
YUEJIA = "yuejia@gz.example.com"  # 乐嘉, 韩冰's manager (GZ: notices in English)


def _left_running(workdir: Path) -> list[str]:
    """Processes whose command line or working directory is in the demo's work directory."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if str(workdir) in cmdline or cwd.startswith(str(workdir)):
            found.append(f"{pid}: {cmdline[:120]}")
    return found


def _subjects(found: list[EmailMessage]) -> list[str]:
    return [str(m["Subject"]) for m in found]


def test_the_demo_sends_its_notices_into_its_own_mailboxes_and_says_where_to_read_them(
    tmp_path: Path, modoboa_template: ModoboaInstance, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_NO_WAIT", "1")
    workdir = tmp_path / "demo"
    read: dict[str, list[EmailMessage]] = {}

    def read_mailboxes(config: Path, dovecot: Any) -> None:
        assert dovecot is not None, "the demo started no Dovecot"
        manager = _address_of(config, "100018")  # 单雄信, manager of the joiners 吴敏 and 胡军
        read["manager"] = messages(dovecot, manager)
        for address in (SUNLI, SZ_CONTACT, YUEJIA, GZ_CONTACT):
            read[address] = messages(dovecot, address)

    code = demo.run_demo(workdir, modoboa_template=modoboa_template.template_dir, before_stop=read_mailboxes)
    out = capsys.readouterr().out
    assert code == 0, out[-4000:]
    assert "Demo finished: every step behaved as expected." in out and "UNEXPECTED" not in out

    # The leaver's manager, in Chinese: the mail now comes to her, until the deletion date.
    (leaver,) = [m for m in read[SUNLI] if str(m["Subject"]).startswith("马超的账号已停用")]
    assert leaver["From"].addresses[0].addr_spec == "it@example.com"
    assert [a.addr_spec for a in leaver["To"].addresses] == [SUNLI]
    body = leaver.get_body(("plain",)).get_content()
    assert "machao@sz.example.com" in body and "2027年1月15日" in body and "2027年4月16日" in body
    # A joiner's manager, with the branch contact in copy: 胡军 on his first day, 吴敏 at the first load.
    assert {"新员工账号已开通：胡军（2027年2月1日入职）", "新员工账号已开通：吴敏（2026年10月8日入职）"} <= set(_subjects(read["manager"]))
    (joiner,) = [m for m in read["manager"] if "胡军" in str(m["Subject"])]
    assert [a.addr_spec for a in joiner["Cc"].addresses] == [SZ_CONTACT]
    # The branch contact has the joiners' copies; no digest: the demo's cycles are not of the present (--now).
    assert sorted(_subjects(read[SZ_CONTACT])) == sorted(["新员工账号已开通：胡军（2027年2月1日入职）",
                                                          "新员工账号已开通：吴敏（2026年10月8日入职）"])
    # GZ's notices are in English.
    for address in (YUEJIA, GZ_CONTACT):
        assert _subjects(read[address]) == ["New account for 韩冰, starting 14 September 2026"], address
    # Each mailbox holds each notice once, and no notice carries a password.
    passwords = [p.read_text(encoding="utf-8").strip().splitlines()[-1].split()[-1]
                 for p in (workdir / "credentials").rglob("*.txt")]
    assert passwords
    for address, found in read.items():
        ids = [m["Message-ID"] for m in found]
        assert len(ids) == len(set(ids)), address
        for message in found:
            text = message.as_string()
            assert not [p for p in passwords if p in text], (address, message["Subject"])

    # What the demo prints: who got what, how to log in, the outbox command; one notice in full.
    notices = out[out.index("=== The notices, in the demo's own mailboxes ==="):]
    config = workdir / "config.toml"
    assert f"--config {config} outbox --all" in notices
    assert f"  {SUNLI}  孙丽 (100024); initial password in {workdir}/credentials/SZ/100024.txt: 1 notice(s)" in notices
    assert f"  {SZ_CONTACT}  the branch contact; password {CONTACT_PASSWORD}" in notices
    assert "/password" in notices and "IMAP (no TLS, loopback) 127.0.0.1:" in notices
    assert "One notice in full (leaver_suspended, zh-CN)" in notices and "  | 孙丽，您好：" in notices
    assert "One notice in full (joiner, en)" in notices and "  | Hello 乐嘉," in notices
    assert "No daily digest: " in notices

    # The outbox the demo leaves: everything sent, nothing waiting or failed.
    assert main(["--config", str(config), "outbox", "--all", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["status"] for r in rows} == {"sent"}
    assert {r["event"] for r in rows} == {"joiner", "leaver_suspended"}
    assert _left_running(workdir) == []


def _address_of(config: Path, employee_id: str) -> str:
    from connectors.ldap import LdapDirectory
    from lifecycle.domain.settings import load_settings

    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as directory:
        entry = directory.find_by_employee_number(employee_id)
    assert entry is not None and entry.mail
    return entry.mail.lower()


def test_without_modoboa_the_demo_runs_on_the_directory_alone_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_NO_WAIT", "1")
    monkeypatch.setattr(demo, "MODOBOA_VENV", tmp_path / "no-modoboa-venv")
    workdir = tmp_path / "demo"
    code = demo.run_demo(workdir)
    out = capsys.readouterr().out
    assert code == 0, out[-4000:]
    assert "(no Modoboa installed: directory only)" in out and "Demo finished" in out
    assert "[notify]" not in (workdir / "config.toml").read_text(encoding="utf-8")
    assert "The notices" not in out
    assert _left_running(workdir) == []
