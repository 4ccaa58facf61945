"""doveadm's HTTP API as the companion uses it: one command per request, its rows or the error mapping.

What the API is, as measured against Dovecot 2.3.19 (Debian 12) in
devservers/dovecot.py:

- `POST <api_url>` (`http://host:port/doveadm/v1`) with a JSON body
  `[["<command>", {<parameters>}, "<tag>"]]`; the answer is
  `[["doveadmResponse", [<rows>], "<tag>"]]` or
  `[["error", {"type": "exitCode", "exitCode": N}, "<tag>"]]`
  (`{"type": "unknownMethod"}` for a command the server does not have).
  Exit codes (sysexits): 67 no such user, 68 not found (no session to kick,
  no such script), 75 temporary failure (also: the archive directory is not
  writable by the mail user, or for `fs` commands a directory the doveadm
  service may not read), 65 a dsync that cannot update its destination, 2 the
  mailbox changed during a dsync.
- Auth `Authorization: X-Dovecot-API <base64 of doveadm_api_key>`; a wrong
  key is HTTP 401 to a GET, but a POST with a wrong key is never answered
  (the server logs "Invalid authentication attempt to HTTP API" and leaves
  it waiting until the client gives up), so the key is checked with a GET
  first.  `GET <api_url>` lists every command with its parameters and their
  types.
- One command per request, `Connection: close`: the doveadm service forks a
  process per connection (`service_count = 1`), and a parameter of the wrong
  type has been seen to crash it; the companion's check() compares the types.
- A boolean parameter counts when it is present, even `false`: mailboxStatus
  with `"totalSum": false` is `-t`, which doveadm refuses for the `guid` field
  by ending the connection.  Leave a parameter out to leave it unset.

Errors: what connectors/http.py maps (connection problems, timeouts, 429 and
5xx -> TransientError; 401/403 -> ConnectorConfigError), and for a command:
exit code 75/2 -> TransientError; a missing command or a usage error ->
ConnectorConfigError; anything else -> DoveadmError (a RecordError with the
exit code).  A command is sent once unless nothing reached the server: a
POST that timed out may have run.  The API key is never logged nor put in a
message.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from connectors.http import MAX_MESSAGE, HttpApi, RetryPolicy
from lifecycle.domain.errors import ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.settings import DovecotSettings

CONNECTOR = "mail.dovecot"

# The parameters the companion sends, with the types the server must declare for them.
COMMANDS: dict[str, dict[str, str]] = {
    "kick": {"mask": "array"},
    "mailboxStatus": {"user": "string", "field": "array", "mailboxMask": "array", "totalSum": "boolean"},
    "backup": {"user": "string", "destination": "array"},
    "search": {"user": "string", "query": "array"},
    "fsStat": {"fsDriver": "string", "fsArgs": "string", "path": "string"},
    "fsIter": {"fsDriver": "string", "fsArgs": "string", "path": "string"},
    "fsIterDirs": {"fsDriver": "string", "fsArgs": "string", "path": "string"},
    "sieveList": {"user": "string"},
    "sieveGet": {"user": "string", "scriptname": "string"},
    "sievePut": {"user": "string", "scriptname": "string", "activate": "boolean", "file": "string"},
    "sieveActivate": {"user": "string", "scriptname": "string"},
    "sieveDeactivate": {"user": "string"},
    "sieveDelete": {"user": "string", "scriptname": "array"},
}

EX_CHANGED = 2  # dsync: success, but the mailbox changed during the sync
EX_USAGE = 64
EX_NOUSER = 67
EX_NOTFOUND = 68
EX_TEMPFAIL = 75
EX_NOPERM = 77

# `[mail.dovecot]` has no retry keys: a short budget for what never reached the server; the next cycle
# retries the rest.
RETRY = RetryPolicy(max_attempts=3, max_retry_seconds=30.0, backoff_seconds=0.5)


class DoveadmError(RecordError):
    """doveadm answered with an exit code for one command."""

    def __init__(self, message: str, *, exit_code: int | None) -> None:
        super().__init__(message, connector=CONNECTOR)
        self.exit_code = exit_code


class Doveadm(HttpApi):
    """The doveadm HTTP API of one Dovecot server (see the module doc)."""

    def __init__(
        self,
        settings: DovecotSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        assert settings.api_key is not None  # the settings validator guarantees it
        key = settings.api_key.get_secret_value()
        token = base64.b64encode(key.encode("utf-8")).decode("ascii")
        super().__init__(
            connector=CONNECTOR,
            where=f"doveadm API {settings.api_url}",
            headers={"Authorization": f"X-Dovecot-API {token}", "Accept": "application/json", "Connection": "close"},
            secrets=(key, token),
            timeout=settings.timeout_seconds,
            verify=settings.verify_tls,
            retry=RETRY,
            auth_hint="check [mail.dovecot] api_key_file (the server's doveadm_api_key)",
            server_errors_transient=True,
            keepalive=False,
            transport=transport,
            sleep=sleep,
        )
        self.url = settings.api_url
        self._tags = itertools.count(1)
        self._key_accepted = False

    def declared_commands(self, *, what: str) -> dict[str, dict[str, str]]:
        """Every command the server has, with its parameters' types (the key is checked on the way)."""
        response = self.request("GET", self.url, what=what)
        self._key_accepted = True
        try:
            listing = response.json()
        except ValueError as exc:
            raise RecordError(f"{what}: {self.where}: the command list is not JSON", connector=CONNECTOR) from exc
        declared: dict[str, dict[str, str]] = {}
        for command in listing if isinstance(listing, list) else ():
            if isinstance(command, dict) and "command" in command:
                declared[str(command["command"])] = {
                    str(p.get("name")): str(p.get("type")) for p in command.get("parameters") or () if isinstance(p, dict)
                }
        return declared

    def run(self, command: str, parameters: dict[str, Any], *, what: str, timeout: float | None = None) -> list[dict[str, Any]]:
        """One doveadm command; its rows, or the error mapping (see the module doc)."""
        if not self._key_accepted:
            # A POST with a wrong key is never answered: a GET says 401 at once.
            self.request("GET", self.url, what=what)
            self._key_accepted = True
        tag = f"lifecycle-{next(self._tags)}"
        try:
            response = self.request("POST", self.url, what=what, json=[[command, parameters, tag]], timeout=timeout)
        except TransientError:
            self._key_accepted = False  # a key changed on the server makes POSTs hang: the next command asks again
            raise
        try:
            body = response.json()
            kind, payload, answered = body[0]
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise RecordError(
                f"{what}: unexpected answer from doveadm: {self.scrub(response.text)[:MAX_MESSAGE]}", connector=CONNECTOR
            ) from exc
        if answered != tag:
            raise RecordError(f"{what}: doveadm answered tag {answered!r}, not {tag!r}", connector=CONNECTOR)
        if kind == "doveadmResponse":
            return [row for row in payload or () if isinstance(row, dict)]
        if kind != "error" or not isinstance(payload, dict):
            raise RecordError(
                f"{what}: unexpected answer from doveadm: {self.scrub(json.dumps(body))[:MAX_MESSAGE]}", connector=CONNECTOR
            )
        raise _command_error(command, payload, what=what)


