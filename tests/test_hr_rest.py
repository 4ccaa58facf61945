"""`[hr] kind = "rest"`: the DingTalk, Feishu, WeCom and generic presets against local servers that answer as the
vendors document (tests/hr_vendor_fakes.py): paging, token renewal, rate limits, errors mid-read, write-back,
secrets kept out of messages and logs, and the HrSource contract."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import ValidationError

from connectors.hr_rest import RestHrSource, open_rest_source
from lifecycle.domain.errors import FeedError, HrWriteBackError
from lifecycle.domain.hr_settings import HrSettings
from lifecycle.domain.models import HrRecord, HrStatus
from lifecycle.domain.settings import Settings
from lifecycle.engine.cycle import company_aliases, open_hr, read_hr
from lifecycle.testing.conformance import HrSourceContract
from lifecycle.testing.conformance.hr import Publish
from tests.harness import make_settings
from tests.hr_vendor_fakes import DingTalkFake, FeishuFake, GenericFake, WeComFake, _Fake

TODAY = date(2026, 6, 1)
PRESETS = ("dingtalk", "feishu", "wecom")
FAKES: dict[str, type[_Fake]] = {"dingtalk": DingTalkFake, "feishu": FeishuFake, "wecom": WeComFake}
# What every preset reads from the sample org: (employee id, name, company, department, manager, hire date).
EXPECTED = {
    ("E001", "李娜", "HQ", "集团总部/财务部", "", date(2020, 1, 2)),
    ("E002", "王芳", "HQ", "集团总部/财务部", "E001", date(2021, 3, 15)),
    ("E003", "赵敏", "HQ", "集团总部/财务部", "E001", date(2021, 3, 15)),
    ("E004", "陈晨", "SZ", "深圳分公司/研发部", "", date(2019, 7, 1)),
    ("E005", "刘洋", "SZ", "深圳分公司/研发部", "E004", date(2021, 3, 15)),
    ("E006", "孙丽", "SZ", "深圳分公司/研发部", "E004", date(2021, 3, 15)),
    ("E007", "周杰", "SZ", "深圳分公司", "E004", date(2021, 3, 15)),
}


@dataclass
class Clock:
    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def secret_file(tmp_path: Path, secret: str) -> Path:
    path = tmp_path / "app_secret"
    path.write_text(secret + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def hr_settings(preset: str, url: str, tmp_path: Path, secret: str = _Fake.secret, **rest: Any) -> HrSettings:
    options: dict[str, Any] = {"preset": preset, "base_url": url, "app_id": _Fake.app_id,
                               "app_secret_file": secret_file(tmp_path, secret), "page_size": 2, **rest}
    if preset == "wecom":
        options["fields"] = {"employee_id": "extattrs.工号", "hire_date": "extattrs.入职日期", **options.get("fields", {})}
    return HrSettings(kind="rest", department_path_separator="/", rest=options)


def settings_for(tmp_path: Path, hr: HrSettings) -> Settings:
    return make_settings(tmp_path).model_copy(update={"hr": hr})


def open_source(hr: HrSettings, tmp_path: Path, clock: Clock) -> RestHrSource:
    return open_rest_source(hr, company_aliases(settings_for(tmp_path, hr)), sleep=clock.sleep, clock=clock)


def seen(records: Sequence[HrRecord]) -> set[tuple[object, ...]]:
    return {(r.employee_id, r.name, r.company, r.department, r.manager_id, r.hire_date) for r in records}


@pytest.fixture(params=PRESETS)
def vendor(request: pytest.FixtureRequest) -> Iterator[_Fake]:
    with FAKES[request.param]() as fake:
        yield fake


def preset_of(fake: _Fake) -> str:
    return next(name for name, kind in FAKES.items() if isinstance(fake, kind))


# -- reading -------------------------------------------------------------------------------------------


def test_every_page_of_every_department_is_read(vendor: _Fake, tmp_path: Path) -> None:
    clock = Clock()
    source = open_source(hr_settings(preset_of(vendor), vendor.url, tmp_path), tmp_path, clock)
    snapshot = source.read(TODAY)
    assert seen(snapshot.records) == EXPECTED
    assert snapshot.rejected == () and all(r.status is HrStatus.ACTIVE for r in snapshot.records)
    assert {r.title for r in snapshot.records} >= {"财务经理", "工程师"}
    paged = [what for path, what in vendor.calls if "user" in path]
    if isinstance(vendor, DingTalkFake):  # 财务部 and 研发部 hold three people each: two pages of two
        assert {(c["dept_id"], c["cursor"]) for c in paged} >= {(4, 0), (4, 2), (5, 0), (5, 2)}
    elif isinstance(vendor, FeishuFake):
        assert sum(1 for c in paged if "page_token" in c) == 2
        assert any("page_token" in what for path, what in vendor.calls if "departments" in path)  # four departments
    else:  # WeCom: one page per department
        assert sorted(c["department_id"] for c in paged) == ["1", "2", "3", "4", "5"]
    assert source.age_seconds() == float("inf")


def test_the_department_path_takes_the_root_name_and_the_strip_prefix(tmp_path: Path) -> None:
    with DingTalkFake() as fake:
        hr = hr_settings("dingtalk", fake.url, tmp_path, root_name="星河集团")
        hr = hr.model_copy(update={"department_strip_prefix": 1})
        records = open_source(hr, tmp_path, Clock()).read(TODAY).records
    assert {r.employee_id: r.department for r in records}["E002"] == "集团总部/财务部"


def test_a_fixed_company_or_a_company_map(tmp_path: Path) -> None:
    with FeishuFake() as fake:
        one = open_source(hr_settings("feishu", fake.url, tmp_path, company="HQ"), tmp_path, Clock()).read(TODAY)
        mapped = open_source(hr_settings("feishu", fake.url, tmp_path, company_map={"深圳分公司": "HQ"}), tmp_path,
                             Clock()).read(TODAY)
    assert {r.company for r in one.records} == {"HQ"}
    assert {r.company for r in mapped.records} == {"HQ"}


def test_feishu_resigned_users_are_terminated(tmp_path: Path) -> None:
    with FeishuFake() as fake:
        fake.org.users[2].resigned = True
        records = open_source(hr_settings("feishu", fake.url, tmp_path), tmp_path, Clock()).read(TODAY).records
    assert {r.employee_id: r.status for r in records}["E003"] is HrStatus.TERMINATED


def test_a_field_mapping_overrides_the_preset(tmp_path: Path) -> None:
    with DingTalkFake() as fake:
        for user in fake.org.users:
            user.extra = {"extension": '{"合同公司": "SZ"}', "remark": "SZ"}
        hr = hr_settings("dingtalk", fake.url, tmp_path, fields={"company": "remark", "employee_id": "userid"})
        records = open_source(hr, tmp_path, Clock()).read(TODAY).records
    assert {r.company for r in records} == {"SZ"} and "u-li" in {r.employee_id for r in records}


# -- tokens ----------------------------------------------------------------------------------------------


def test_the_token_is_kept_and_an_expired_one_renewed_once(vendor: _Fake, tmp_path: Path) -> None:
    clock = Clock()
    source = open_source(hr_settings(preset_of(vendor), vendor.url, tmp_path), tmp_path, clock)
    first = source.read(TODAY)
    assert vendor.tokens_issued == 1
    assert source.read(TODAY).fingerprint == first.fingerprint and vendor.tokens_issued == 1
    vendor.expire_tokens()  # the vendor says "expired": renewed, and the call made again
    assert seen(source.read(TODAY).records) == EXPECTED
    assert vendor.tokens_issued == 2
    clock.now += 7200 - 200  # shortly before it expires, the token is renewed without asking the vendor first
    before = len(vendor.calls)
    source.read(TODAY)
    assert vendor.tokens_issued == 3
    assert len(vendor.calls) - before == before // 3  # no call was refused: the read took as many calls as the others


def test_a_wrong_secret_fails_the_read_naming_the_vendor_answer_without_the_secret(vendor: _Fake, tmp_path: Path) -> None:
    wrong = "wrong-Secret-9f8e7d"
    source = open_source(hr_settings(preset_of(vendor), vendor.url, tmp_path, secret=wrong), tmp_path, Clock())
    with structlog.testing.capture_logs() as logs, pytest.raises(FeedError) as failure:
        source.read(TODAY)
    message = str(failure.value)
    assert {"dingtalk": "invalidClientIdOrSecret", "feishu": "10014", "wecom": "40001"}[preset_of(vendor)] in message
    assert "fix:" in message
    assert wrong not in message and wrong not in repr(logs)
    assert source.fingerprint() == ""


# -- rate limits and retries -------------------------------------------------------------------------------


def test_a_rate_limit_answer_is_waited_for(vendor: _Fake, tmp_path: Path) -> None:
    clock = Clock()
    source = open_source(hr_settings(preset_of(vendor), vendor.url, tmp_path), tmp_path, clock)
    vendor.rate_limit(times=2, wait=7)
    assert seen(source.read(TODAY).records) == EXPECTED
    # Feishu says how long (x-ogw-ratelimit-reset); DingTalk and WeCom do not: exponential backoff from 1 s.
    assert clock.slept == ([7.0, 7.0] if isinstance(vendor, FeishuFake) else [1.0, 2.0])


def test_retries_are_bounded(vendor: _Fake, tmp_path: Path) -> None:
    clock = Clock()
    source = open_source(hr_settings(preset_of(vendor), vendor.url, tmp_path, max_retries=2), tmp_path, clock)
    vendor.rate_limit(times=10, wait=1)
    with pytest.raises(FeedError, match="gave up after 3 attempts"):
        source.read(TODAY)
    assert len(clock.slept) == 2


def test_a_wait_longer_than_allowed_is_not_waited_for(tmp_path: Path) -> None:
    clock = Clock()
    with FeishuFake() as fake:
        source = open_source(hr_settings("feishu", fake.url, tmp_path, max_wait_seconds=60), tmp_path, clock)
        fake.rate_limit(times=1, wait=3600)
        with pytest.raises(FeedError, match=r"99991400.*wait 3600 s.*max_wait_seconds"):
            source.read(TODAY)
    assert clock.slept == []


# -- an error mid-read fails the whole read ------------------------------------------------------------------

MID_READ = {"dingtalk": (60011, "没有调用该接口的权限"), "feishu": (40004, "no dept authority error"),
            "wecom": (60011, "no privilege to access/modify contact/party/agent")}


def test_an_error_mid_read_fails_the_whole_read(vendor: _Fake, tmp_path: Path) -> None:
    source = open_source(hr_settings(preset_of(vendor), vendor.url, tmp_path), tmp_path, Clock())
    code, message = MID_READ[preset_of(vendor)]
    vendor.fail_call(6, code, message)  # after the departments and the first pages of users
    with pytest.raises(FeedError) as failure:
        source.read(TODAY)
    text = str(failure.value)
    assert f"error {code}: {message}" in text and "fix:" in text and "partial" in text
    assert len(vendor.calls) == 6  # it stopped there: no row was made of the pages before
    vendor.fail_call(6, code, message)
    assert source.fingerprint() == ""


def test_in_a_cycle_an_api_error_stops_the_read_of_hr(tmp_path: Path) -> None:
    with WeComFake() as fake:
        hr = hr_settings("wecom", fake.url, tmp_path)
        settings = settings_for(tmp_path, hr)
        source = open_hr(settings)  # [hr] kind = "rest" dispatches to the preset
        assert isinstance(source, RestHrSource)
        assert len(read_hr(settings, source).records) == 7
        fake.fail_call(4, 60011, "no privilege to access/modify contact/party/agent")
        with pytest.raises(FeedError, match="60011"):
            read_hr(settings, source)


# -- write-back ---------------------------------------------------------------------------------------------


def test_the_work_email_is_written_back(vendor: _Fake, tmp_path: Path) -> None:
    source = open_source(hr_settings(preset_of(vendor), vendor.url, tmp_path, writeback=True), tmp_path, Clock())
    source.read(TODAY)
    source.write_back("E002", "wangfang", "wang.fang@example.com")
    user = {"dingtalk": "u-wang", "feishu": "ou_u-wang", "wecom": "u-wang"}[preset_of(vendor)]
    assert vendor.updates == [(user, {"email": "wang.fang@example.com"})]
    with pytest.raises(HrWriteBackError, match="no user has the employee id E999"):
        source.write_back("E999", "nobody", "nobody@example.com")


def test_a_refused_write_back_names_the_vendor_code(tmp_path: Path) -> None:
    with DingTalkFake() as fake:
        source = open_source(hr_settings("dingtalk", fake.url, tmp_path, writeback=True), tmp_path, Clock())
        source.read(TODAY)
        fake.fail_call(1, 60011, "没有调用该接口的权限")
        with pytest.raises(HrWriteBackError, match="E002.*error 60011: 没有调用该接口的权限"):
            source.write_back("E002", "wangfang", "wang.fang@example.com")
        assert fake.updates == []


def test_write_back_is_off_unless_asked(tmp_path: Path) -> None:
    with WeComFake() as fake:
        source = open_source(hr_settings("wecom", fake.url, tmp_path), tmp_path, Clock())
        with pytest.raises(HrWriteBackError, match="writeback is off"):
            source.write_back("E002", "wangfang", "wang.fang@example.com")
        assert fake.updates == []


def test_write_back_finds_an_employee_id_the_vendor_wrote_in_full_width(tmp_path: Path) -> None:
    with DingTalkFake() as fake:
        fake.org.users[1].employee_id = "Ｅ００２"  # NFKC: E002
        source = open_source(hr_settings("dingtalk", fake.url, tmp_path, writeback=True), tmp_path, Clock())
        assert "E002" in {r.employee_id for r in source.read(TODAY).records}
        calls = len(fake.calls)
        source.write_back("E002", "wangfang", "wang.fang@example.com")
        assert fake.updates == [("u-wang", {"email": "wang.fang@example.com"})] and len(fake.calls) == calls + 1


def test_write_back_reads_the_org_at_most_once_in_a_source_lifetime(tmp_path: Path) -> None:
    with FeishuFake() as fake:
        source = open_source(hr_settings("feishu", fake.url, tmp_path, writeback=True), tmp_path, Clock())
        for _ in range(3):
            with pytest.raises(HrWriteBackError, match="no user has the employee id E999 in the last read"):
                source.write_back("E999", "nobody", "nobody@example.com")
        assert source.fetches == 1 and fake.updates == []
        source.write_back("e002", "wangfang", "wang.fang@example.com")  # as the duplicate check compares: any case
        assert source.fetches == 1 and fake.updates == [("ou_u-wang", {"email": "wang.fang@example.com"})]


def test_write_back_to_users_sharing_an_employee_id_is_refused(tmp_path: Path) -> None:
    with WeComFake() as fake:
        fake.org.users[2].employee_id = "E002"
        source = open_source(hr_settings("wecom", fake.url, tmp_path, writeback=True), tmp_path, Clock())
        with pytest.raises(HrWriteBackError, match="u-wang, u-zhao share the employee id E002"):
            source.write_back("E002", "wangfang", "wang.fang@example.com")
        assert fake.updates == []


@pytest.mark.parametrize(("preset", "address"), [("dingtalk", "org_email"), ("feishu", "enterprise_email"),
                                                 ("wecom", "biz_mail")])
def test_the_address_is_written_to_and_read_back_from_the_writeback_field(preset: str, address: str,
                                                                          tmp_path: Path) -> None:
    with FAKES[preset]() as fake:
        for user in fake.org.users:
            user.extra = {address: f"{user.userid}@mail.example.com"}
        source = open_source(hr_settings(preset, fake.url, tmp_path, writeback=True, writeback_field=address),
                             tmp_path, Clock())
        assert {r.employee_id: r.email for r in source.read(TODAY).records}["E002"] == "u-wang@mail.example.com"
        source.write_back("E002", "wangfang", "wang.fang@example.com")
        assert [body for _, body in fake.updates] == [{address: "wang.fang@example.com"}]
        assert {r.employee_id: r.email for r in source.read(TODAY).records}["E002"] == "wang.fang@example.com"


def test_a_vendor_that_returns_no_address_gets_none_written(vendor: _Fake, tmp_path: Path) -> None:
    """Without the right to read the users' email the vendor leaves it out: a write could never be read back."""
    vendor.hidden_fields = {"email"}
    source = open_source(hr_settings(preset_of(vendor), vendor.url, tmp_path, writeback=True), tmp_path, Clock())
    assert len(source.read(TODAY).records) == 7
    with pytest.raises(HrWriteBackError, match="returns no user's email.*fix: give the app the right to read"):
        source.write_back("E002", "wangfang", "wang.fang@example.com")
    assert vendor.updates == []


