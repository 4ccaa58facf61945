"""The notices' outbox (lifecycle.journal.outbox) and its drain (lifecycle.engine.outbox_delivery).

On the real state store (SQLite, and the machine's PostgreSQL), sending through a real SMTP server
(devservers/smtp.py, aiosmtpd, as a sink that keeps what it accepts): a notice is released by its
action's outcome, sent once, retried with back-off, failed after retry_hours, and a send interrupted
before it was marked is never repeated blindly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from devservers.smtp import SmtpServer
from lifecycle.domain.action_params import AttributeUpdateParams
from lifecycle.domain.models import Action, ActionKind
from lifecycle.domain.notices import Notice, NoticeEvent
from lifecycle.domain.settings import Settings
from lifecycle.engine.outbox_delivery import deliver_outbox, open_sender
from lifecycle.engine.recovery import recover
from lifecycle.journal.action_log import ActionOutcome, ActionStatus
from lifecycle.journal.outbox import keyed_message_id
from lifecycle.journal.schema import action_log, outbox
from lifecycle.journal.store import Journal
from tests.harness import make_settings
from tests.test_leader import pg_url  # noqa: F401 - fixture

pytestmark = pytest.mark.servers  # a real SMTP server (in this process), PostgreSQL for half of them

NOW = datetime.fromisoformat("2026-12-01T09:00:00+08:00")
PEOPLE = "ou=hq,ou=people,dc=example,dc=com"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(tmp_path: Path, store_url: str, smtp: SmtpServer) -> Settings:
    return make_settings(tmp_path, state={"url": store_url},
                         notify={"smtp_url": smtp.url, "sender": "IT <it@example.com>", "recheck_minutes": 15,
                                 "retry_hours": 72})


@pytest.fixture
def journal(settings: Settings) -> Iterator[Journal]:
    made = Journal(settings.state.url)
    yield made
    made.close()


def update_action(n: int) -> Action:
    dn = f"uid=user{n},{PEOPLE}"
    return Action(ActionKind.UPDATE_ACCOUNT, f"E{n}", "HQ", dn, "sync", "test", {},
                  params=AttributeUpdateParams(dn, {"title": f"title {n}"}))


def joiner_notice(action: Action, to: str = "boss@example.com", *, cc: tuple[str, ...] = ()) -> Notice:
    facts = {"name": "张伟", "employee_id": action.employee_id, "company": "HQ", "company_name": "集团总部",
             "account": "zhangwei", "address": "zhangwei@example.com", "manager_name": "王芳",
             "contact": "it@example.com", "password_page": "", "start_date": "2026-12-01", "department": "研发部",
             "title": "工程师", "password_delivery": "file"}
    return Notice(NoticeEvent.JOINER, "HQ", action.employee_id, (to,), cc, "zh-CN", facts,
                  cause=(action.kind.value, action.employee_id, action.target))


def write_ahead(journal: Journal, actions: list[Action], *, statuses: list[str] | None = None) -> list[int]:
    run_id = journal.begin_run("apply", NOW)
    rows = [(a, (statuses or [])[i] if statuses else ActionStatus.PENDING, "") for i, a in enumerate(actions)]
    return journal.begin_actions(run_id, rows, NOW, "test", notices=[[joiner_notice(a)] for a in actions],
                                 message_domain="example.com")


def statuses(journal: Journal) -> dict[str, str]:
    return {r.employee_id: r.status for r in journal.outbox_rows(statuses=None)}


def drain(journal: Journal, settings: Settings, now: datetime | None = None, **kwargs):
    sender = open_sender(settings)
    try:
        return deliver_outbox(journal, sender, settings, companion=kwargs.pop("companion", None),
                              vault=kwargs.pop("vault", None), now=now, **kwargs)
    finally:
        sender.close()


def queued_now(journal: Journal, n: int = 1) -> list[int]:
    """`n` applied actions' notices, queued."""
    actions = [update_action(i) for i in range(n)]
    ids = write_ahead(journal, actions)
    journal.finish_actions([ActionOutcome(i, ActionStatus.APPLIED) for i in ids], NOW)
    return [r.id for r in journal.outbox_rows(statuses=None)]


