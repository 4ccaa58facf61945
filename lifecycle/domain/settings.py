"""Typed settings: one TOML file plus `LIFECYCLE_<SECTION>__<KEY>` overrides.

Every secret can also come from `<key>_file` (systemd `LoadCredential=`), so
it never has to sit in the TOML in clear.  Unknown keys and bad values fail
with the key's dotted name and what is allowed.

Secrets are read when settings are loaded, except for commands that connect
to nothing (`load_settings(secrets=False)`: `log`, `held`, `explain`...);
those read what they can with `read_secrets`.  A secret's value never
appears in a message: errors name the key and the file.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lifecycle.domain.errors import ConfigError
from lifecycle.domain.hr_settings import CANONICAL_HR_FIELDS as CANONICAL_HR_FIELDS  # re-exported
from lifecycle.domain.hr_settings import HrSettings as HrSettings
from lifecycle.domain.notify_settings import Language, NotifySettings, notify_addresses
from lifecycle.domain.resource_settings import ListsSettings, ResourcesSettings
from lifecycle.domain.web_settings import WebSettings

log = structlog.get_logger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/lifecycle/config.toml")


class Section(BaseModel):
    # hide_input_in_errors: a validation error's text would otherwise carry the section's values, secrets included.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


# -- secrets: `<key>` in the TOML or the environment, or `<key>_file` (recommended) ------------------

# True while load_settings(secrets=False) builds a Settings: pydantic-settings builds the model in
# __init__, which takes no validation context, so the validators read this instead.
_SECRETS_DEFERRED: ContextVar[bool] = ContextVar("secrets_deferred", default=False)


@dataclass(frozen=True)
class Secret:
    section: str  # as written in the TOML
    key: str  # the value's key; `<key>_file` names the file holding it
    what: str  # what to put in the file, in words

    def sources(self, model: BaseModel) -> tuple[SecretStr | None, Path | None]:
        return getattr(model, self.key), getattr(model, self.key + "_file")


DIRECTORY_SECRET = Secret("directory", "bind_password", "the bind password")
MAIL_SECRET = Secret("mail", "token", "the Modoboa API token")
DOVECOT_SECRET = Secret("mail.dovecot", "api_key", "the doveadm API key")


def _one_source(model: BaseModel, secret: Secret) -> None:
    value, path = secret.sources(model)
    if value is not None and path is not None:
        raise ValueError(
            f"[{secret.section}] sets both {secret.key} and {secret.key}_file; keep one ({secret.key}_file is recommended; "
            f"an environment variable set to \"\" unsets a key)"
        )


def _unset_if_empty(value: Any) -> Any:
    """`LIFECYCLE_DIRECTORY__BIND_PASSWORD_FILE=""` unsets the file the TOML names (to use another source)."""
    return None if value == "" else value


# systemd hands a service its LoadCredential= files in $CREDENTIALS_DIRECTORY (/run/credentials/<unit>/).
# A secret file named under /run/credentials is read from this process's own credentials directory,
# so the config works for lifecycle.service and for `systemd-run -p LoadCredential=... lifecycle check`.
SYSTEMD_CREDENTIALS = Path("/run/credentials")


def credential_path(path: Path) -> Path:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if directory and path.parent.parent == SYSTEMD_CREDENTIALS:
        return Path(directory) / path.name
    return path


def read_secret(model: BaseModel, secret: Secret) -> SecretStr:
    """The secret from the TOML/environment or from its file; ValueError naming the key and file, never the value."""
    value, path = secret.sources(model)
    if value is not None:
        if not value.get_secret_value().strip():
            raise ValueError(
                f"[{secret.section}] {secret.key} is empty; put {secret.what} in it, or name a file with {secret.key}_file"
            )
        return value
    if path is None:
        raise ValueError(f"[{secret.section}] needs {secret.what}: set {secret.key}_file (recommended) or {secret.key}")
    path = credential_path(path)
    named = f"the file {path} named by [{secret.section}] {secret.key}_file"
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {named}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{named} is not UTF-8 text; put {secret.what} in it, nothing else") from exc
    if not text.strip():
        raise ValueError(f"{named} is empty; put {secret.what} in it")
    _warn_if_exposed(path, mode, secret)
    return SecretStr(text.rstrip("\r\n"))


def _warn_if_exposed(path: Path, mode: int, secret: Secret) -> None:
    exposed = []
    if mode & stat.S_IROTH:
        exposed.append("readable by every user")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        exposed.append("writable by others")
    if exposed:
        log.warning("secret_file_exposed", file=str(path), setting=f"[{secret.section}] {secret.key}_file",
                    problem=" and ".join(exposed), mode=f"{stat.S_IMODE(mode):04o}", fix=f"chmod 0600 {path}")


def _resolve(model: BaseModel, secret: Secret) -> None:
    """At validation: one source only; the value read now unless the loader deferred secrets."""
    _one_source(model, secret)
    if not _SECRETS_DEFERRED.get():
        object.__setattr__(model, secret.key, read_secret(model, secret))


class StateSettings(Section):
    url: str = Field("sqlite:////var/lib/lifecycle/state.db", description="SQLAlchemy URL of the state store and action log")


class DirectorySettings(Section):
    url: str = "ldap://127.0.0.1:389"
    bind_dn: str = "cn=admin,dc=example,dc=com"
    bind_password: SecretStr | None = None
    bind_password_file: Path | None = None
    base_dn: str = "dc=example,dc=com"
    groups_dn: str = "ou=groups,dc=example,dc=com"
    page_size: int = Field(500, ge=1, le=10000)
    timeout_seconds: float = Field(10.0, gt=0)
    match_attribute: Literal["mail", "uid", "cn", "none"] = "mail"
    # Connections the executor writes over at once (actions on one entry always share one).
    write_connections: int = Field(1, ge=1, le=16, description="concurrent LDAP write connections, 1-16")
    # LDAP transactions (RFC 5805) for creates, updates, suspends, restores and group writes, where the
    # server offers them.  Off unless asked for: OpenLDAP 2.5.13 (Debian 12) and 2.6.10 (Debian 13) crash
    # (SIGSEGV) when a client's connection is reset while they commit one (bench/txn_reset_probe.py), and
    # a network blip must never take the group's directory down.
    transactions: bool = False

    _unset_file = field_validator("bind_password_file", mode="before")(_unset_if_empty)

    @model_validator(mode="after")
    def _resolve_password(self) -> DirectorySettings:
        _resolve(self, DIRECTORY_SECRET)
        if not _dn_within(self.groups_dn, self.base_dn):
            raise ValueError(f"groups_dn {self.groups_dn!r} is not under base_dn {self.base_dn!r}")
        return self


class NamingSettings(Section):
    template: str = "{pinyin}"
    u_umlaut: Literal["v", "yu", "u"] = "v"
    max_length: int = Field(32, ge=4, le=64)
    overrides: dict[str, str] = Field(default_factory=dict, description="employee_id -> local part")

    @field_validator("template")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        allowed = {"pinyin", "surname", "given", "initials", "given_initials"}
        used = set(re.findall(r"{(\w*)}", value))
        if not used or used - allowed:
            raise ValueError(f"placeholders {sorted(used - allowed) or '(none)'} not allowed; use {sorted(allowed)}")
        return value

    @field_validator("overrides")
    @classmethod
    def _valid_local_parts(cls, value: dict[str, str]) -> dict[str, str]:
        for employee_id, local in value.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", local):
                raise ValueError(f"override for {employee_id!r}: {local!r} must be lower-case a-z, 0-9, '.', '_' or '-'")
        return value


class PolicySettings(Section):
    timezone: str = "Asia/Shanghai"
    prehire_days: int = Field(0, ge=0, description="days before hire_date an account is created")
    retention_days: int = Field(90, ge=0, description="days between suspension and deletion")
    inactivity_days: int = Field(183, ge=1, description="days without a login before suspension")
    inactivity_warning_days: int = Field(14, ge=0, description="days of warning before an inactivity suspension")
    inactivity_exempt: tuple[str, ...] = Field((), description="employee ids never suspended for inactivity")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    @model_validator(mode="after")
    def _warning_before_suspension(self) -> PolicySettings:
        if self.inactivity_warning_days >= self.inactivity_days:
            raise ValueError("inactivity_warning_days must be smaller than inactivity_days")
        return self


class AccountSettings(Section):
    initial_password_dir: Path = Field(
        Path("/var/lib/lifecycle/credentials"),
        description="where each new account's initial password is sealed (mode 0600), one file per employee",
    )
    password_length: int = Field(16, ge=12, le=128)
    initial_password_delivery: Literal["file", "console", "personal_email"] = Field(
        "file",
        description="file: sealed in initial_password_dir/<company>/; console: revealed once to the company's admin; "
        "personal_email: sent to HR's personal_email column (needs personal_email_opt_in and [notify])",
    )
    personal_email_opt_in: bool = Field(False, description="yes, send initial passwords to HR's personal_email column")
    password_key_file: Path | None = Field(
        None, description="console delivery: the key (LoadCredential=) that seals passwords in the state store for the console"
    )

    @model_validator(mode="after")
    def _delivery_complete(self) -> AccountSettings:
        if self.initial_password_delivery == "personal_email" and not self.personal_email_opt_in:
            raise ValueError('initial_password_delivery = "personal_email" sends passwords outside the company: '
                             "set personal_email_opt_in = true to confirm")
        if self.initial_password_delivery == "console" and self.password_key_file is None:
            raise ValueError('initial_password_delivery = "console" needs password_key_file (a file of 32+ random '
                             "bytes both the daemon and the console load: `head -c 32 /dev/urandom > FILE`)")
        return self


class GuardSettings(Section):
    max_destructive: int = Field(50, ge=0, description="most suspensions + deletions per company per cycle before they are held")
    max_destructive_fraction: float = Field(0.05, ge=0, le=1, description="same, as a fraction of the company's accounts")
    destructive_floor: int = Field(5, ge=0, description="the fraction never holds this many or fewer")
    approve_deletions: bool = Field(False, description="every deletion waits for `lifecycle approve`")
    max_feed_drop: float = Field(0.2, ge=0, le=1, description="a company's HR row count may drop this much between cycles")
    min_file_age_seconds: int = Field(60, ge=0, description="an HR file modified more recently is still being written")
    max_creations: int = Field(200, ge=0, description="most new accounts per company per cycle before they are held")
    max_creation_fraction: float = Field(0.2, ge=0, description="same, as a fraction of the company's accounts "
                                         "(a renumbered HR feed would otherwise make a second account for everyone)")
    creation_floor: int = Field(10, ge=0, description="the fraction never holds this many or fewer new accounts")


class ScheduleSettings(Section):
    cycle_minutes: float = Field(15, ge=1 / 60, le=24 * 60, description="minutes between two cycles (fractions allowed)")
    full_at: str = Field("02:30", description="HH:MM in [policy] timezone: the daily full reconciliation")

    @field_validator("full_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"{value!r} is not a time of day; use HH:MM, e.g. \"02:30\"")
        return value


class ServiceSettings(Section):
    metrics_listen: str = Field("127.0.0.1:9108", description="loopback HOST:PORT of /metrics and /healthz; \"\" turns it off")
    stall_minutes: float = Field(15, gt=0, description="a cycle without progress this long is hung: watchdog pings stop")
    standby_poll_seconds: float = Field(10, gt=0, le=3600, description="how often a standby tries to become the active instance")

    @field_validator("metrics_listen")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if value == "":
            return value
        host, _, port = value.rpartition(":")
        host = host.strip("[]")
        if not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
            raise ValueError(f"{value!r} is not HOST:PORT, e.g. \"127.0.0.1:9108\"")
        import ipaddress

        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"{host!r} is not a loopback address; metrics are served on 127.0.0.1 or ::1 only")
        return value


class DovecotSettings(Section):
    """`[mail.dovecot]`: the doveadm HTTP API, for what the mail backend cannot do."""

    api_url: str = Field(
        "http://127.0.0.1:8080/doveadm/v1",
        description="doveadm HTTP API (service doveadm { inet_listener http { ... } }); /doveadm/v1 is added when absent",
    )
    api_key: SecretStr | None = Field(None, description="doveadm_api_key of the server")
    api_key_file: Path | None = Field(None, description="file holding the key (recommended over api_key)")
    archive_dir: Path = Field(
        Path("/var/lib/lifecycle/archive"),
        description="where mailboxes are archived before deletion: a path on the Dovecot host, writable by the mail "
        "user; Dovecot counts each archive itself, the daemon never reads it",
    )
    timeout_seconds: float = Field(10.0, gt=0, description="per request, except backups")
    backup_timeout_seconds: float = Field(1800.0, gt=0, description="one mailbox export")
    autoreply_days: int = Field(1, ge=1, le=365, description="one auto-reply per sender per this many days")
    verify_tls: bool = True

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = _http_base(value, "http://mail.example.com:8080/doveadm/v1")
        return value if urlsplit(value).path else value + "/doveadm/v1"

    @field_validator("archive_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("must be an absolute path on the Dovecot server")
        if any(c in str(value) for c in ":%"):
            raise ValueError("must not contain ':' or '%' (it becomes part of a Dovecot mail location)")
        return value

    _unset_file = field_validator("api_key_file", mode="before")(_unset_if_empty)

    @model_validator(mode="after")
    def _resolve_key(self) -> DovecotSettings:
        _resolve(self, DOVECOT_SECRET)
        return self


class MailSettings(Section):
    """`[mail]`: the mail backend's admin API (Modoboa 2.12, REST API v2)."""

    kind: Literal["modoboa"] = "modoboa"
    url: str = Field("http://127.0.0.1:8000", description="base URL of the Modoboa instance (the API is under /api/v2)")
    token: SecretStr | None = Field(None, description="API token of a SuperAdmins account")
    token_file: Path | None = Field(None, description="file holding the token (recommended over token)")
    default_quota_mb: int = Field(1024, ge=0, description="quota of a new mailbox, MB; 0 = none")
    quota_by_title: dict[str, int] = Field(default_factory=dict, description="title -> quota in MB")
    alias_keep_days: int = Field(180, ge=0, description="days a branch transfer keeps the old address as an alias")
    leaver_mail: Literal["forward", "forward_autoreply", "reject"] = Field(
        "forward", description="mail to a leaver's address: forwarded to the manager (with an auto-reply), or not"
    )
    archive_before_delete: bool = Field(True, description="a mailbox is deleted only after a verified archive")
    timeout_seconds: float = Field(10.0, gt=0, description="per request")
    max_writes_per_second: float = Field(4.0, gt=0, description="pace of writes; stock Modoboa allows 5/s per endpoint")
    max_requests_per_minute: float = Field(270.0, gt=0, description="all requests; stock Modoboa allows 300/min per user")
    page_size: int = Field(500, ge=1, le=5000, description="items per list request")
    max_attempts: int = Field(5, ge=1, le=20, description="tries of one request on transient failures")
    max_retry_seconds: float = Field(60.0, ge=0, description="longest time spent retrying one request")
    backoff_seconds: float = Field(0.5, gt=0, le=60, description="first wait between tries; doubles each time (30 s at most)")
    verify_tls: bool = True
    dovecot: DovecotSettings | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_base(value.strip().rstrip("/").removesuffix("/api/v2"), "https://mail.example.com")

    _unset_file = field_validator("token_file", mode="before")(_unset_if_empty)

    @model_validator(mode="after")
    def _resolve_token(self) -> MailSettings:
        _resolve(self, MAIL_SECRET)
        return self


