"""The notices' texts (connectors.notices.compose): every event in every language, overrides, and the password rule."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.notices import FACT_KEYS, compose, format_date
from lifecycle.domain.errors import ConfigError
from lifecycle.domain.notices import LANGUAGES, Notice, NoticeEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)  # 09:30 in Shenzhen
MESSAGE_ID = "<notice.joiner.100231.5f2c@lifecycle.example.com>"
PASSWORD = "Kq7#vT2-pLm9"

CAUSED = {
    "name": "张伟", "employee_id": "100231", "company": "SZ", "company_name": "深圳分公司", "account": "zhangwei",
    "address": "zhangwei@sz.example.com", "manager_name": "李娜",
    "contact": "it-sz@sz.example.com, hr-sz@sz.example.com", "password_page": "https://console.example.com/password",
}
FACTS: dict[NoticeEvent, dict[str, Any]] = {
    NoticeEvent.JOINER: {"start_date": "2026-12-14", "department": "财务部", "title": "会计", "password_delivery": "file"},
    NoticeEvent.INACTIVITY_WARNING: {"suspend_on": "2026-12-21", "last_login": "2026-09-01", "idle_days": 97},
    NoticeEvent.INACTIVITY_SUSPENDED: {"suspended_on": "2026-12-21", "delete_on": "2027-03-21"},
    NoticeEvent.LEAVER_SUSPENDED: {
        "last_day": "2026-11-30", "forward_to": "lina@sz.example.com", "forward_until": "2027-02-28", "delete_on": "2027-05-31",
    },
    NoticeEvent.BRANCH_TRANSFER: {
        "old_address": "zhangwei@sz.example.com", "new_address": "zhangwei@bj.example.com", "old_until": "2027-01-31",
        "new_company_name": "北京分公司",
    },
    NoticeEvent.REHIRE: {"start_date": "2026-12-14"},
    NoticeEvent.INITIAL_PASSWORD: {"login": "zhangwei"},
    NoticeEvent.FORWARD_ENDED: {"forward_to": "lina@sz.example.com", "ended_on": "2027-01-31", "back_to": "", "active": True},
    NoticeEvent.DIGEST: {
        "date": "2026-12-07",
        "counts": {"held": 3, "rejected": 2, "reviews": 1},
        "held": [{"employee_id": "100231", "kind": "delete_mailbox", "target": "zhangwei@sz.example.com",
                  "reason": "deletions wait for approval"}],
        "rejected": [{"row": 14, "field": "hire_date", "reason": "'13/01/2026' is not a date", "fix": "write YYYY-MM-DD",
                      "employee_id": "100777"}],
        "reviews": [{"kind": "orphan_account", "employee_id": "", "target": "uid=olduser", "reason": "no HR row",
                     "fix": "adopt or delete it"}],
    },
}
# The dates of each event's facts, as each language writes them.
DATES = {
    NoticeEvent.JOINER: {"zh-CN": ["2026年12月14日"], "en": ["14 December 2026"]},
    NoticeEvent.INACTIVITY_WARNING: {"zh-CN": ["2026年12月21日", "2026年9月1日"], "en": ["21 December 2026", "1 September 2026"]},
    NoticeEvent.INACTIVITY_SUSPENDED: {"zh-CN": ["2026年12月21日", "2027年3月21日"], "en": ["21 December 2026", "21 March 2027"]},
    NoticeEvent.LEAVER_SUSPENDED: {
        "zh-CN": ["2026年11月30日", "2027年2月28日", "2027年5月31日"], "en": ["30 November 2026", "28 February 2027", "31 May 2027"],
    },
    NoticeEvent.BRANCH_TRANSFER: {"zh-CN": ["2027年1月31日"], "en": ["31 January 2027"]},
    NoticeEvent.REHIRE: {"zh-CN": ["2026年12月14日"], "en": ["14 December 2026"]},
    NoticeEvent.INITIAL_PASSWORD: {"zh-CN": [], "en": []},
    NoticeEvent.FORWARD_ENDED: {"zh-CN": ["2027年1月31日"], "en": ["31 January 2027"]},
    NoticeEvent.DIGEST: {"zh-CN": ["2026年12月7日"], "en": ["7 December 2026"]},
}
# What each notice must say, beyond its dates (the table).
SAYS: dict[NoticeEvent, list[str]] = {
    NoticeEvent.JOINER: ["张伟", "zhangwei", "zhangwei@sz.example.com", "https://console.example.com/password"],
    NoticeEvent.INACTIVITY_WARNING: ["zhangwei", "97"],
    NoticeEvent.INACTIVITY_SUSPENDED: ["张伟", "it-sz@sz.example.com"],
    NoticeEvent.LEAVER_SUSPENDED: ["lina@sz.example.com", "zhangwei@sz.example.com"],
    NoticeEvent.BRANCH_TRANSFER: ["zhangwei@bj.example.com", "zhangwei@sz.example.com", "北京分公司"],
    NoticeEvent.REHIRE: ["张伟", "zhangwei@sz.example.com"],
    NoticeEvent.INITIAL_PASSWORD: ["zhangwei", "zhangwei@sz.example.com", PASSWORD, "https://console.example.com/password"],
    NoticeEvent.FORWARD_ENDED: ["lina@sz.example.com", "zhangwei@sz.example.com"],
    NoticeEvent.DIGEST: ["100231", "delete_mailbox", "Row 14|第 14 行", "write YYYY-MM-DD", "orphan_account", "adopt or delete it"],
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def notice(event: NoticeEvent, language: str, **facts: Any) -> Notice:
    values = dict(FACTS[event]) if event is NoticeEvent.DIGEST else {**CAUSED, **FACTS[event]}
    values.update(facts)
    return Notice(
        event=event, company="SZ", employee_id="" if event is NoticeEvent.DIGEST else "100231",
        to=("lina@sz.example.com",), cc=("it-sz@sz.example.com",), language=language, facts=values,
        cause=None if event is NoticeEvent.DIGEST else ("create_account", "100231", "zhangwei"),
        key="digest/SZ/2026-12-07" if event is NoticeEvent.DIGEST else "",
    )


def make(event: NoticeEvent, language: str, templates_dir: Path | None = None, **facts: Any) -> EmailMessage:
    return compose(
        notice(event, language, **facts), sender="IT 信息部 <it@example.com>", message_id=MESSAGE_ID, zone=SHANGHAI,
        now=NOW, templates_dir=templates_dir, password=PASSWORD if event is NoticeEvent.INITIAL_PASSWORD else None,
    )


def parts(message: EmailMessage) -> tuple[str, str, str]:
    """Subject, plain text and HTML as a mail reader gets them (the message parsed back from its bytes)."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and html is not None
    # A long subject is folded right after "Subject:"; Python's parser keeps the folding space, mail readers drop it.
    return str(parsed["Subject"]).lstrip(), plain.get_content(), html.get_content()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", list(NoticeEvent))