# -- secrets -------------------------------------------------------------------------------------------------


def test_neither_the_secret_nor_the_token_reaches_a_message_or_a_log(tmp_path: Path) -> None:
    """WeCom carries the secret and the token in URLs; a vendor answer quoting the URL is scrubbed."""
    with WeComFake() as fake:
        clock = Clock()
        source = open_source(hr_settings("wecom", fake.url, tmp_path), tmp_path, clock)
        fake.rate_limit(times=1)
        fake.fail_call(3, 60011, "no privilege, hint: [{url}]")
        with structlog.testing.capture_logs() as logs, pytest.raises(FeedError) as failure:
            source.read(TODAY)
        tokens = list(fake.tokens)
        wrong = "Wrong/Secret+With=Chars"
        other = open_source(hr_settings("wecom", fake.url, tmp_path, secret=wrong), tmp_path, clock)
        with pytest.raises(FeedError) as refused:
            other.read(TODAY)
    texts = [str(failure.value), str(refused.value), repr(logs)]
    assert "access_token=********" in texts[0] and "corpsecret=********" in texts[1]
    for text in texts:
        assert _Fake.secret not in text and wrong not in text and "Wrong%2FSecret" not in text
        assert not any(token in text for token in tokens)


# -- the generic preset ------------------------------------------------------------------------------------

