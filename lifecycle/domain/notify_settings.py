"""`[notify]`: who is told what by mail, through which SMTP relay (lifecycle.domain.notices).

Without `[notify]` nothing is sent and `lifecycle check` says so.  The relay's password is read
from `password_file` (systemd LoadCredential=); it is never logged.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Language = Literal["zh-CN", "en"]


def loopback_host(host: str) -> bool:
    """`localhost` or a loopback IP: a connection that never leaves this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address_problem(address: str) -> str | None:
    """What keeps `address` from being one bare mail address (local@domain.tld), None if nothing does."""
    if any(ch in address for ch in '<>",;'):
        return "is not a bare address (no display name, one address per entry)"
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in address):
        return "contains a space or a control character"
    local, at, domain = address.partition("@")
    if not at or not local or "@" in domain:
        return "must contain exactly one @, with a name before it"
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        return f"has no valid domain after the @ ({domain!r} needs a dot, as in example.com)"
    return None


def notify_addresses(value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
    """`[[companies]] notify_to`: each entry one bare address; the error names the company and the entry."""
    for address in value:
        problem = address_problem(address)
        if problem:
            company = info.data.get("code", "?")
            raise ValueError(f"company {company}: notify_to entry {address!r} {problem}: "
                             'write each as a bare address, like notify_to = ["it-sz@sz.example.com"]')
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class NotifySettings(_Section):
    smtp_url: str = Field(
        "smtp://127.0.0.1:25",
        description="smtp://HOST[:PORT] (STARTTLS when the server offers it) or smtps://HOST[:PORT] (TLS from the start)",
    )
    username: str = Field("", description="SMTP AUTH user; empty: no AUTH")
    password_file: Path | None = Field(None, description="file holding the SMTP AUTH password (LoadCredential=)")
    require_tls: bool = Field(False, description="refuse to send over smtp:// when the server offers no STARTTLS")
    sender: str = Field("IT <it@example.com>", description="From: of every notice")
    language: Language = Field("zh-CN", description="the notices' language where [[companies]] language is not set")
    digest_at: str = Field("08:30", description="HH:MM, company time: when each branch contact gets the daily digest")
    joiner_days: int = Field(
        30, ge=0, le=3650,
        description="an account made for someone hired more than this many days ago (an initial load) tells no manager",
    )
    templates_dir: Path | None = Field(
        None, description="a directory of templates that override the built-in ones, same names (<language>/<event>.*)"
    )
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="one SMTP conversation's time limit")
    retry_hours: float = Field(72.0, gt=0, le=24 * 30, description="a notice not accepted within this is marked failed")
    recheck_minutes: float = Field(
        15.0, ge=1, le=24 * 60,  # 0 would re-check a row another drain is sending right now
        description="a send interrupted this long ago is re-checked in the recipient's mailbox before any resend",
    )

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"smtp_url {value!r} must be smtp://HOST[:PORT] or smtps://HOST[:PORT]")
        if parts.username or parts.password:
            raise ValueError("smtp_url must not carry a user or password: set username and password_file")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address:
            raise ValueError(f"sender {value!r} has no address (write it as \"IT <it@example.com>\")")
        return value

    @field_validator("digest_at")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"digest_at {value!r} is not HH:MM (00:00-23:59)")
        return value

    @field_validator("password_file", "templates_dir", mode="before")
    @classmethod
    def _unset_if_empty(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    def clear_text_risk(self) -> str | None:
        """Why a message could cross the network in clear through this relay; None when it cannot (smtps://,
        require_tls, or a relay on this host)."""
        parts = urlsplit(self.smtp_url)
        if parts.scheme == "smtps" or self.require_tls or loopback_host(parts.hostname or ""):
            return None
        return (f"[notify] smtp_url {self.smtp_url} is another host, and without require_tls a relay that offers no "
                "STARTTLS gets the message in clear: set [notify] require_tls = true (with STARTTLS on the relay) "
                "or use smtps://")