def test_every_event_renders_in_every_language(event: NoticeEvent, language: str) -> None:
    message = make(event, language)
    subject, text, html = parts(message)
    assert subject and "\n" not in subject and subject == subject.strip()
    if language == "zh-CN":
        assert CJK.search(subject.replace("张伟", "").replace("深圳分公司", "")), subject
    else:
        latin = re.sub(r"[\u4e00-\u9fff]+", "", subject)
        assert re.search(r"\b(account|Account|Accounts|mail|address)\b", latin), subject
        assert not re.search(r"[，：（）。]", subject + text), "Chinese punctuation in an English notice"
    for body in (subject, text, html):
        assert "{{" not in body and "{%" not in body and "None" not in body and "Undefined" not in body
    for day in DATES[event][language]:
        assert day in text and day in html, (day, text)
    for needle in SAYS[event]:
        assert any(option in text for option in needle.split("|")), (needle, text)
    assert re.search(r"\d{4}-\d{2}-\d{2}", text) is None, "an ISO date left unformatted"
    assert message["Message-ID"] == MESSAGE_ID
    assert message["Content-Language"] == language
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert f'<html lang="{language}">' in html
    assert (PASSWORD in text) == (event is NoticeEvent.INITIAL_PASSWORD)


def test_headers_and_date_in_the_company_zone() -> None:
    message = make(NoticeEvent.JOINER, "zh-CN")
    assert message["From"] == "IT 信息部 <it@example.com>"
    assert message["To"] == "lina@sz.example.com" and message["Cc"] == "it-sz@sz.example.com"
    assert message["Date"] == "Mon, 07 Dec 2026 09:30:00 +0800"
    raw = message.as_bytes()
    assert all(byte < 128 for byte in raw), "a header or part left unencoded (8-bit) for a relay without 8BITMIME"
    subject, _, _ = parts(message)
    assert subject == "新员工账号已开通：张伟（2026年12月14日入职）"