GENERIC_FIELDS = {"employee_id": "profile.number", "name": "profile.name", "company": "org.company",
                  "department": "org.department", "title": "org.title", "manager_id": "manager", "status": "state",
                  "hire_date": "hired", "termination_date": "left", "email": "mail"}


def generic_settings(url: str, tmp_path: Path, **rest: Any) -> HrSettings:
    options: dict[str, Any] = {
        "preset": "generic", "base_url": url, "auth": "client_credentials", "token_url": "/oauth/token",
        "app_id": _Fake.app_id, "app_secret_file": secret_file(tmp_path, _Fake.secret), "records_url": "/api/v1/employees",
        "records_path": "data.employees", "paging": "cursor", "size_param": "limit", "page_size": 2,
        "fields": GENERIC_FIELDS, "record_key": "id", **rest}
    return HrSettings(kind="rest", rest=options)


def test_generic_reads_every_cursor_page(tmp_path: Path) -> None:
    clock = Clock()
    with GenericFake() as fake:
        source = open_source(generic_settings(fake.url, tmp_path), tmp_path, clock)
        snapshot = source.read(TODAY)
        assert fake.limits == [2, 2, 2, 2]  # seven records, two a page
        assert [what.get("cursor") for _, what in fake.calls] == [None, "c1", "c2", "c3"]
        fake.expire_tokens()
        fake.rate_limit(times=1, wait=3)
        assert source.read(TODAY).fingerprint == snapshot.fingerprint
        assert fake.tokens_issued == 2 and clock.slept == [3.0]
    assert {(r.employee_id, r.company, r.department, r.manager_id) for r in snapshot.records} >= {
        ("E002", "HQ", "财务部", "E001"), ("E007", "SZ", "深圳分公司", "")}


