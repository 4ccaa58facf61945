"""`[hr.rest]`: an HR SaaS read over its documented API (DingTalk, Feishu, WeCom, or a generic JSON API).

A preset knows its vendor's endpoints, token, paging, errors and which user field holds which HR
value; `fields` overrides a field (canonical field -> the vendor's field path, see `FIELD_PATH`).
The contact APIs carry no company: it is `company` for every record, else the department at
`company_level` of the department path (mapped through `company_map`, else matched against the
companies' codes, names and aliases), else a vendor field named in `fields.company`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["CANONICAL_REST_FIELDS", "FIELD_PATH", "WRITEBACK_FIELDS", "HrRestSettings", "zone_name"]

# The canonical HR fields a REST source fills (`lifecycle.domain.hr_settings.CANONICAL_HR_FIELDS`).
CANONICAL_REST_FIELDS = (
    "employee_id", "name", "family_name", "english_name", "company", "department", "title", "manager_id",
    "status", "hire_date", "termination_date", "email", "account",
)
# A field path: dotted keys and list indexes ("status.is_resigned", "department_ids.0", "extattrs.入职日期"),
# optionally followed by "|epoch_s" or "|epoch_ms" (a Unix time in seconds or milliseconds, read as a date
# in `timezone`).
FIELD_PATH = re.compile(r"[^|\s.][^|]*(\|(epoch_s|epoch_ms))?")
Preset = Literal["dingtalk", "feishu", "wecom", "generic"]
# The user fields each vendor's user-update API takes an address in (the first: the default).
WRITEBACK_FIELDS: dict[str, tuple[str, ...]] = {
    "dingtalk": ("email", "org_email"),
    "feishu": ("email", "enterprise_email"),
    "wecom": ("email", "biz_mail"),
}


def zone_name(value: str) -> str:
    """`value` if it is an IANA time zone name (the dates HR sends as instants are taken in it)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a time zone (e.g. Asia/Shanghai)") from exc
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class HrRestSettings(_Section):
    preset: Preset
    base_url: str = Field("", description="the API's address (default: the vendor's)")
    app_id: str = Field("", description="AppKey (DingTalk), App ID (Feishu), corpid (WeCom), client id (generic)")
    app_secret: SecretStr | None = None
    app_secret_file: Path | None = None
    writeback: bool = Field(False, description="write the assigned work email back where the vendor allows it")
    writeback_field: str = Field(
        "email", description="the vendor's user field the work email is written to and read back from "
        "(DingTalk: email or org_email; Feishu: email or enterprise_email; WeCom: email or biz_mail)"
    )
    # -- what a record is made of
    fields: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> the vendor's field path (overrides the preset's)"
    )
    company: str = Field("", description="the company (code or name) of every record, when the org is one company")
    company_level: int = Field(
        0, ge=0, le=10, description="the department path level naming the company (0: the first level below the root)"
    )
    company_map: dict[str, str] = Field(
        default_factory=dict, description="department name at company_level -> company code or name"
    )
    root_department: str = Field("", description="the department whose subtree is read (default: the whole org)")
    root_name: str = Field("", description="a name put before every department path (e.g. the group's name)")
    timezone: str = Field("Asia/Shanghai", description="the zone in which a Unix time becomes a date (hire dates)")
    # -- how it is read
    page_size: int = Field(0, ge=0, le=10000, description="records per page (0: the preset's, at its documented maximum)")
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(5, ge=0, le=20, description="retries of one call after a rate-limit or busy answer")
    max_wait_seconds: float = Field(
        120.0, gt=0, le=3600, description="longest wait for one retry; a longer wait asked for fails the read"
    )
    # -- generic only
    token_url: str = Field("", description="generic: the client-credentials token URL (DingTalk: its token URL)")
    auth: Literal["none", "bearer", "client_credentials"] = Field(
        "bearer", description="generic: none, a bearer token (app_secret_file), or an OAuth2 client-credentials token"
    )
    records_url: str = Field("", description="generic: the URL (or path under base_url) listing the employees")
    records_path: str = Field("", description='generic: where the list is in the answer ("data.items"; "": the answer)')
    query: dict[str, str] = Field(default_factory=dict, description="generic: query parameters sent with every page")
    paging: Literal["none", "cursor", "page", "offset", "link"] = Field(
        "none", description="generic: how the next page is asked for"
    )
    has_more_path: str = Field(
        "", description='generic paging: where the answer says whether more pages follow ("has_more"; "": not said)'
    )
    total_path: str = Field(
        "", description='generic page/offset paging: where the answer gives the number of records ("total"; "": not given)'
    )
    cursor_param: str = Field("cursor", description="generic cursor paging: the query parameter carrying the cursor")
    next_cursor_path: str = Field("next_cursor", description="generic cursor paging: where the answer gives the next one")
    page_param: str = Field("page", description="generic page/offset paging: the page number's (or offset's) parameter")
    size_param: str = Field("page_size", description="generic page/offset paging: the page size's parameter")
    first_page: int = Field(1, ge=0, description="generic page paging: the first page's number")
    record_key: str = Field(
        "", description="generic: the record's own id (one record each), named in messages; without it no two records "
        "are taken for one"
    )

    @field_validator("fields")
    @classmethod
    def _paths(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CANONICAL_REST_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; allowed: {', '.join(CANONICAL_REST_FIELDS)}")
        for field, path in value.items():
            if path and not FIELD_PATH.fullmatch(path):
                raise ValueError(
                    f"fields.{field} = {path!r} is not a field path (dotted keys, e.g. \"status.is_resigned\", "
                    "optionally ending in |epoch_s or |epoch_ms)"
                )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return zone_name(value)

    @model_validator(mode="after")
    def _consistent(self) -> HrRestSettings:
        if self.app_secret is not None and self.app_secret_file is not None:
            raise ValueError("[hr.rest] sets both app_secret and app_secret_file; keep one (app_secret_file is recommended)")
        for url in (self.base_url, self.token_url, self.records_url):
            if url and not url.startswith(("https://", "http://", "/")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        if self.preset == "generic":
            self._generic()
        else:
            if not self.app_id:
                raise ValueError(f'preset = "{self.preset}" needs app_id ({_APP_ID[self.preset]})')
            if self.app_secret is None and self.app_secret_file is None:
                raise ValueError(f'preset = "{self.preset}" needs the app secret: set app_secret_file (recommended)')
            self._writeback_field()
            if self.preset == "wecom" and not self.fields.get("hire_date"):
                raise ValueError(
                    "WeCom's contact API has no hire date: add a custom field (扩展属性) such as 入职日期 in the WeCom "
                    'admin console and set [hr.rest.fields] hire_date = "extattrs.入职日期"'
                )
        return self

    def _writeback_field(self) -> None:
        allowed = WRITEBACK_FIELDS[self.preset]
        if self.writeback_field not in allowed:
            raise ValueError(
                f'writeback_field = "{self.writeback_field}" is not an address field of preset = "{self.preset}"; '
                f"use one of: {', '.join(allowed)}"
            )
        read_from = self.fields.get("email")
        if self.writeback and read_from is not None and read_from != self.writeback_field:
            raise ValueError(
                f'[hr.rest.fields] email = "{read_from}" reads the address from another field than writeback_field = '
                f'"{self.writeback_field}" writes it to: the address read back would never be the one written, and it '
                f'would be written again every cycle; fix: remove fields.email (it then reads "{self.writeback_field}") '
                f'or set it to "{self.writeback_field}"'
            )

    def _generic(self) -> None:
        if not self.records_url:
            raise ValueError('preset = "generic" needs records_url (the URL listing the employees)')
        missing = [f for f in ("employee_id", "name", "department", "status", "hire_date") if not self.fields.get(f)]
        if missing:
            raise ValueError(f'preset = "generic" needs [hr.rest.fields] paths for {", ".join(missing)}')
        if not (self.fields.get("company") or self.company):
            raise ValueError('preset = "generic" needs company (one company) or [hr.rest.fields] company')
        if self.auth != "none" and self.app_secret is None and self.app_secret_file is None:
            raise ValueError(f'auth = "{self.auth}" needs the secret: set app_secret_file (recommended)')
        if self.auth == "client_credentials" and not (self.token_url and self.app_id):
            raise ValueError('auth = "client_credentials" needs token_url and app_id (the client id)')
        if self.writeback:
            raise ValueError('preset = "generic" cannot write back; set writeback = false')


_APP_ID = {"dingtalk": "the app's AppKey", "feishu": "the app's App ID (cli_...)", "wecom": "the corpid (ww...)"}