# -- released by the outcome, in its transaction ----------------------------------------------------


def test_notices_are_held_with_the_write_ahead_and_released_by_the_outcome(journal: Journal) -> None:
    actions = [update_action(i) for i in range(4)]
    ids = write_ahead(journal, actions, statuses=[ActionStatus.PENDING] * 3 + [ActionStatus.SKIPPED])
    assert statuses(journal) == {"E0": "held", "E1": "held", "E2": "held"}  # a row written skipped gets none
    rows = journal.outbox_rows(statuses=None)
    run_id = next(journal.entries()).run_id
    assert [r.message_id for r in rows] == [f"<lifecycle.joiner.{run_id}.{i}.0@example.com>" for i in ids[:3]]
    assert [r.action_id for r in rows] == ids[:3]

    journal.finish_actions([ActionOutcome(ids[0], ActionStatus.APPLIED), ActionOutcome(ids[1], ActionStatus.FAILED,
                                                                                          "refused")], NOW)
    journal.finish_action(ids[2], ActionStatus.SKIPPED, error="run stopped")
    assert statuses(journal) == {"E0": "queued", "E1": "dropped", "E2": "dropped"}


def test_a_failed_outcome_transaction_releases_nothing(journal: Journal) -> None:
    (action_id,) = write_ahead(journal, [update_action(1)])
    with pytest.raises(Exception):  # noqa: B017 - any driver error: the state is not JSON-able
        journal.finish_actions([ActionOutcome(action_id, ActionStatus.APPLIED, "", "E1", {"x": object()})], NOW)
    assert statuses(journal) == {"E1": "held"}  # rolled back with the outcome


def test_crash_recovery_queues_the_notice_of_an_action_done_and_drops_the_undone(ldap_cycle, smtp: SmtpServer) -> None:
    from tests.harness import hr, person

    settings = ldap_cycle.settings
    journal, directory = ldap_cycle.journal, ldap_cycle.directory
    ldap_cycle.apply(hr(person("E1", "张伟")), NOW)  # the account exists
    (entry,) = [e for e in directory.read_snapshot().entries if e.employee_number == "E1"]
    done = Action(ActionKind.UPDATE_ACCOUNT, "E1", "HQ", entry.dn, "sync", "t", {},
                  params=AttributeUpdateParams(entry.dn, {"title": "经理"}))
    undone = Action(ActionKind.UPDATE_ACCOUNT, "E1", "HQ", entry.dn, "sync", "t", {},
                    params=AttributeUpdateParams(entry.dn, {"title": "总监"}))
    run_id = journal.begin_run("apply", NOW)
    ids = journal.begin_actions(run_id, [(done, ActionStatus.PENDING, ""), (undone, ActionStatus.PENDING, "")], NOW,
                                "test", notices=[[joiner_notice(done)], [joiner_notice(undone, "hr@example.com")]],
                                message_domain="example.com")
    directory.modify_person(entry.dn, {"title": "经理"})  # the first was carried out, then the process died
    recover(journal, directory, None)

    rows = {r.action_id: r for r in journal.outbox_rows(statuses=None)}
    assert rows[ids[0]].status == "queued" and rows[ids[1]].status == "dropped"
    sent = drain(journal, replace_notify(settings, smtp))
    assert sum(sent.sent.values()) == 1
    assert [m["Message-ID"].strip() for _, m in smtp.received] == [rows[ids[0]].message_id]


def replace_notify(settings: Settings, smtp: SmtpServer) -> Settings:
    from lifecycle.domain.notify_settings import NotifySettings

    return settings.model_copy(update={"notify": NotifySettings(smtp_url=smtp.url, sender="IT <it@example.com>")})


def test_a_held_notice_whose_action_was_settled_by_hand_is_released_at_the_next_drain(
    journal: Journal, settings: Settings, smtp: SmtpServer
) -> None:
    ids = write_ahead(journal, [update_action(1), update_action(2)])
    with journal.engine.begin() as conn:  # an admin repaired the rows in SQL
        conn.execute(update(action_log).where(action_log.c.id == ids[0]).values(status="applied"))
        conn.execute(update(action_log).where(action_log.c.id == ids[1]).values(status="interrupted"))
    counts = drain(journal, settings)
    assert statuses(journal) == {"E1": "sent", "E2": "dropped"}
    assert counts.sent == {"joiner": 1} and len(smtp.received) == 1