@pytest.mark.parametrize("paging", ["page", "offset", "link"])
def test_generic_reads_numbered_and_linked_pages(paging: str, tmp_path: Path) -> None:
    with GenericFake() as fake:
        fake.paging = paging
        extra: dict[str, Any] = {"paging": paging, "page_param": "offset" if paging == "offset" else "page"}
        if paging == "link":
            extra["page_size"] = 3
        snapshot = open_source(generic_settings(fake.url, tmp_path, **extra), tmp_path, Clock()).read(TODAY)
        pages = [what.get("offset" if paging == "offset" else "page") for _, what in fake.calls]
    assert len(snapshot.records) == 7
    # page and offset: two a page, the fourth is short, the fifth empty ends it; link: the server's next links.
    assert pages == {"page": ["1", "2", "3", "4", "5"], "offset": ["0", "2", "4", "6", "7"],
                     "link": [None, "2", "3"]}[paging]


@pytest.mark.parametrize("paging", ["page", "offset"])
def test_generic_reads_on_past_a_page_the_server_cut_short(paging: str, tmp_path: Path) -> None:
    """A server that caps the page size below page_size answers short pages that are not the last."""
    with GenericFake() as fake:
        fake.paging, fake.max_limit = paging, 2
        hr = generic_settings(fake.url, tmp_path, paging=paging, page_size=5,
                              page_param="offset" if paging == "offset" else "page")
        snapshot = open_source(hr, tmp_path, Clock()).read(TODAY)
    assert sorted(r.employee_id for r in snapshot.records) == [f"E00{n}" for n in range(1, 8)]


