"""Settings: the TOML contract, env overrides, secrets from files, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.domain.errors import ConfigError
from lifecycle.domain.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
[directory]
bind_password_file = "{secret}"
[[companies]]
code = "HQ"
name = "集团总部"
domain = "example.com"
people_dn = "ou=hq,ou=people,dc=example,dc=com"
"""


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "ldap"
    path.write_text("s3cret-from-file\n", encoding="utf-8")
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_is_valid_and_documents_the_contract(monkeypatch) -> None:
    monkeypatch.setenv("LIFECYCLE_DIRECTORY__BIND_PASSWORD", "from-env")
    monkeypatch.setenv("LIFECYCLE_DIRECTORY__BIND_PASSWORD_FILE", "")
    monkeypatch.setenv("LIFECYCLE_MAIL__TOKEN", "mail-token-from-env")
    monkeypatch.setenv("LIFECYCLE_MAIL__TOKEN_FILE", "")
    monkeypatch.setenv("LIFECYCLE_MAIL__DOVECOT__API_KEY", "doveadm-key-from-env")
    monkeypatch.setenv("LIFECYCLE_MAIL__DOVECOT__API_KEY_FILE", "")
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for key in ("[state]", "url", "[hr]", "kind", "path", "encoding", "[directory]", "bind_dn", "bind_password_file",
                "base_dn", "groups_dn", "[naming]", "template", "u_umlaut", "[policy]", "timezone", "prehire_days",
                "retention_days", "inactivity_days", "inactivity_warning_days", "[[companies]]", "code", "domain", "people_dn"):
        assert key in text
    settings = load_settings(ROOT / "config.example.toml")
    assert settings.policy.retention_days == 90 and settings.policy.inactivity_days == 183
    assert [c.code for c in settings.companies] == ["HQ", "SZ"]
    assert settings.directory.bind_password.get_secret_value() == "from-env"


def test_secret_comes_from_file_and_never_shows(tmp_path: Path, secret: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL.format(secret=secret)))
    assert settings.directory.bind_password.get_secret_value() == "s3cret-from-file"
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.model_dump_json()


def test_config_path_from_environment(tmp_path: Path, secret: Path, monkeypatch) -> None:
    path = write(tmp_path, MINIMAL.format(secret=secret))
    monkeypatch.setenv("LIFECYCLE_CONFIG", str(path))
    assert load_settings().companies[0].code == "HQ"


def test_environment_overrides_nested_keys(tmp_path: Path, secret: Path, monkeypatch) -> None:
    monkeypatch.setenv("LIFECYCLE_POLICY__RETENTION_DAYS", "30")
    monkeypatch.setenv("LIFECYCLE_DIRECTORY__URL", "ldap://ldap.example.com:389")
    settings = load_settings(write(tmp_path, MINIMAL.format(secret=secret)))
    assert settings.policy.retention_days == 30
    assert settings.directory.url == "ldap://ldap.example.com:389"
    assert settings.directory.bind_password.get_secret_value() == "s3cret-from-file"  # the rest of the section stays


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[policy]\nretension_days = 3\n', "policy.retension_days: unknown key; allowed here: inactivity_days"),
        ('[policy]\nretention_days = "soon"\n', "policy.retention_days: Input should be a valid integer"),
        ('[policy]\nretention_days = -1\n', "policy.retention_days: Input should be greater than or equal to 0"),
        ('[policy]\ntimezone = "Mars/Olympus"\n', "policy.timezone: unknown time zone 'Mars/Olympus'"),
        ('[naming]\nu_umlaut = "ue"\n', "naming.u_umlaut: Input should be 'v', 'yu' or 'u'"),
        ('[naming]\ntemplate = "{pinyin}{age}"\n', "naming.template: placeholders ['age'] not allowed"),
        ('[hr]\nencoding = "latin-1"\n', "hr.encoding: Input should be 'auto', 'utf-8', 'utf-8-sig' or 'gb18030'"),
        ('[hr.columns]\nsalary = "工资"\n', "hr.columns: unknown field(s) ['salary']"),
        ('[[companies]]\ncode = "HQ"\ndomain = "x.example.com"\npeople_dn = "ou=x,dc=example,dc=com"\n', "duplicate code ['HQ']"),
        ('[[companies]]\ncode = "SZ"\ndomain = "sz.example.com"\npeople_dn = "ou=sz,dc=other,dc=org"\n', "people_dn is not under directory.base_dn"),
        ('[[companies]]\ncode = "SZ"\ndomain = "Not A Domain"\npeople_dn = "ou=sz,dc=example,dc=com"\n', "companies[1].domain"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(tmp_path: Path, secret: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, MINIMAL.format(secret=secret) + extra))
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_missing_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, MINIMAL.format(secret=tmp_path / "nope")))
    assert f"cannot read the file {tmp_path / 'nope'} named by [directory] bind_password_file" in str(caught.value)