# -- the digest: at most once -------------------------------------------------------------------------


def test_the_same_digest_is_queued_once_across_two_processes(journal: Journal, settings: Settings) -> None:
    digest = Notice(NoticeEvent.DIGEST, "HQ", "", ("it@example.com",), (), "en",
                    {"date": "2026-12-01", "counts": {"held": 1}, "held": [], "rejected": [], "reviews": []},
                    key="digest/HQ/2026-12-01")
    message_id = keyed_message_id("digest", digest.key, "example.com")
    assert message_id == "<lifecycle.digest.digest.HQ.2026-12-01@example.com>"
    other = Journal(settings.state.url)  # another daemon, or the same one after a restart
    try:
        assert journal.enqueue_notice(digest, message_id, NOW)
        assert not other.enqueue_notice(digest, message_id, NOW)
        assert not journal.enqueue_notice(digest, message_id, NOW + timedelta(hours=1))
    finally:
        other.close()
    assert [r.status for r in journal.outbox_rows(statuses=None)] == ["queued"]
    assert journal.last_digest_date("HQ").isoformat() == "2026-12-01"


# -- sending, retries, deadlines ---------------------------------------------------------------------


def test_queued_notices_are_sent_once_in_order(journal: Journal, settings: Settings, smtp: SmtpServer) -> None:
    queued_now(journal, 3)
    first = drain(journal, settings)
    assert first.sent == {"joiner": 3} and first.waiting == 0
    assert [m["Message-ID"].strip() for _, m in smtp.received] == [r.message_id for r in journal.outbox_rows(statuses=None)]
    assert [rcpt for rcpt, _ in smtp.received] == [("boss@example.com",)] * 3
    again = drain(journal, settings)
    assert sum(again.sent.values()) == 0 and len(smtp.received) == 3
    assert all(r.status == "sent" and r.attempts == 1 and r.sent_at for r in journal.outbox_rows(statuses=None))