def test_generic_page_paging_with_a_parameter_the_api_ignores_stops_at_the_repeated_page(tmp_path: Path) -> None:
    """The API wants `page`; the config says `pageNo`: every answer is page 1, and no page is ever empty."""
    with GenericFake() as fake:
        fake.paging = "page"
        hr = generic_settings(fake.url, tmp_path, paging="page", page_param="pageNo")
        with pytest.raises(FeedError, match="the same records as the page before.*page_param 'pageNo'"):
            open_source(hr, tmp_path, Clock()).read(TODAY)
        assert len(fake.calls) == 2


@pytest.mark.parametrize(("said", "calls"), [({}, 5), ({"total_path": "total"}, 4), ({"has_more_path": "has_more"}, 4)])
def test_generic_paging_ends_where_the_answer_says(said: dict[str, str], calls: int, tmp_path: Path) -> None:
    with GenericFake() as fake:
        fake.paging = "page"
        hr = generic_settings(fake.url, tmp_path, paging="page", page_param="page", **said)
        assert len(open_source(hr, tmp_path, Clock()).read(TODAY).records) == 7
        assert len(fake.calls) == calls  # without a word from the answer, an empty page is the end


def test_generic_cursor_paging_goes_on_after_an_empty_page_that_gives_a_cursor(tmp_path: Path) -> None:
    with GenericFake() as fake:
        fake.empty_pages = 2
        snapshot = open_source(generic_settings(fake.url, tmp_path), tmp_path, Clock()).read(TODAY)
    assert len(snapshot.records) == 7


