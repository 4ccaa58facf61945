"""A notice made into a message: Jinja2 templates per language and event, plain text with an HTML alternative.

Templates are `<language>/<event>.subject.j2` (one line), `.txt.j2` and `.html.j2`, looked up first in
`[notify] templates_dir` (same names; a template it lacks falls back to the built-in one) and then in this
package's `templates/`.  They see the notice's facts (FACT_KEYS), `language`, `event`, `company`,
`employee_id`, `cc` (the addresses in copy: a text may say who gets one only when someone does), the
rendered `subject` (bodies only) and, for INITIAL_PASSWORD alone, `password`.  The
filter `date` writes an ISO date the language's way ("2026年12月7日", "7 December 2026").

Missing facts, a password for another event, or a Message-ID that is not `<left@right>` are the caller's
mistakes (ValueError); an override that does not compile or render is the operator's (ConfigError naming
the file and the error).
"""

from __future__ import annotations

import email.policy
import email.utils
import functools
import re
import traceback
from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2

from lifecycle.domain.errors import ConfigError
from lifecycle.domain.notices import LANGUAGES, Notice, NoticeEvent

TEMPLATES = Path(__file__).resolve().parent / "templates"

CAUSED_FACTS = frozenset(
    {"name", "employee_id", "company", "company_name", "account", "address", "manager_name", "contact", "password_page"}
)
"""What every notice caused by an action carries (contact: the branch's IT/HR addresses, comma-joined)."""

FACT_KEYS: Mapping[NoticeEvent, frozenset[str]] = {
    NoticeEvent.JOINER: CAUSED_FACTS | {"start_date", "department", "title", "password_delivery"},
    NoticeEvent.INACTIVITY_WARNING: CAUSED_FACTS | {"suspend_on", "last_login", "idle_days"},
    NoticeEvent.INACTIVITY_SUSPENDED: CAUSED_FACTS | {"suspended_on", "delete_on"},
    NoticeEvent.LEAVER_SUSPENDED: CAUSED_FACTS | {"last_day", "forward_to", "forward_until", "delete_on"},
    NoticeEvent.BRANCH_TRANSFER: CAUSED_FACTS | {"old_address", "new_address", "old_until", "new_company_name"},
    NoticeEvent.REHIRE: CAUSED_FACTS | {"start_date"},
    NoticeEvent.INITIAL_PASSWORD: CAUSED_FACTS | {"login"},
    NoticeEvent.FORWARD_ENDED: CAUSED_FACTS | {"forward_to", "ended_on", "back_to", "active"},
    NoticeEvent.DIGEST: frozenset({"date", "counts", "held", "rejected", "reviews"}),
}
"""The facts each event's templates need (dates ISO "YYYY-MM-DD", "" when unknown)."""

_MESSAGE_ID = re.compile(r"<[^<>@\s\x00]+@[^<>@\s\x00]+>")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def format_date(value: object, language: str) -> str:
    """An ISO date (or the date of an ISO date-time) the language's way; "" stays "", anything else as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value)[:10])
        except ValueError:
            return str(value)
    if language == "zh-CN":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


@jinja2.pass_context
def _date_filter(context: jinja2.runtime.Context, value: object) -> str:
    return format_date(value, str(context.get("language", "en")))


def _autoescape(name: str | None) -> bool:
    return bool(name) and str(name).endswith(".html.j2")


@functools.lru_cache(maxsize=16)
def _environment(templates_dir: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["date"] = _date_filter
    return environment


def compose(
    notice: Notice,
    *,
    sender: str,
    message_id: str,
    zone: tzinfo,
    now: datetime,
    templates_dir: Path | None = None,
    password: str | None = None,
) -> EmailMessage:
    """The message for `notice`: From `sender`, To/Cc the notice's, Date `now` in `zone`, Message-ID `message_id`."""
    if notice.language not in LANGUAGES:
        raise ValueError(f"notice language {notice.language!r} is not one of {', '.join(LANGUAGES)}")
    if not notice.to:
        raise ValueError(f"a {notice.event.value} notice for {notice.employee_id or notice.company} has no recipient")
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"Message-ID {message_id!r} is not of the form <left@right>")
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    if notice.event is NoticeEvent.INITIAL_PASSWORD:
        if not password:
            raise ValueError("an initial_password notice needs the password")
    elif password is not None:
        raise ValueError(f"a password goes in the initial_password notice only, not in {notice.event.value}")
    missing = sorted(FACT_KEYS[notice.event] - set(notice.facts))
    if missing:
        raise ValueError(f"the {notice.event.value} notice lacks the facts {', '.join(missing)}")

    directory = Path(templates_dir).resolve() if templates_dir is not None else None
    environment = _environment(directory)
    context: dict[str, Any] = {"company": notice.company, "employee_id": notice.employee_id}
    context.update(notice.facts)
    context.update(language=notice.language, event=notice.event.value, cc=list(notice.cc))
    if password is not None:
        context["password"] = password
    stem = f"{notice.language}/{notice.event.value}"
    subject = " ".join(_render(environment, f"{stem}.subject.j2", context, directory).split())
    context["subject"] = subject
    text = _render(environment, f"{stem}.txt.j2", context, directory)
    html = _render(environment, f"{stem}.html.j2", context, directory)

    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = ", ".join(notice.to)
    if notice.cc:
        message["Cc"] = ", ".join(notice.cc)
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(now.astimezone(zone))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation reply to a notice
    message["X-Auto-Response-Suppress"] = "All"  # the same for Exchange
    # Declared encodings: a relay need not offer 8BITMIME (base64 keeps Chinese short, QP keeps English readable).
    cte = "base64" if notice.language == "zh-CN" else "quoted-printable"
    message.set_content(text, subtype="plain", charset="utf-8", cte=cte)
    message.add_alternative(html, subtype="html", charset="utf-8", cte=cte)
    message["Content-Language"] = notice.language  # after the content: set_content() drops every Content-* header
    return message


def _render(environment: jinja2.Environment, name: str, context: Mapping[str, Any], directory: Path | None) -> str:
    try:
        return environment.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = Path(exc.filename) if exc.filename else None
        if directory is None or where is None or not where.resolve().is_relative_to(directory):
            raise
        raise ConfigError(
            f"[notify] templates_dir: {where}: line {exc.lineno}: {exc.message}: "
            "fix the template, or remove it to use the built-in one"
        ) from exc
    except jinja2.TemplateError as exc:
        where = _failing_template(exc)
        if directory is None or where is None or not where.is_relative_to(directory):
            raise
        raise ConfigError(
            f"[notify] templates_dir: {where}: {type(exc).__name__}: {exc.message}: "
            "fix the template (the built-in one of the same name shows the names it may use), or remove it"
        ) from exc


def _failing_template(exc: BaseException) -> Path | None:
    """The template file whose code raised (Jinja2 rewrites the traceback into the templates' lines)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return Path(frame.filename).resolve()
    return None