def test_the_html_part_escapes_the_facts() -> None:
    _, text, html = parts(make(NoticeEvent.JOINER, "en", name="<b>Tom & Jerry</b>"))
    assert "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in html and "<b>Tom" not in html
    assert "<b>Tom & Jerry</b>" in text  # the plain part is not HTML


@pytest.mark.parametrize(
    ("delivery", "says"),
    [("file", "sealed password file"), ("console", "administration console"), ("personal_email", "personal address")],
)
def test_the_joiner_notice_says_how_the_first_password_arrives(delivery: str, says: str) -> None:
    _, text, html = parts(make(NoticeEvent.JOINER, "en", password_delivery=delivery))
    assert says in text and says in html
    assert "must change it at the first login, at https://console.example.com/password" in text


def test_unknown_dates_and_missing_optional_facts_read_well() -> None:
    _, text, _ = parts(make(NoticeEvent.JOINER, "en", start_date="", department="", title="", password_page=""))
    assert "Start date:    not known yet" in text and "Department" not in text
    assert "must change it at the first login." in text
    _, text, _ = parts(make(NoticeEvent.INACTIVITY_WARNING, "zh-CN", last_login=""))
    assert "自开通以来 97 天未曾使用" in text
    _, text, _ = parts(make(NoticeEvent.LEAVER_SUSPENDED, "en", forward_to="", forward_until=""))
    assert "is not forwarded" in text


def test_the_digest_says_how_many_more() -> None:
    _, text, html = parts(make(NoticeEvent.DIGEST, "en"))
    assert "... and 2 more." in text and "… and 1 more." in html
    assert "Held actions waiting for a decision: 3" in text
    _, text, _ = parts(make(NoticeEvent.DIGEST, "zh-CN"))
    assert "……另有 2 项。" in text and "……另有 1 条。" in text


def test_date_filter() -> None:
    assert format_date("2026-12-07", "zh-CN") == "2026年12月7日"
    assert format_date("2026-12-07", "en") == "7 December 2026"
    assert format_date("2026-01-31T23:10:00+08:00", "en") == "31 January 2026"
    assert format_date("", "en") == "" and format_date("", "zh-CN") == ""
    assert format_date("soon", "en") == "soon"


def test_an_override_is_used_and_the_rest_falls_back(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "joiner.subject.j2").write_text("Welcome aboard, {{ name }} ({{ start_date|date }})\n", encoding="utf-8")
    subject, text, _ = parts(make(NoticeEvent.JOINER, "en", templates_dir=tmp_path))
    assert subject == "Welcome aboard, 张伟 (14 December 2026)"
    assert "An account is ready for 张伟" in text  # the built-in body
    subject, _, _ = parts(make(NoticeEvent.JOINER, "zh-CN", templates_dir=tmp_path))
    assert subject.startswith("新员工账号已开通")  # the other language: built-in
    subject, _, _ = parts(make(NoticeEvent.REHIRE, "en", templates_dir=tmp_path))
    assert subject == "Account of 张伟 restored"  # another event: built-in


