"""Logging a person in against the directory, for the console: find their entry, bind as them, read their roles.

The console holds no directory admin password.  It finds the entry of the uid or address typed
in by an anonymous search (or with a read-only lookup account where anonymous search is
forbidden), binds as that entry with the password typed in, and, bound as the person, asks
each role's group whether the person is a `member`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from connectors.ldap.client import Connection, ConnectionLost, Entry, InvalidUrl, escape_filter_value
from lifecycle.domain.errors import ConnectorError

P = ParamSpec("P")
T = TypeVar("T")
INVALID_CREDENTIALS = 49
# Entries a person can log in with: whatever carries a uid (inetOrgPerson, account, posixAccount...).
_PERSON = "(|(objectClass=inetOrgPerson)(objectClass=account)(objectClass=posixAccount))"


class LoginRefused(Exception):
    """Unknown user, ambiguous name or wrong password: one answer for all, so existence does not leak."""


class PasswordRefused(Exception):
    """The directory refused a new password, after the person's own bind succeeded: `reason` is the password
    policy's error name (passwordTooShort, passwordInHistory...) or the result's (constraintViolation), `detail`
    its text.  Neither holds a password."""

    def __init__(self, reason: str, detail: str = "", uid: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail, self.uid = reason, detail, uid  # uid: the account's, as the directory has it


# Bind results that refuse the person: wrong password, or the account may not log in (locked, expired, refused).
_BIND_REFUSALS = (INVALID_CREDENTIALS, 48, 50, 53)
# Bound to for a name that finds no entry (or several), so an unknown user costs the directory the same requests
# as a wrong password; no entry is named so, and a bind to a missing DN is refused (invalidCredentials).
_DECOY_RDN = "cn=no such login (lifecycle console)"
# How long a lookup seen to find people is trusted to still see them: the check costs an unknown user a search.
_SEES_PEOPLE_SECONDS = 600.0
# Results a password change is refused with for the password itself (the policy control names the rule).
_PASSWORD_REFUSALS = {19: "constraintViolation", 50: "insufficientAccessRights", 53: "unwillingToPerform"}


Guard = Callable[[str], AbstractContextManager[None]]


@dataclass(frozen=True)
class Identity:
    uid: str
    dn: str
    display_name: str
    groups: frozenset[str]  # the role groups (as configured) that list the person as a member


@dataclass(frozen=True)
class FoundEntry:
    dn: str
    uid: str
    employee_number: str  # as read; "" when the entry has none, or when it could not be read
    number_known: bool  # the lookup could tell whether the entry carries an employeeNumber at all


class DirectoryLogin:
    """Binds as people; reads with the lookup account (or anonymously). One connection per call."""

    def __init__(self, url: str, base_dn: str, timeout: float, lookup_dn: str = "", lookup_password: str = "") -> None:
        self.url, self.base_dn, self.timeout = url, base_dn, timeout
        self._lookup = (lookup_dn, lookup_password)
        self._sees_people_at = -_SEES_PEOPLE_SECONDS  # time.monotonic() when the lookup last found a person

    def authenticate(self, username: str, password: str, role_groups: Sequence[str], guard: Guard = lambda _dn: nullcontext()
                     ) -> Identity:
        """The person `username` (a uid or a mail address) is, if `password` is theirs; else LoginRefused.

        `guard(dn)` wraps the bind as the entry found (the console's per-account throttle): it may
        refuse the attempt, and sees a LoginRefused raised inside it.
        """
        username = username.strip()
        # An empty password would be an unauthenticated bind, which the server accepts (RFC 4513 5.1.2).
        if not username or not password or len(username) > 256:
            raise LoginRefused
        connection = self._open()
        try:
            dn, attributes = self._find_person(connection, username)
            self._bind_as(connection, dn, password, guard)
            # Bound as the person: their own entry's names, which an anonymous search may not read.
            own = self._call(connection.search_page, dn, "(objectClass=*)", ["uid", "cn", "displayName"], scope="base")
            if own.entries:
                attributes = {**attributes, **own.entries[0][1]}
            member = f"(member={escape_filter_value(dn)})"
            groups = frozenset(
                group for group in role_groups
                if self._call(connection.search_page, group, member, [], scope="base", size_limit=1).entries
            )
        finally:
            connection.close()
        uid = _first(attributes, "uid") or username
        return Identity(uid, dn, _first(attributes, "displayname") or _first(attributes, "cn") or uid, groups)

    def change_password(self, username: str, old: str, new: str, guard: Guard = lambda _dn: nullcontext()) -> str:
        """As the person `username` (a uid or a mail address), with their password `old`, set `new` by the
        Password Modify extended operation (RFC 3062), so the server's password policy judges it (allowed
        while pwdReset is TRUE: that is the change it asks for).  Returns their uid.

        LoginRefused for an unknown user, a wrong `old` or any other refused bind (one answer); PasswordRefused
        when the policy refuses `new`; `guard(dn)` wraps the bind, as for a login.
        """
        username = username.strip()
        if not username or not old or not new or len(username) > 256:
            raise LoginRefused
        connection = self._open()
        try:
            dn, attributes = self._find_person(connection, username)
            self._bind_as(connection, dn, old, guard)
            changed = self._call(connection.password_modify, dn, old, new)
        finally:
            connection.close()
        code = changed.result.code
        if code in _PASSWORD_REFUSALS or changed.policy_error:
            raise PasswordRefused(changed.policy_error or _PASSWORD_REFUSALS.get(code, changed.result.name),
                                  changed.result.diagnostic, _first(attributes, "uid"))
        if code != 0:
            raise ConnectorError(f"the directory answered a password change with {changed.result}", connector="directory")
        return _first(attributes, "uid") or username

    def find_by_uid(self, uid: str) -> list[FoundEntry]:
        """Entries under the base whose uid is `uid` (the lookup account's view).

        Whether an entry carries an employeeNumber is asked of the server with two filters: a lookup
        that may not read the attribute gets neither answer (RFC 4511 4.5.1.8: the filter is Undefined),
        and the entry's number is then unknown rather than taken for empty.
        """
        wanted = f"(&{_PERSON}(uid={escape_filter_value(uid)})"
        connection = self._open()
        try:
            entries = self._search(connection, wanted + ")", ["uid", "employeeNumber"])
            numbered = {dn for dn, _ in self._search(connection, wanted + "(employeeNumber=*))", ["1.1"])}
            unnumbered = {dn for dn, _ in self._search(connection, wanted + "(!(employeeNumber=*)))", ["1.1"])}
        finally:
            connection.close()
        # Known: none (the server says so), or one whose value could be read (filtering on it may be allowed
        # where reading it is not).
        return [FoundEntry(dn, _first(a, "uid"), number, dn in unnumbered or (dn in numbered and bool(number)))
                for dn, a in entries for number in (_first(a, "employeenumber"),)]

    def find_by_number(self, number: str) -> tuple[list[str], bool]:
        """The DNs of entries under the base carrying employeeNumber `number` (any object class; two at most), and
        whether the lookup account could tell: one that may not read employeeNumber finds none either way (the
        filter is Undefined for it, and so is a filter every entry matches)."""
        connection = self._open()
        try:
            found = [dn for dn, _ in self._search(connection, f"(employeeNumber={escape_filter_value(number)})", ["1.1"])]
            known = bool(found) or bool(self._search(connection, "(|(employeeNumber=*)(!(employeeNumber=*)))", ["1.1"]))
        finally:
            connection.close()
        return found, known

    def _bind_as(self, connection: Connection, dn: str, password: str, guard: Guard) -> None:
        """Bind as `dn` inside `guard(dn)`; LoginRefused for any refused bind, whatever the password policy says
        of it (slapd names a locked account for any password typed: telling it would tell anyone who is locked).

        A guard that refuses the attempt (too many failures) is answered after a bind all the same, so the
        refusal takes as long as a wrong password's.
        """
        asked = False
        try:
            with guard(dn):
                asked = True
                result = self._call(connection.bind, dn, password)
                if result.code in _BIND_REFUSALS:
                    raise LoginRefused
        except Exception:
            if not asked:
                with suppress(ConnectorError):  # the guard's refusal is the answer, not the decoy's failure
                    self._decoy_bind(connection)
            raise
        if result.code != 0:
            raise ConnectorError(f"the directory answered a login with {result}", connector="directory")

    def _decoy_bind(self, connection: Connection) -> None:
        self._call(connection.bind, f"{_DECOY_RDN},{self.base_dn}", "no password")

    def _find_person(self, connection: Connection, username: str) -> Entry:
        """The one person entry whose uid or mail is `username`; LoginRefused for none or several, after a bind
        refused as a wrong password's is (the same requests, so the answer's time does not tell them apart)."""
        value = escape_filter_value(username)
        entries = self._search(connection, f"(&{_PERSON}(|(uid={value})(mail={value})))", ["uid", "cn", "displayName"])
        if len(entries) == 1:
            self._sees_people_at = time.monotonic()
            return entries[0]
        if not entries and not self._sees_people(connection):
            # Not an unknown user: a lookup that sees no person at all is the console's configuration.
            who = f"the lookup account {self._lookup[0]}" if self._lookup[0] else "an anonymous search"
            raise ConnectorError(f"{who} sees no person under {self.base_dn}: the directory hides them; "
                                 "set [web] lookup_bind_dn to a read-only account and its password", connector="directory")
        self._decoy_bind(connection)
        raise LoginRefused

    def _sees_people(self, connection: Connection) -> bool:
        """Whether the lookup finds any person: asked of the server at most every _SEES_PEOPLE_SECONDS, so that
        an unknown user's attempt seldom costs a search a known one's does not."""
        if time.monotonic() - self._sees_people_at < _SEES_PEOPLE_SECONDS:
            return True
        found = bool(self._search(connection, f"(&{_PERSON}(uid=*))", ["1.1"]))
        if found:
            self._sees_people_at = time.monotonic()
        return found

    def _open(self) -> Connection:
        try:
            connection = Connection(self.url, self.timeout)
        except InvalidUrl as exc:
            raise ConnectorError(str(exc), connector="directory") from exc
        result = self._call(connection.bind, *self._lookup)
        if result.code != 0:
            connection.close()
            who = f"the lookup account {self._lookup[0]}" if self._lookup[0] else "an anonymous bind"
            raise ConnectorError(f"the directory refused {who}: {result}; check [web] lookup_bind_dn and its password",
                                 connector="directory")
        return connection

    def _search(self, connection: Connection, search_filter: str, attributes: list[str]) -> list[tuple[str, dict[str, list[bytes]]]]:
        page = self._call(connection.search_page, self.base_dn, search_filter, attributes, size_limit=2)
        if page.result.code not in (0, 4, 32):  # success, more than one (size limit), no such base
            raise ConnectorError(f"the directory refused the console's search: {page.result}", connector="directory")
        return page.entries

    def _call(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except ConnectionLost as exc:
            raise ConnectorError(f"the directory at {self.url} cannot be reached: {exc}", connector="directory") from exc


def _first(attributes: dict[str, list[bytes]], name: str) -> str:
    values = attributes.get(name) or []
    return values[0].decode("utf-8", "replace") if values else ""