def test_missing_file_and_bad_toml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; pass --config FILE or set LIFECYCLE_CONFIG"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[directory\n"))


# -- [notify] and the branch contacts -----------------------------------------------------------

SZ_COMPANY = '[[companies]]\ncode = "SZ"\ndomain = "sz.example.com"\npeople_dn = "ou=sz,ou=people,dc=example,dc=com"\n'


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("IT <it-sz@sz.example.com>", "is not a bare address"),
        ("it-sz@sz", "has no valid domain after the @"),
        ("it-sz@sz..example.com", "has no valid domain after the @"),
        ("it sz@sz.example.com", "contains a space or a control character"),
        ("it-sz@sz.example.com\\u0007", "contains a space or a control character"),
        ("it-sz@hr@sz.example.com", "must contain exactly one @"),
        ("sz.example.com", "must contain exactly one @"),
        ("it-sz@sz.example.com, hr-sz@sz.example.com", "is not a bare address"),
        ("", "must contain exactly one @"),
    ],
)
def test_a_notify_to_entry_must_be_one_bare_address(tmp_path: Path, secret: Path, entry: str, problem: str) -> None:
    config = MINIMAL.format(secret=secret) + SZ_COMPANY + f'notify_to = ["hr-sz@sz.example.com", "{entry}"]\n'
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, config))
    message = str(caught.value)
    shown = entry.replace("\\u0007", "\x07")
    assert "companies[1].notify_to" in message and "company SZ" in message and repr(shown) in message, message
    assert problem in message and 'notify_to = ["it-sz@sz.example.com"]' in message
    good = MINIMAL.format(secret=secret) + SZ_COMPANY + 'notify_to = ["it-sz@sz.example.com", "张伟@例子.中国"]\n'
    assert load_settings(write(tmp_path, good)).company("SZ").notify_to == ("it-sz@sz.example.com", "张伟@例子.中国")


def test_recheck_minutes_is_at_least_one(tmp_path: Path, secret: Path) -> None:
    config = MINIMAL.format(secret=secret) + "[notify]\nrecheck_minutes = 0\n"
    with pytest.raises(ConfigError, match="notify.recheck_minutes: Input should be greater than or equal to 1"):
        load_settings(write(tmp_path, config))
    assert load_settings(write(tmp_path, config.replace("= 0", "= 1"))).notify.recheck_minutes == 1


PERSONAL = '[accounts]\ninitial_password_delivery = "personal_email"\npersonal_email_opt_in = true\n'


@pytest.mark.parametrize(
    ("notify", "accepted"),
    [
        ('smtp_url = "smtp://mail.example.com"', False),
        ('smtp_url = "smtp://192.0.2.25:587"', False),
        ('smtp_url = "smtp://mail.example.com"\nrequire_tls = true', True),
        ('smtp_url = "smtps://mail.example.com"', True),
        ('smtp_url = "smtp://127.0.0.1:25"', True),
        ('smtp_url = "smtp://localhost"', True),
    ],
)
def test_personal_email_delivery_needs_tls_to_a_relay_on_another_host(
    tmp_path: Path, secret: Path, notify: str, accepted: bool
) -> None:
    config = MINIMAL.format(secret=secret) + PERSONAL + f"[notify]\n{notify}\n"
    if accepted:
        assert load_settings(write(tmp_path, config)).accounts.initial_password_delivery == "personal_email"
        return
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, config))
    message = str(caught.value)
    assert 'initial_password_delivery = "personal_email" mails passwords' in message
    assert "set [notify] require_tls = true" in message and "smtps://" in message
    # The same relay is fine for notices without a password.
    assert load_settings(write(tmp_path, MINIMAL.format(secret=secret) + f"[notify]\n{notify}\n")).notify is not None