def test_an_outage_backs_off_from_a_minute_doubling_to_an_hour(journal: Journal, settings: Settings,
                                                               smtp: SmtpServer) -> None:
    (row_id,) = queued_now(journal)
    smtp.fail(True)
    now = datetime.now(UTC).replace(microsecond=0)
    waits = []
    for _ in range(9):
        counts = drain(journal, settings, now)
        assert counts.stopped and counts.retrying == 1 and counts.waiting == 1
        row = journal.outbox_row(row_id)
        assert row is not None and row.status == "queued" and "451" in row.last_error
        assert row.next_attempt_at is not None
        waits.append(int((row.next_attempt_at - now).total_seconds() // 60))
        assert drain(journal, settings, row.next_attempt_at - timedelta(seconds=1)).retrying == 0  # not due yet
        now = row.next_attempt_at
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    smtp.fail(False)
    assert drain(journal, settings, now).sent == {"joiner": 1}
    assert len(smtp.received) == 1 and journal.outbox_row(row_id).attempts == 10


def test_an_outage_stops_the_drain_and_the_others_wait(journal: Journal, settings: Settings, smtp: SmtpServer) -> None:
    queued_now(journal, 3)
    smtp.stop()  # the relay is down: connection refused
    counts = drain(journal, settings)
    assert counts.stopped and "refused" in counts.stopped and counts.waiting == 3
    assert [r.attempts for r in journal.outbox_rows(statuses=None)] == [1, 0, 0]
    smtp.start()
    assert drain(journal, settings).sent == {"joiner": 2}  # the first waits out its minute
    assert drain(journal, settings, datetime.now(UTC) + timedelta(minutes=2)).sent == {"joiner": 1}
    assert len(smtp.received) == 3


def test_a_notice_not_accepted_within_retry_hours_fails(journal: Journal, settings: Settings, smtp: SmtpServer) -> None:
    first, second = queued_now(journal, 2)
    smtp.fail(True)
    later = datetime.now(UTC) + timedelta(hours=71, minutes=59)
    drain(journal, settings, later)  # the first is tried and backs off; still within the 72 hours
    assert journal.outbox_row(first).status == "queued"
    counts = drain(journal, settings, later + timedelta(minutes=2))  # the deadline has passed for both
    assert counts.failed == {"joiner": 2}
    failed = journal.outbox_row(first)
    assert failed.status == "failed" and "not accepted within 72 hours" in failed.last_error and "451" in failed.last_error
    assert journal.outbox_row(second).status == "failed"
    smtp.fail(False)
    assert sum(drain(journal, settings, later + timedelta(hours=1)).sent.values()) == 0 and smtp.received == []


def test_every_recipient_refused_for_good_fails_some_refused_sends_to_the_others(
    journal: Journal, settings: Settings, smtp: SmtpServer
) -> None:
    run_id = journal.begin_run("apply", NOW)
    both = [update_action(1), update_action(2)]
    notices = [[joiner_notice(both[0], "gone@example.com")],
               [joiner_notice(both[1], "boss@example.com", cc=("gone@example.com",))]]
    ids = journal.begin_actions(run_id, [(a, ActionStatus.PENDING, "") for a in both], NOW, "t", notices=notices,
                                message_domain="example.com")
    journal.finish_actions([ActionOutcome(i, ActionStatus.APPLIED) for i in ids], NOW)
    smtp.refuse["gone@example.com"] = "550 5.1.1 no such user"
    counts = drain(journal, settings)
    assert counts.failed == {"joiner": 1} and counts.sent == {"joiner": 1}
    rows = {r.employee_id: r for r in journal.outbox_rows(statuses=None)}
    assert rows["E1"].status == "failed" and "gone@example.com" in rows["E1"].last_error
    assert rows["E2"].status == "sent" and "refused gone@example.com: 550" in rows["E2"].last_error
    assert [rcpt for rcpt, _ in smtp.received] == [("boss@example.com",)]


# -- interrupted between "accepted" and "marked" ---------------------------------------------------


def interrupted(journal: Journal, row_id: int, minutes_ago: float) -> None:
    """The row as a crash leaves it: claimed (`sending`, one more attempt, attempted) and never marked."""
    when = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")
    with journal.engine.begin() as conn:
        done = conn.execute(update(outbox).where(outbox.c.id == row_id, outbox.c.status == "queued")
                            .values(status="sending", attempted_at=when, attempts=outbox.c.attempts + 1))
    assert done.rowcount == 1


def test_an_interrupted_send_outside_our_mail_is_unconfirmed_and_never_resent_by_itself(
    journal: Journal, settings: Settings, smtp: SmtpServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from lifecycle.cli.main import main

    first, second, young = queued_now(journal, 3)
    for row_id in (first, second):
        interrupted(journal, row_id, 16)
    interrupted(journal, young, 5)  # younger than recheck_minutes: the relay may still be at it
    counts = drain(journal, settings)
    assert counts.unconfirmed == 2 and sum(counts.sent.values()) == 0
    assert [journal.outbox_row(i).status for i in (first, second, young)] == ["unconfirmed", "unconfirmed", "sending"]
    assert "--resend" in journal.outbox_row(first).last_error
    for _ in range(3):
        drain(journal, settings, datetime.now(UTC) + timedelta(days=1))
    assert smtp.received == []  # the young one too, once it is old enough: nobody can tell whether it arrived

    config = write_config(tmp_path, settings)
    capsys.readouterr()
    assert main(["--config", str(config), "outbox", "--format", "json"]) == 1  # unconfirmed ones: exit 1
    listed = {r["id"]: r["status"] for r in __import__("json").loads(capsys.readouterr().out)}
    assert listed[first] == "unconfirmed"
    assert main(["--config", str(config), "outbox", "--resend", str(first)]) == 0
    assert main(["--config", str(config), "outbox", "--forget", str(second)]) == 0
    assert journal.outbox_row(first).status == "sent" and journal.outbox_row(second).status == "dropped"
    resent = [m for _, m in smtp.received if m["Message-ID"].strip() == journal.outbox_row(first).message_id]
    assert len(resent) == 1
    assert all(m["Message-ID"].strip() != journal.outbox_row(second).message_id for _, m in smtp.received)
    kinds = [e.kind for e in journal.entries(kind="outbox_forget")] + [e.kind for e in journal.entries(kind="outbox_resend")]
    assert kinds == ["outbox_forget", "outbox_resend"]
    capsys.readouterr()
    assert main(["--config", str(config), "outbox", "--forget", str(second)]) == 1  # dropped already
    assert "dropped already" in capsys.readouterr().err


def write_config(tmp_path: Path, settings: Settings) -> Path:
    """A TOML file for the CLI with these settings' store and relay."""
    assert settings.notify is not None
    path = tmp_path / "config.toml"
    path.write_text(f"""
[state]
url = "{settings.state.url}"
[hr]
path = "{tmp_path / 'hr.csv'}"
[directory]
bind_password = "x"
base_dn = "dc=example,dc=com"
groups_dn = "ou=groups,dc=example,dc=com"
[accounts]
initial_password_dir = "{tmp_path / 'credentials'}"
[notify]
smtp_url = "{settings.notify.smtp_url}"
sender = "IT <it@example.com>"
[[companies]]
code = "HQ"
name = "集团总部"
domain = "example.com"
people_dn = "{PEOPLE}"
""", encoding="utf-8")
    return path


def personal_notice(employee_id: str) -> tuple[Action, Notice]:
    action = update_action(int(employee_id[1:]))
    facts = {**joiner_notice(action).facts, "login": "zhangwei"}
    return action, Notice(NoticeEvent.INITIAL_PASSWORD, "HQ", employee_id, (f"{employee_id}@personal.example.net",),
                          (), "en", facts, cause=(action.kind.value, action.employee_id, action.target))


def queue(journal: Journal, pairs: list[tuple[Action, Notice]]) -> list[int]:
    """Each action applied and its notice queued, in this order; the outbox rows' ids."""
    run_id = journal.begin_run("apply", NOW)
    ids = journal.begin_actions(run_id, [(a, ActionStatus.PENDING, "") for a, _ in pairs], NOW, "t",
                                notices=[[n] for _, n in pairs], message_domain="example.com")
    journal.finish_actions([ActionOutcome(i, ActionStatus.APPLIED) for i in ids], NOW)
    by_action = {r.action_id: r.id for r in journal.outbox_rows(statuses=None)}
    return [by_action[i] for i in ids]


def test_the_personal_notice_alone_carries_the_password_and_a_missing_one_fails_it(
    journal: Journal, settings: Settings, smtp: SmtpServer
) -> None:
    from structlog.testing import capture_logs

    from lifecycle.engine.vault import CredentialVault

    vault = CredentialVault(settings.accounts.initial_password_dir, 16)
    password = vault.issue("E7", "zhangwei", "zhangwei@example.com", "HQ")  # a real initial password, sealed
    with_password, without = queue(journal, [personal_notice("E7"), personal_notice("E8")])  # E8: none sealed
    with capture_logs() as logs:
        counts = drain(journal, settings, vault=vault)
    assert counts.sent == {"initial_password": 1} and counts.failed == {"initial_password": 1}
    ((rcpt, message),) = smtp.received
    assert rcpt == ("E7@personal.example.net",) and password in message.get_body(("plain",)).get_content()
    assert vault.read_password("E7", "HQ") is None  # delivered: the vault's copy is gone
    failed = journal.outbox_row(without)
    assert failed.status == "failed" and "no initial password for E8 (HQ)" in failed.last_error
    assert journal.outbox_row(with_password).status == "sent"
    with journal.engine.connect() as conn:  # nowhere else: not in any column of the outbox or the action log
        stored = [str(v) for table in (outbox, action_log) for row in conn.execute(table.select()) for v in row]
    assert stored and not any(password in v for v in stored)
    assert logs and not any(password in repr(entry) for entry in logs)