def test_generic_records_sharing_an_employee_id_are_all_rejected(tmp_path: Path) -> None:
    """A rehire listed twice (the old record terminated, the new one active) must not read as either one."""
    with GenericFake() as fake:
        old, new = fake.records[1], dict(fake.records[1])
        old.update(state="离职", left="2022-05-31", hired="2019-01-01")
        new["id"] = "u-wang-2"
        fake.records.append(new)
        for rest in ({}, {"record_key": ""}):
            snapshot = open_source(generic_settings(fake.url, tmp_path, **rest), tmp_path, Clock()).read(TODAY)
            assert "E002" not in {r.employee_id for r in snapshot.records} and len(snapshot.records) == 6
            assert [(r.field, r.employee_id) for r in snapshot.rejected] == [("employee_id", "E002")] * 2
            assert "same employee id 'E002'" in snapshot.rejected[0].reason


def test_generic_one_record_listed_twice_is_one(tmp_path: Path) -> None:
    """Offset paging over a list that moved may list a record twice: its record_key says it is one."""
    with GenericFake() as fake:
        fake.records.insert(3, dict(fake.records[1]))
        snapshot = open_source(generic_settings(fake.url, tmp_path), tmp_path, Clock()).read(TODAY)
    assert snapshot.rejected == () and len(snapshot.records) == 7