def _command_error(command: str, payload: dict[str, Any], *, what: str) -> TransientError | ConnectorConfigError | DoveadmError:
    if payload.get("type") == "unknownMethod":
        return ConnectorConfigError(f"{what}: doveadm has no command {command} (plugin not loaded?)", connector=CONNECTOR)
    code = payload.get("exitCode")
    code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    if code in (EX_TEMPFAIL, EX_CHANGED):
        hint = ""
        if command == "backup":
            hint = " (for a backup: is archive_dir writable by the mail user on the server?)"
        elif command.startswith("fs"):
            # Measured: a directory the doveadm service may not read is exit code 75 too.
            hint = (
                " (can the doveadm service read the archive? `fs` commands run as `service doveadm`'s user, "
                "root unless dovecot.conf sets one)"
            )
        return TransientError(f"{what}: doveadm {command} exit code {code}: temporary failure{hint}", connector=CONNECTOR)
    if code in (EX_USAGE, EX_NOPERM):
        return ConnectorConfigError(f"{what}: doveadm {command} refused it (exit code {code})", connector=CONNECTOR)
    reason = {EX_NOUSER: "no such user", EX_NOTFOUND: "not found"}.get(code or -1, "failed")
    return DoveadmError(f"{what}: doveadm {command}: {reason} (exit code {code})", exit_code=code)
