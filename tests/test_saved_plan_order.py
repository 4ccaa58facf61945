"""`apply --plan FILE`: a saved plan that no longer holds is refused before anything is written.

Against a real slapd (and, for mail domains, the Modoboa test instance): the
whole directory, operational attributes included, is the same before and
after a refused run; no mail domain is created; the journal records no run.
The saved plan still applies once it holds again.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

from devservers.demo import BASE_DN
from devservers.modoboa import ModoboaInstance
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings

DAY_ONE = "2026-12-01T09:00"
NEW_COMPANY = f"""
[[companies]]
code = "BJ"
name = "北京分公司"
domain = "bj.example.com"
people_dn = "ou=bj,ou=people,{BASE_DN}"
"""


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def whole_directory(slapd: Slapd) -> str:
    """Every entry under the base with every attribute, operational ones (entryCSN, contextCSN...) included."""
    found = subprocess.run(
        ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", slapd.url, "-D", slapd.admin_dn, "-w", slapd.admin_password,
         "-b", BASE_DN, "(objectClass=*)", "*", "+"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return found.stdout


def runs_recorded(config: Path) -> int:
    database = load_settings(config).state.url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_a_stale_plan_creates_no_container_and_the_plan_applies_once_it_holds(
    config: Path, demo_slapd: Slapd, tmp_path: Path, capsys
) -> None:
    saved = tmp_path / "plan.json"
    assert run(config, capsys, "plan", "--now", DAY_ONE, "--out", str(saved))[0] == 2
    original = config.read_text(encoding="utf-8")
    before, runs_before = whole_directory(demo_slapd), runs_recorded(config)

    # A company added since the plan was made: its people_dn does not exist yet.
    config.write_text(original + NEW_COMPANY, encoding="utf-8")
    code, _, err = run(config, capsys, "apply", "--plan", str(saved))

    assert code == 1 and "saved plan refused" in err and "configuration changed" in err, err
    assert whole_directory(demo_slapd) == before  # no ou=bj, no write of any kind
    assert runs_recorded(config) == runs_before

    config.write_text(original, encoding="utf-8")
    code, out, err = run(config, capsys, "apply", "--plan", str(saved))
    assert code == 0, out + err
    assert run(config, capsys, "plan", "--now", DAY_ONE)[0] == 0  # exactly the saved plan was applied


def test_a_plan_gone_stale_in_a_removed_container_is_refused_without_recreating_it(
    config: Path, demo_slapd: Slapd, tmp_path: Path, capsys
) -> None:
    saved = tmp_path / "plan.json"
    assert run(config, capsys, "plan", "--now", DAY_ONE, "--out", str(saved))[0] == 2
    # Since the plan: the (still empty) groups container was removed, and HR hired someone.
    subprocess.run(["ldapdelete", "-x", "-H", demo_slapd.url, "-D", demo_slapd.admin_dn, "-w", demo_slapd.admin_password,
                    f"ou=groups,{BASE_DN}"], check=True, timeout=60)
    hr_path = tmp_path / "employees.csv"
    hr_path.write_text(hr_path.read_text(encoding="utf-8") + "100099,钱多多,,,HQ,财务部,会计,,在职,2024-01-01,\n",
                       encoding="utf-8")
    before = whole_directory(demo_slapd)

    code, _, err = run(config, capsys, "apply", "--plan", str(saved))

    assert code == 1 and f"ou=groups,{BASE_DN}" in err, err
    assert whole_directory(demo_slapd) == before  # ou=groups not re-created by a refused run


def test_a_stale_plan_creates_no_mail_domain(
    demo_slapd: Slapd, modoboa: ModoboaInstance, tmp_path: Path, capsys
) -> None:
    from devservers.demo import SAMPLE, write_config

    hr_path = tmp_path / "employees.csv"
    shutil.copyfile(SAMPLE, hr_path)
    config = write_config(tmp_path, demo_slapd, hr_path)
    token = tmp_path / "mail-token"
    token.write_text(modoboa.token + "\n", encoding="utf-8")
    token.chmod(0o600)
    with_mail = config.read_text(encoding="utf-8").replace(
        "[[companies]]",
        f'[mail]\nurl = "{modoboa.url}"\ntoken_file = "{token}"\nmax_writes_per_second = 1000.0\n'
        "max_requests_per_minute = 1000000.0\n\n[[companies]]",
        1,
    )
    config.write_text(with_mail, encoding="utf-8")
    saved = tmp_path / "plan.json"
    code, out, err = run(config, capsys, "plan", "--now", DAY_ONE, "--format", "json", "--out", str(saved))
    assert code == 2, out + err
    assert any(a["kind"] == "create_mailbox" for a in json.loads(out)["actions"])
    settings = load_settings(config)
    domains = [c.domain for c in settings.companies] + ["bj.example.com"]
    from lifecycle.engine.cycle import open_mail

    def existing_domains() -> tuple[str, ...]:
        mail = open_mail(settings)
        try:
            return mail.read_snapshot(domains).domains
        finally:
            mail.close()

    assert existing_domains() == ()
    before = whole_directory(demo_slapd)

    config.write_text(with_mail + NEW_COMPANY, encoding="utf-8")
    code, _, err = run(config, capsys, "apply", "--plan", str(saved))

    assert code == 1 and "saved plan refused" in err, err
    assert existing_domains() == ()
    assert whole_directory(demo_slapd) == before