@pytest.mark.parametrize(
    ("text", "error"),
    [("Hello {{ name }", "unexpected '}'"), ("Hello {{ nickname }}", "'nickname' is undefined"),
     ("{% if name %}Hello", "end of template")],
)
def test_a_broken_override_is_a_config_error_naming_the_file(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "zh-CN").mkdir()
    broken = tmp_path / "zh-CN" / "rehire.txt.j2"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        make(NoticeEvent.REHIRE, "zh-CN", templates_dir=tmp_path)
    assert str(broken) in str(raised.value) and error in str(raised.value)
    assert "templates_dir" in str(raised.value)
    make(NoticeEvent.REHIRE, "en", templates_dir=tmp_path)  # the other language is not affected


def test_the_password_goes_in_the_initial_password_notice_only() -> None:
    for event in NoticeEvent:
        if event is NoticeEvent.INITIAL_PASSWORD:
            continue
        with pytest.raises(ValueError, match="password"):
            compose(notice(event, "en"), sender="it@example.com", message_id=MESSAGE_ID, zone=SHANGHAI, now=NOW,
                    password=PASSWORD)
    with pytest.raises(ValueError, match="needs the password"):
        compose(notice(NoticeEvent.INITIAL_PASSWORD, "en"), sender="it@example.com", message_id=MESSAGE_ID, zone=SHANGHAI,
                now=NOW)


def test_what_the_caller_gets_wrong_is_named() -> None:
    incomplete = dataclasses.replace(notice(NoticeEvent.JOINER, "en"), facts={"name": "x"})
    with pytest.raises(ValueError, match="lacks the facts .*start_date"):
        compose(incomplete, sender="it@example.com", message_id=MESSAGE_ID, zone=SHANGHAI, now=NOW)
    with pytest.raises(ValueError, match="Message-ID"):
        compose(notice(NoticeEvent.REHIRE, "en"), sender="it@example.com", message_id="no-brackets@x", zone=SHANGHAI, now=NOW)
    with pytest.raises(ValueError, match="language 'fr'"):
        compose(dataclasses.replace(notice(NoticeEvent.REHIRE, "en"), language="fr"), sender="it@example.com",
                message_id=MESSAGE_ID, zone=SHANGHAI, now=NOW)
    with pytest.raises(ValueError, match="no recipient"):
        compose(dataclasses.replace(notice(NoticeEvent.REHIRE, "en"), to=()), sender="it@example.com",
                message_id=MESSAGE_ID, zone=SHANGHAI, now=NOW)


def test_fact_keys_cover_every_event() -> None:
    assert set(FACT_KEYS) == set(NoticeEvent)
    for event in NoticeEvent:
        given = set(FACTS[event]) if event is NoticeEvent.DIGEST else set(CAUSED) | set(FACTS[event])
        assert given == FACT_KEYS[event], event


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_inactivity_warning_mentions_a_copy_only_when_there_is_one(language: str) -> None:
    copy = {"en": "receives a copy", "zh-CN": "抄送"}[language]
    warning = notice(NoticeEvent.INACTIVITY_WARNING, language)
    for cc, copied in ((("lina@sz.example.com",), True), ((), False)):
        message = compose(dataclasses.replace(warning, cc=cc), sender="it@example.com", message_id=MESSAGE_ID,
                          zone=SHANGHAI, now=NOW)
        _, text, html = parts(message)
        assert (copy in text, copy in html) == (copied, copied), (cc, text)
        assert ("Cc" in message) == copied


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_inactivity_warning_without_a_suspension_date_reads_well(language: str) -> None:
    subject, text, html = parts(make(NoticeEvent.INACTIVITY_WARNING, language, suspend_on=""))
    for body in (subject, text, html):
        assert not re.search(r"\bon\s*[.<]|on$|将于\s*停用|将于</strong>|于停用", body), body
        assert "before that date" not in body and "在此日期之前" not in body
    says = {"en": ("unless it is used", "log in once soon"), "zh-CN": ("即将停用", "请尽快登录一次")}[language]
    assert says[0] in subject and says[1] in text and says[1] in html