def test_a_preset_keeps_one_row_per_user_and_rejects_users_sharing_an_employee_id(vendor: _Fake, tmp_path: Path) -> None:
    """李娜 is listed in two departments: one row.  王芳 and 赵敏 given one 工号: both rejected, naming their users."""
    vendor.org.users[2].employee_id = "E002"
    snapshot = open_source(hr_settings(preset_of(vendor), vendor.url, tmp_path), tmp_path, Clock()).read(TODAY)
    assert sorted(r.employee_id for r in snapshot.records) == ["E001", "E004", "E005", "E006", "E007"]
    prefix = "ou_" if isinstance(vendor, FeishuFake) else ""
    assert sorted(r.where for r in snapshot.rejected) == [f"record {prefix}u-wang", f"record {prefix}u-zhao"]
    assert {r.field for r in snapshot.rejected} == {"employee_id"}


def test_an_unknown_company_is_a_rejected_row_naming_it(tmp_path: Path) -> None:
    with DingTalkFake() as fake:
        hr = hr_settings("dingtalk", fake.url, tmp_path, company_map={"深圳分公司": "Shenzhen Ltd"})
        snapshot = open_source(hr, tmp_path, Clock()).read(TODAY)
    assert sorted(r.employee_id for r in snapshot.records) == ["E001", "E002", "E003"]
    assert {r.field for r in snapshot.rejected} == {"company"} and len(snapshot.rejected) == 4
    assert all("Shenzhen Ltd" in r.message() and r.where.startswith("record u-") for r in snapshot.rejected)


def test_hr_columns_are_refused_for_a_rest_source(tmp_path: Path) -> None:
    with DingTalkFake() as fake:
        hr = hr_settings("dingtalk", fake.url, tmp_path).model_copy(update={"columns": {"employee_id": "工号"}})
        with pytest.raises(FeedError, match=r"\[hr.columns\] \(employee_id = '工号'\).*fix: .*\[hr.rest.fields\]"):
            open_source(hr, tmp_path, Clock())


def test_the_fingerprint_read_serves_the_next_read(tmp_path: Path) -> None:
    with FeishuFake() as fake:
        source = open_source(hr_settings("feishu", fake.url, tmp_path), tmp_path, Clock())
        fingerprint = source.fingerprint()
        calls = len(fake.calls)
        assert source.read(TODAY).fingerprint == fingerprint and len(fake.calls) == calls  # the quiet check's rows
        source.read(TODAY)
        assert len(fake.calls) == 2 * calls  # only once: the next read asks again


def test_one_source_serves_a_daemon_cycle_with_one_read_and_keeps_its_token(tmp_path: Path) -> None:
    """The daemon keeps one source: per cycle the quiet check, the "before" marker, the read and the "after" marker."""
    clock = Clock()
    with DingTalkFake() as fake:
        source = open_source(hr_settings("dingtalk", fake.url, tmp_path), tmp_path, clock)
        for cycle in (1, 2, 3):
            quiet = source.fingerprint()
            assert source.fingerprint() == quiet
            assert source.read(TODAY).fingerprint == quiet
            clock.now += 5  # the plan
            assert source.fingerprint() == quiet
            assert source.fetches == cycle  # one read of the org per cycle
            clock.now += 900  # the next cycle
        assert fake.tokens_issued == 1
        fake.org.users[1].title = "高级会计"  # the next quiet check reads again and sees it
        assert source.fingerprint() != quiet and source.fetches == 4
        source.close()
        assert source.client.closed


