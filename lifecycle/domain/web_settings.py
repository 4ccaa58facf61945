"""`[web]`: the delegated-administration console (`lifecycle web`).

The console logs admins in against the directory (their own password) and maps
their groups to the companies they may see and decide for.  It holds no
group-wide secret: its one secret signs the session cookies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class WebRole(_Section):
    """Members of `group_dn` (a groupOfNames) may act for `companies` ("*": every company)."""

    group_dn: str = Field(min_length=3)
    companies: tuple[str, ...] = Field(min_length=1)


class WebSettings(_Section):
    listen: str = Field("127.0.0.1:8080", description="HOST:PORT the console listens on (put a TLS proxy in front)")
    base_url: str = Field("http://127.0.0.1:8080", description="the address admins open; https makes the cookies Secure")
    session_secret: SecretStr | None = Field(None, description="key that signs session cookies (session_secret_file is recommended)")
    session_secret_file: Path | None = Field(None, description="file holding that key (32+ random bytes)")
    language: Literal["zh-CN", "en"] = Field("zh-CN", description="the language of a new session")
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60, description="a session unused this long ends")
    session_max_hours: int = Field(12, ge=1, le=7 * 24, description="a session ends this long after its login, used or not")
    login_failures: int = Field(5, ge=1, le=100, description="failed logins per user in login_window_minutes before 429")
    login_window_minutes: int = Field(5, ge=1, le=24 * 60)
    lookup_bind_dn: str = Field("", description="read-only DN that finds users where anonymous search is forbidden")
    lookup_password: SecretStr | None = None
    lookup_password_file: Path | None = None
    proxy_hops: int = Field(0, ge=0, le=5, description="reverse proxies in front whose X-Forwarded-For is trusted")
    roles: tuple[WebRole, ...] = ()

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"listen {value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url {value!r} must start with http:// or https://")
        return value.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")