def _http_base(value: str, example: str) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http:// or https:// URL, e.g. {example}")
    return value


class CompanySettings(Section):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    name: str = ""
    domain: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
    people_dn: str
    timezone: str | None = None
    aliases: tuple[str, ...] = Field((), description="other names HR gives the company (its legal name, a short name)")
    notify_to: tuple[str, ...] = Field((), description="the branch's IT/HR contact: joiner notices and the daily digest")
    language: Language | None = Field(None, description="the language of this company's notices ([notify] language)")

    _notify_to = field_validator("notify_to")(notify_addresses)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            _zone(value)
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIFECYCLE_", env_nested_delimiter="__", extra="forbid", frozen=True, nested_model_default_partial_update=True,
        hide_input_in_errors=True,
    )

    state: StateSettings = StateSettings()
    hr: HrSettings = HrSettings()
    directory: DirectorySettings
    naming: NamingSettings = NamingSettings()
    policy: PolicySettings = PolicySettings()
    accounts: AccountSettings = AccountSettings()
    guards: GuardSettings = GuardSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    service: ServiceSettings = ServiceSettings()
    mail: MailSettings | None = None  # without it the daemon manages the directory alone
    web: WebSettings | None = None  # the console (`lifecycle web`)
    notify: NotifySettings | None = None  # mail to people ([notify]); without it nothing is sent
    resources: ResourcesSettings = ResourcesSettings()  # functional mailboxes and lists (issue 18)
    lists: ListsSettings = ListsSettings()
    companies: tuple[CompanySettings, ...] = Field(min_length=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment overrides the file (passed in as init kwargs).
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _delivery_has_a_relay(self) -> Settings:
        if self.accounts.initial_password_delivery == "personal_email" and self.notify is None:
            raise ValueError('[accounts] initial_password_delivery = "personal_email" needs [notify] (the SMTP relay)')
        if self.accounts.initial_password_delivery == "personal_email" and self.notify and (risk := self.notify.clear_text_risk()):
            raise ValueError(f'[accounts] initial_password_delivery = "personal_email" mails passwords: {risk}')
        return self

    @model_validator(mode="after")
    def _companies_consistent(self) -> Settings:
        codes = [c.code for c in self.companies]
        for label, values in (("code", codes), ("domain", [c.domain for c in self.companies])):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"companies: duplicate {label} {dupes}")
        for company in self.companies:
            if not _dn_within(company.people_dn, self.directory.base_dn):
                raise ValueError(f"companies[{company.code}].people_dn is not under directory.base_dn")
        named: dict[str, str] = {}
        for company in self.companies:
            for alias in {company.code, company.name, *company.aliases} - {""}:
                key = company_name_key(alias)
                if named.setdefault(key, company.code) != company.code:
                    raise ValueError(f"companies: {alias!r} names both {named[key]} and {company.code} (as HR's "
                                     "rows are read: full-width and half-width forms, letter case and spacing aside)")
        rest = self.hr.rest
        if rest is not None:
            for label, value in [("company", rest.company), *((f"company_map.{k}", v) for k, v in rest.company_map.items())]:
                if value and company_name_key(value) not in named:
                    raise ValueError(f"hr.rest.{label}: {value!r} is none of the companies' codes, names or aliases")
        for index, role in enumerate(self.web.roles if self.web else ()):
            unknown = sorted(set(role.companies) - {"*", *codes})
            if unknown:
                raise ValueError(f"web.roles[{index}].companies: unknown company code(s) {unknown}; known: {codes} or \"*\"")
        return self

    def with_transactions(self) -> Settings:
        """These settings with `[directory] transactions = true` (`apply --transactions`, the bench's flag)."""
        return self.model_copy(update={"directory": self.directory.model_copy(update={"transactions": True})})

    def company(self, code: str) -> CompanySettings:
        for company in self.companies:
            if company.code == code:
                return company
        raise KeyError(code)

    def company_zone(self, code: str) -> tzinfo:
        company = next((c for c in self.companies if c.code == code), None)
        return _zone((company.timezone if company else None) or self.policy.timezone)