def test_rows_served_again_never_hide_a_change(tmp_path: Path) -> None:
    clock = Clock()
    with WeComFake() as fake:
        source = open_source(hr_settings("wecom", fake.url, tmp_path, writeback=True), tmp_path, clock)
        first = source.fingerprint()
        clock.now += 11  # the quiet check's rows are too old for another fingerprint, not for the read
        fake.org.users[1].title = "高级会计"
        changed = source.fingerprint()
        assert changed != first and source.fetches == 2
        source.read(TODAY)
        source.write_back("E002", "wangfang", "wang.fang@example.com")  # the vendor holds something new
        assert source.fingerprint() != changed and source.fetches == 3


def test_generic_refusal_names_the_status_and_the_answer(tmp_path: Path) -> None:
    with GenericFake() as fake:
        source = open_source(generic_settings(fake.url, tmp_path), tmp_path, Clock())
        fake.fail_call(2, 500, "database unavailable")
        with pytest.raises(FeedError, match=r"page 2 .*HTTP 500.*database unavailable"):
            source.read(TODAY)


def test_generic_records_elsewhere_than_said_are_refused(tmp_path: Path) -> None:
    with GenericFake() as fake:
        source = open_source(generic_settings(fake.url, tmp_path, records_path="items"), tmp_path, Clock())
        with pytest.raises(FeedError, match="records_path 'items'"):
            source.read(TODAY)


class TestGenericRestHrSource(HrSourceContract):
    @pytest.fixture
    def publish(self, tmp_path: Path) -> Iterator[Publish]:
        with GenericFake() as fake:
            hr = generic_settings(fake.url, tmp_path)
            source = open_source(hr, tmp_path, Clock())

            def publish(records: Sequence[HrRecord]) -> RestHrSource:
                fake.records = [
                    {"id": f"u{r.employee_id}", "profile": {"number": r.employee_id, "name": r.name},
                     "org": {"company": r.company, "department": r.department, "title": r.title},
                     "manager": r.manager_id, "state": r.status.value, "hired": r.hire_date.isoformat(),
                     "left": r.termination_date.isoformat() if r.termination_date else "", "mail": ""}
                    for r in records]
                return source

            yield publish


# -- settings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rest", "says"), [
    ({"preset": "wecom", "app_id": "ww1", "app_secret": "x"}, "WeCom's contact API has no hire date"),
    ({"preset": "feishu", "app_secret": "x"}, "needs app_id"),
    ({"preset": "dingtalk", "app_id": "a"}, "needs the app secret"),
    ({"preset": "generic", "records_url": "https://hr.example.com/api", "auth": "none"}, "needs [hr.rest.fields] paths"),
    ({"preset": "feishu", "app_id": "a", "app_secret": "x", "fields": {"hire_date": "join time|epoch_days"}},
     "is not a field path"),
    ({"preset": "feishu", "app_id": "a", "app_secret": "x", "timezone": "Mars/Olympus"}, "is not a time zone"),
    ({"preset": "dingtalk", "app_id": "a", "app_secret": "x", "writeback_field": "mail"},
     'writeback_field = "mail" is not an address field of preset = "dingtalk"; use one of: email, org_email'),
    ({"preset": "wecom", "app_id": "a", "app_secret": "x", "fields": {"hire_date": "extattrs.入职日期"},
      "writeback_field": "enterprise_email"}, "use one of: email, biz_mail"),
    ({"preset": "feishu", "app_id": "a", "app_secret": "x", "writeback": True, "writeback_field": "enterprise_email",
      "fields": {"email": "email"}}, 'fields] email = "email" reads the address from another field than writeback_field'),
])
def test_settings_say_what_is_missing(rest: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        HrSettings(kind="rest", rest=rest)


def test_fields_email_may_name_the_writeback_field() -> None:
    rest = {"preset": "feishu", "app_id": "a", "app_secret": "x", "writeback": True,
            "writeback_field": "enterprise_email", "fields": {"email": "enterprise_email"}}
    assert HrSettings(kind="rest", rest=rest).rest is not None
