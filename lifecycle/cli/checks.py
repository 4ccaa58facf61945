"""What `lifecycle check` asks of the HR source and the mail backend, beyond the config, store and directory."""

from __future__ import annotations

from collections import Counter
from datetime import date

from lifecycle.domain.errors import LifecycleError
from lifecycle.domain.settings import Settings

__all__ = ["check_hr", "check_mail", "check_notify", "check_resources"]


def check_hr(settings: Settings) -> list[str]:
    """The HR source, read as a cycle reads it: rows accepted and rejected per company, and whether each
    company's feed is usable."""
    from lifecycle.engine.cycle import open_hr
    from lifecycle.journal.check import read_feed_baseline
    from policies.feed_health import unusable_companies

    try:
        source = open_hr(settings)
        hr = source.read(date.today())
    except LifecycleError as exc:
        return [f"hr source ({settings.hr.kind}): {exc}"]
    print(f"hr source: {settings.hr.kind} {source.name}: {len(hr.records)} rows accepted, {len(hr.rejected)} rejected"
          + (f", {len(hr.reviews)} to review" if hr.reviews else "")
          + (" (writes the assigned account and address back)" if settings.hr.writes_back else ""))
    accepted = Counter(r.company for r in hr.records)
    rejected = Counter(r.company for r in hr.rejected if not r.test_record)
    tests = Counter(r.company for r in hr.rejected if r.test_record)
    unusable = unusable_companies(hr, settings, read_feed_baseline(settings.state.url))
    for company in settings.companies:
        code = company.code
        state = "UNUSABLE" if code in unusable else "ok"
        set_aside = f" ({tests[code]} test rows set aside)" if tests.get(code) else ""
        print(f"  {code:<8} {accepted.get(code, 0):>7} accepted {rejected.get(code, 0):>6} rejected  {state}{set_aside}")
        bad = [r for r in hr.rejected if r.company == code and not r.test_record]
        for field, count in Counter(r.field for r in bad).most_common(3):
            example = min((r for r in bad if r.field == field), key=lambda r: r.row)
            print(f"           {count} x {field}: e.g. {example.message()}")
    if rejected.get(""):
        print(f"  {'(none)':<8} {'':>7}          {rejected['']:>6} rejected  (their company cannot be told)")
    return [f"hr feed {company}: {why}" for company, why in sorted(unusable.items())
            if company != "*" or len(unusable) == 1]


def check_mail(settings: Settings) -> list[str]:
    """The mail backend and its companion answer, and what they can do (printed); the problems found."""
    from lifecycle.domain.mail import MailCapability
    from lifecycle.engine.cycle import open_companion, open_mail

    problems: list[str] = []
    mail, companion = open_mail(settings), open_companion(settings)
    assert mail is not None and settings.mail is not None  # the caller checks only a configured mail backend
    try:
        try:
            found = mail.check()
        except LifecycleError as exc:
            found = [str(exc)]
        problems.extend(f"mail: {p}" for p in found)
        abilities = set(mail.capabilities())
        if companion is not None:
            try:
                problems.extend(f"dovecot: {p}" for p in companion.check())
            except LifecycleError as exc:
                problems.append(f"dovecot: {exc}")
            abilities |= set(companion.CAPABILITIES)
        if not found:
            print(f"mail: ok ({settings.mail.kind} at {settings.mail.url})")
        print("mail abilities:")
        for capability in MailCapability:
            print(f"  {capability.value:<24} {'yes' if capability in abilities else 'no'}")
    finally:
        mail.close()
    return problems


def check_notify(settings: Settings) -> list[str]:
    """The SMTP relay answers and takes our login (nothing is sent); the outbox's waiting and failed notices."""
    if settings.notify is None:
        print("notify: not configured: nothing is sent")
        return []
    from lifecycle.engine.outbox_delivery import open_sender
    from lifecycle.journal.outbox import FAILED, UNCONFIRMED, WAITING, read_counts

    sender = open_sender(settings)
    try:
        problems = [f"notify: {p}" for p in sender.check()]
    except LifecycleError as exc:
        problems = [f"notify: {exc}"]
    finally:
        sender.close()
    if not problems:
        print(f"notify: ok (SMTP relay {settings.notify.smtp_url}, from {settings.notify.sender})")
    counts = read_counts(settings.state.url)
    if counts is None:
        return problems  # no store yet, or the state store's own line says why
    waiting = sum(counts.get(s, 0) for s in WAITING)
    failed, unconfirmed = counts.get(FAILED, 0), counts.get(UNCONFIRMED, 0)
    print(f"outbox: {waiting} waiting, {failed} failed, {unconfirmed} unconfirmed"
          + (" (`lifecycle outbox` lists them)" if failed or unconfirmed else ""))
    return problems


def check_resources(settings: Settings) -> list[str]:
    """The functional mailboxes and lists file ([resources] path), read as a cycle reads it: what it declares
    (printed), and each problem with its fix (an entry skipped, or a file no cycle can read)."""
    from lifecycle.engine.cycle import read_resources

    if settings.resources.path is None:
        lists = [name for name, on in (("department", settings.lists.department), ("all_staff", settings.lists.all_staff)) if on]
        print("resources: no file configured ([resources] path)" + (f"; [lists] {', '.join(lists)} on" if lists else ""))
        return []
    found = read_resources(settings)
    if found.broken:
        return [f"resources: {found.broken}"]
    print(f"resources: {found.source}: {len(found.mailboxes)} functional mailboxes, {len(found.lists)} lists"
          + (f", {len(found.problems)} entries skipped" if found.problems else ""))
    return [f"resources: {problem.message()}" for problem in found.problems]
