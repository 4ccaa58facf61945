"""`lifecycle outbox`: the notices waiting, failed or unconfirmed; resend, forget, or send now.

A notice is `unconfirmed` when its sending was interrupted and nobody can tell whether it arrived (a
recipient outside our mail server): it is never sent again by itself.  `--resend ID` sends it (or a
failed one) again on an admin's word; `--forget ID` drops it.  `--send` drains the outbox now, as a
cycle does first.  Every admin decision is recorded in the action log with the OS user.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lifecycle.domain.errors import ConfigError
from lifecycle.domain.settings import Settings, read_secrets
from lifecycle.engine.cycle import current_actor, open_companion
from lifecycle.engine.outbox_delivery import DeliveryCounts, deliver_outbox, open_sender, resend
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.outbox import DROPPED, FAILED, LISTED, UNCONFIRMED, OutboxRow
from lifecycle.journal.store import Journal

EXIT_OK, EXIT_ERROR = 0, 1


def add_outbox_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "outbox", help="the notices waiting, failed or unconfirmed ([notify]); resend, forget or send now",
        description="Lists the outbox's notices that wait (held until their action is applied, queued, being sent), "
        "failed, or are unconfirmed (a send interrupted, its arrival unknown: never repeated by itself). "
        "Exits 1 when any failed or is unconfirmed.",
    )
    cmd.add_argument("--all", action="store_true", help="the sent and dropped ones too")
    cmd.add_argument("--company")
    cmd.add_argument("--format", choices=("text", "json"), default="text")
    what = cmd.add_mutually_exclusive_group()
    what.add_argument("--resend", type=int, metavar="ID", help="send an unconfirmed or failed notice again now")
    what.add_argument("--forget", type=int, metavar="ID", help="drop an unconfirmed, failed or waiting notice")
    what.add_argument("--send", action="store_true", help="send what is due now (as every cycle does first)")


def cmd_outbox(args: argparse.Namespace, settings: Settings) -> int:
    journal = Journal(settings.state.url)
    try:
        if args.forget is not None:
            return _forget(journal, args.forget)
        if args.resend is not None or args.send:
            return _send(args, settings, journal)
        return _list(args, settings, journal)
    finally:
        journal.close()


def _list(args: argparse.Namespace, settings: Settings, journal: Journal) -> int:
    rows = journal.outbox_rows(statuses=None if args.all else LISTED, company=args.company)
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=2) + "\n")
    else:
        if settings.notify is None:
            print("notify: not configured: nothing is sent", file=sys.stderr)
        if not rows:
            print("the outbox is empty" if args.all else "nothing waiting, failed or unconfirmed")
        zone = ZoneInfo(settings.policy.timezone)
        for row in rows:
            print(_line(row, zone))
    return EXIT_ERROR if any(r.status in (FAILED, UNCONFIRMED) for r in rows) else EXIT_OK


def _line(row: OutboxRow, zone: ZoneInfo) -> str:
    def at(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "-"

    next_attempt = at(row.next_attempt_at) if row.status == "queued" and row.next_attempt_at else (
        "now" if row.status == "queued" else "-")
    text = (f"{row.id:>6} {row.status:<11} {row.event:<20} {row.company:<6} {row.employee_id or '-':<10} "
            f"to {', '.join(row.envelope)}  attempts {row.attempts}, next {next_attempt}")
    if row.status == "sent":
        text += f", sent {at(row.sent_at)}"
    return text + (f"\n{'':>7}{row.last_error}" if row.last_error else "")


def _forget(journal: Journal, row_id: int) -> int:
    row = journal.outbox_row(row_id)
    if row is None:
        raise ConfigError(f"outbox has no notice {row_id}: `lifecycle outbox --all` lists them")
    if row.status in ("sent", DROPPED):
        raise ConfigError(f"notice {row_id} is {row.status} already: nothing to forget")
    now = datetime.now(UTC)
    if not journal.mark_notice(row_id, DROPPED, now=now, error=f"forgotten by {current_actor()}",
                               expect=(row.status,)):
        raise ConfigError(f"notice {row_id} changed meanwhile (a cycle is sending it): look again")
    journal.record_admin_event("outbox_forget", row.message_id, f"{row.event} notice {row_id} forgotten",
                               current_actor(), now, company=row.company)
    print(f"notice {row_id} ({row.event}, {row.company}) dropped: it will not be sent")
    return EXIT_OK


def _send(args: argparse.Namespace, settings: Settings, journal: Journal) -> int:
    if settings.notify is None:
        raise ConfigError("[notify] is not configured: nothing is sent (add [notify] to the configuration)")
    settings, _unread = read_secrets(settings)  # the Dovecot key, to look for an interrupted notice
    sender = open_sender(settings)
    companion = open_companion(settings) if args.send else None
    vault = CredentialVault.for_settings(settings.accounts, journal.engine)  # a personal notice's password
    try:
        if args.resend is not None:
            counts = resend(journal, sender, settings, args.resend, vault=vault)
            journal.record_admin_event("outbox_resend", str(args.resend), f"notice {args.resend} sent again",
                                       current_actor(), datetime.now(UTC))
        else:
            counts = deliver_outbox(journal, sender, settings, companion=companion, vault=vault)
    finally:
        sender.close()
        if companion is not None:
            companion.close()
    print(_summary(counts))
    return EXIT_ERROR if counts.stopped or sum(counts.failed.values()) else EXIT_OK


def _summary(counts: DeliveryCounts) -> str:
    text = (f"{sum(counts.sent.values())} sent, {sum(counts.failed.values())} failed, {counts.retrying} to retry, "
            f"{counts.unconfirmed} unconfirmed; {counts.waiting} waiting")
    return text + (f"; stopped: {counts.stopped}" if counts.stopped else "")


OUTBOX_COMMANDS = {"outbox": cmd_outbox}
