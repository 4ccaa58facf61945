"""Secrets: named by key and file when missing, empty, exposed or doubled; read only by commands that connect."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from devservers.demo import SAMPLE
from lifecycle.cli.main import main
from lifecycle.domain.errors import ConfigError
from lifecycle.domain.settings import load_settings

SECRET = "s3cret-value-never-shown"
COMPANY = """
[[companies]]
code = "SZ"
name = "深圳分公司"
domain = "sz.example.com"
people_dn = "ou=sz,ou=people,dc=example,dc=com"
"""


def secret_file(tmp_path: Path, name: str, text: str = SECRET + "\n", mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def config_with(tmp_path: Path, *, ldap: str, mail: str = "", dovecot: str = "") -> Path:
    """A config whose [directory], [mail] and [mail.dovecot] secret lines are given."""
    text = f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n[hr]\npath = "{tmp_path}/employees.csv"\n[directory]\n{ldap}\n'
    if mail or dovecot:
        text += f'[mail]\nurl = "http://127.0.0.1:9"\n{mail}\n'
    if dovecot:
        text += f'[mail.dovecot]\napi_url = "http://127.0.0.1:9"\n{dovecot}\n'
    path = tmp_path / "config.toml"
    path.write_text(text + COMPANY, encoding="utf-8")
    shutil.copyfile(SAMPLE, tmp_path / "employees.csv")
    return path


def all_secrets(tmp_path: Path, **override: str) -> Path:
    lines = {
        "ldap": f'bind_password_file = "{secret_file(tmp_path, "ldap")}"',
        "mail": f'token_file = "{secret_file(tmp_path, "mail-token")}"',
        "dovecot": f'api_key_file = "{secret_file(tmp_path, "doveadm-key")}"',
    }
    return config_with(tmp_path, **{**lines, **override})


# (section key in config_with, TOML key, what the file must hold)
SECRETS = [
    ("ldap", "[directory] bind_password", "the bind password"),
    ("mail", "[mail] token", "the Modoboa API token"),
    ("dovecot", "[mail.dovecot] api_key", "the doveadm API key"),
]


@pytest.mark.parametrize(("which", "key", "what"), SECRETS, ids=[s[0] for s in SECRETS])
def test_an_empty_secret_file_is_named_with_what_belongs_in_it(tmp_path: Path, which: str, key: str, what: str) -> None:
    empty = secret_file(tmp_path, "empty", "\n")
    section, name = key.split(" ")
    config = all_secrets(tmp_path, **{which: f'{name}_file = "{empty}"'})
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert f"the file {empty} named by {section} {name}_file is empty; put {what} in it" in str(caught.value)


@pytest.mark.parametrize(("which", "key", "what"), SECRETS, ids=[s[0] for s in SECRETS])
def test_setting_a_secret_and_its_file_is_refused_naming_both_keys(tmp_path: Path, which: str, key: str, what: str) -> None:
    section, name = key.split(" ")
    config = all_secrets(tmp_path, **{which: f'{name}_file = "{secret_file(tmp_path, "file")}"\n{name} = "{SECRET}-inline"'})
    with pytest.raises(ConfigError) as caught:
        load_settings(config, secrets=False)  # a contradiction in the config, whatever the command
    assert f"{section} sets both {name} and {name}_file; keep one" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.__cause__)


@pytest.mark.parametrize(("mode", "problem"), [(0o644, "readable by every user"), (0o620, "writable by others"),
                                                (0o604, "readable by every user"), (0o600, None), (0o640, None), (0o400, None)])
def test_a_secret_file_others_can_read_or_write_is_warned_about(tmp_path: Path, mode: int, problem: str | None) -> None:
    config = all_secrets(tmp_path)
    (tmp_path / "mail-token").chmod(mode)
    with capture_logs() as logs:
        settings = load_settings(config)
    assert settings.mail is not None and settings.mail.token.get_secret_value() == SECRET
    warnings = [e for e in logs if e["event"] == "secret_file_exposed"]
    if problem is None:
        assert warnings == []
        return
    token = tmp_path / "mail-token"
    assert warnings == [{"event": "secret_file_exposed", "log_level": "warning", "file": str(token),
                         "setting": "[mail] token_file", "problem": problem, "mode": f"{mode:04o}",
                         "fix": f"chmod 0600 {token}"}]
    assert all(SECRET not in str(e) for e in logs)


def test_read_only_commands_need_no_secret_and_explain_says_what_it_could_not_read(tmp_path: Path, capsys) -> None:
    """log, held, explain run with the state store alone; a command that connects names the missing file."""
    missing = tmp_path / "no-such-file"
    config = config_with(tmp_path, ldap=f'bind_password_file = "{missing}"', mail=f'token_file = "{missing}"')
    for args in (("log",), ("held",), ("log", "--employee", "100028")):
        capsys.readouterr()
        assert main(["--config", str(config), *args]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["--config", str(config), "explain", "100028", "--now", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert (f"  not read: the directory: cannot read the file {missing} named by [directory] bind_password_file: "
            "No such file or directory") in out
    assert f"  not read: mail: cannot read the file {missing} named by [mail] token_file" in out
    assert "  HR: 马超 SZ/销售部" in out and "a cycle now would: not computed (the directory, mail could not be read)" in out
    for args in (("plan",), ("check",)):
        assert main(["--config", str(config), *args]) == 1
        err = capsys.readouterr().err
        assert f"cannot read the file {missing} named by [directory] bind_password_file" in err


def test_read_secrets_reads_what_it_can_and_says_why_not_for_the_rest(tmp_path: Path) -> None:
    from lifecycle.domain.settings import read_secrets

    config = all_secrets(tmp_path, mail=f'token_file = "{secret_file(tmp_path, "empty", "")}"')
    settings, problems = read_secrets(load_settings(config, secrets=False))
    assert settings.directory.bind_password.get_secret_value() == SECRET
    empty = tmp_path / "empty"
    assert problems == {"mail": f"the file {empty} named by [mail] token_file is empty; put the Modoboa API token in it"}


def test_a_config_error_keeps_its_cause_for_the_debug_log_and_never_shows_a_secret(tmp_path: Path, capsys) -> None:
    config = config_with(tmp_path, ldap=f'bind_password = "{SECRET}"\npage_size = "many"')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.__cause__ is not None  # `from exc`: the validation error is kept
    assert SECRET not in str(caught.value) and SECRET not in str(caught.value.__cause__)

    assert main(["--config", str(config), "log"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lifecycle: invalid configuration") and "Traceback" not in err and "page_size" in err
    assert main(["--config", str(config), "--log-level", "DEBUG", "log"]) == 1
    err = capsys.readouterr().err
    assert "command_failed" in err and "ValidationError" in err and "direct cause" in err  # the chain, at debug level
    assert SECRET not in err