def company_name_key(name: str) -> str:
    """A company's code, name or alias as HR's company cells are matched against it (connectors.hr_values
    normalize_text, then casefold): NFKC, zero-width characters dropped, white space collapsed."""
    text = unicodedata.normalize("NFKC", name).translate(ZERO_WIDTH)
    return " ".join(text.split()).casefold()


# Zero-width characters and the soft hyphen: dropped from HR's text (connectors.hr_values) and company names.
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'Asia/Shanghai'") from exc


def _dn_within(dn: str, base: str) -> bool:
    def norm(value: str) -> str:
        return ",".join(part.strip().lower() for part in value.split(","))

    return norm(dn) == norm(base) or norm(dn).endswith("," + norm(base))


def resolve_config_path(cli_path: str | os.PathLike[str] | None) -> Path:
    if cli_path:
        return Path(cli_path)
    if os.environ.get("LIFECYCLE_CONFIG"):
        return Path(os.environ["LIFECYCLE_CONFIG"])
    return DEFAULT_CONFIG_PATH


def load_settings(path: str | os.PathLike[str] | None = None, *, secrets: bool = True) -> Settings:
    """Read the TOML file and the environment; raise ConfigError naming every bad key.

    With `secrets=False` the secrets are not read nor required (a command that
    connects to nothing); `read_secrets` reads them later, as far as it can.
    """
    config_path = resolve_config_path(path)
    try:
        with open(config_path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {config_path} not found; pass --config FILE or set LIFECYCLE_CONFIG") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {config_path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {config_path} is not valid TOML: {exc}") from exc
    saved = os.environ.pop("LIFECYCLE_CONFIG", None)  # not a setting, only the path
    deferred = _SECRETS_DEFERRED.set(not secrets)
    try:
        return Settings(**data)
    except ValidationError as exc:
        from lifecycle.domain.config_errors import format_validation_error

        raise ConfigError(format_validation_error(exc, config_path)) from exc
    finally:
        _SECRETS_DEFERRED.reset(deferred)
        if saved is not None:
            os.environ["LIFECYCLE_CONFIG"] = saved


def read_secrets(settings: Settings) -> tuple[Settings, dict[str, str]]:
    """`settings` with every secret that could be read, and why the others could not, by section.

    The sections are "directory" and "mail" (the Dovecot key counts as mail's:
    without it the mail side is not opened).  A section with a problem keeps
    no secret; its connector must not be opened.
    """
    problems: dict[str, str] = {}
    directory, mail = settings.directory, settings.mail
    try:
        directory = directory.model_copy(update={"bind_password": read_secret(directory, DIRECTORY_SECRET)})
    except ValueError as exc:
        problems["directory"] = str(exc)
    if mail is not None:
        try:
            dovecot = mail.dovecot
            if dovecot is not None:
                dovecot = dovecot.model_copy(update={"api_key": read_secret(dovecot, DOVECOT_SECRET)})
            mail = mail.model_copy(update={"token": read_secret(mail, MAIL_SECRET), "dovecot": dovecot})
        except ValueError as exc:
            problems["mail"] = str(exc)
    return settings.model_copy(update={"directory": directory, "mail": mail}), problems
