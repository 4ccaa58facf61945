"""The LDAP client library (python-ldap, the binding of OpenLDAP's libldap), behind one small interface.

Nothing else in the project imports `ldap`: this module turns its calls into plain
results.  A request the server answered gives a `Result` (its code, never an
exception); a network failure (refused, dropped, timed out) raises `ConnectionLost`.
What each code means for the engine is decided by the session (session.py).

Why python-ldap: libldap frames and decodes the responses in C.  On the bench's full
read of 100k entries it costs less CPU than the hand-written reader on top of ldap3
that it replaced, and it needs no private ldap3 internals (bench/README.md has the numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

# python-ldap and pyasn1 ship no type information: what they return is typed where it enters this module.
import ldap  # type: ignore[import-untyped]
from ldap.controls import DecodeControlTuples, RequestControl  # type: ignore[import-untyped]
from ldap.controls.libldap import SimplePagedResultsControl  # type: ignore[import-untyped]
from ldap.controls.ppolicy import PasswordPolicyControl  # type: ignore[import-untyped]
from ldap.extop import ExtendedRequest  # type: ignore[import-untyped]
from ldap.filter import escape_filter_chars  # type: ignore[import-untyped]
from pyasn1.codec.ber import encoder  # type: ignore[import-untyped]
from pyasn1.type import namedtype, univ  # type: ignore[import-untyped]

Scope = Literal["base", "subtree"]
Operation = Literal["add", "delete", "replace"]
Value = str | bytes
# (DN as the server sent it, {lower-case attribute type: raw values})
Entry = tuple[str, dict[str, list[bytes]]]

# Result codes (RFC 4511 4.1.9) by the names operators look up.
RESULT_NAMES = {
    0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded", 4: "sizeLimitExceeded",
    5: "compareFalse", 6: "compareTrue", 7: "authMethodNotSupported", 8: "strongerAuthRequired", 10: "referral",
    11: "adminLimitExceeded", 12: "unavailableCriticalExtension", 13: "confidentialityRequired",
    14: "saslBindInProgress", 16: "noSuchAttribute", 17: "undefinedAttributeType", 18: "inappropriateMatching",
    19: "constraintViolation", 20: "attributeOrValueExists", 21: "invalidAttributeSyntax", 32: "noSuchObject",
    33: "aliasProblem", 34: "invalidDNSyntax", 36: "aliasDereferencingProblem", 48: "inappropriateAuthentication",
    49: "invalidCredentials", 50: "insufficientAccessRights", 51: "busy", 52: "unavailable", 53: "unwillingToPerform",
    54: "loopDetect", 64: "namingViolation", 65: "objectClassViolation", 66: "notAllowedOnNonLeaf",
    67: "notAllowedOnRDN", 68: "entryAlreadyExists", 69: "objectClassModsProhibited", 71: "affectsMultipleDSAs",
    80: "other", 118: "canceled", 123: "assertionFailed",
}

# The password policy response control's errors (draft-behera-ldap-password-policy 6.2), by their names.
PASSWORD_POLICY_ERRORS = {
    0: "passwordExpired", 1: "accountLocked", 2: "changeAfterReset", 3: "passwordModNotAllowed",
    4: "mustSupplyOldPassword", 5: "insufficientPasswordQuality", 6: "passwordTooShort", 7: "passwordTooYoung",
    8: "passwordInHistory", 9: "passwordTooLong",
}

TRANSACTION_START = "1.3.6.1.1.21.1"
TRANSACTION_SPECIFICATION = "1.3.6.1.1.21.2"
TRANSACTION_END = "1.3.6.1.1.21.3"

_SCOPES = {"base": ldap.SCOPE_BASE, "subtree": ldap.SCOPE_SUBTREE}
_OPERATIONS = {"add": ldap.MOD_ADD, "delete": ldap.MOD_DELETE, "replace": ldap.MOD_REPLACE}
# libldap's own codes (results < 0) for a connection that is gone, never came, or sent what is not
# LDAP: what was asked may or may not have been done, and the connection cannot be trusted.
_LOST = (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR, ldap.DECODING_ERROR)


class ConnectionLost(Exception):
    """The request's outcome is unknown: the server could not be reached, hung up or did not answer in time.

    `down`: the connection is gone (refused, closed or reset), rather than silent or garbled.
    """

    def __init__(self, message: str, *, down: bool = False) -> None:
        super().__init__(message)
        self.down = down


class InvalidUrl(ValueError):
    """The URL is not an LDAP URL libldap accepts."""


@dataclass(frozen=True, slots=True)
class Result:
    """The server's answer to one request."""

    code: int
    diagnostic: str = ""

    @property
    def name(self) -> str:
        return RESULT_NAMES.get(self.code, f"result {self.code}")

    def __str__(self) -> str:
        return f"{self.name} ({self.diagnostic})" if self.diagnostic else self.name


SUCCESS = Result(0)


@dataclass(frozen=True, slots=True)
class PolicyAnswer:
    """A password change's result, with the password policy control's error by name ("" without one)."""

    result: Result
    policy_error: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search: its entries (all read before anyone sees one) and the cookie for the next."""

    result: Result
    entries: list[Entry] = field(default_factory=list)
    cookie: bytes = b""


class _TransactionEnd(univ.Sequence):  # type: ignore[misc]
    """txnEndReq ::= SEQUENCE { commit BOOLEAN DEFAULT TRUE, identifier OCTET STRING } (RFC 5805)."""

    componentType = namedtype.NamedTypes(
        namedtype.DefaultedNamedType("commit", univ.Boolean(True)),
        namedtype.NamedType("identifier", univ.OctetString()),
    )


def transaction_end_value(identifier: bytes, *, commit: bool) -> bytes:
    request = _TransactionEnd()
    request["commit"] = commit
    request["identifier"] = identifier
    return bytes(encoder.encode(request))


Controls = Sequence[Any]  # python-ldap's RequestControl objects, opaque to the callers


def transaction_controls(identifier: bytes) -> Controls:
    """The controls that put a write into transaction `identifier` (critical: never applied outside it)."""
    return [RequestControl(TRANSACTION_SPECIFICATION, True, identifier)]


def escape_filter_value(value: str) -> str:
    """`value` as a filter assertion value (RFC 4515): `*`, `(`, `)`, `\\` and NUL escaped."""
    return str(escape_filter_chars(value))


def _result_of(error: ldap.LDAPError) -> Result:
    info = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    code = int(info.get("result", -1))
    diagnostic = str(info.get("info") or "").strip()
    if code < 0:  # a libldap-side failure: its description is all there is
        diagnostic = "; ".join(part for part in (str(info.get("desc") or ""), diagnostic) if part)
    return Result(code, diagnostic)


def _lost(error: ldap.LDAPError) -> ConnectionLost:
    info = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    if isinstance(error, ldap.TIMEOUT):
        return ConnectionLost("no answer within the timeout")
    details = "; ".join(str(part) for part in (info.get("desc"), info.get("info")) if part)
    return ConnectionLost(details or type(error).__name__, down=isinstance(error, (ldap.SERVER_DOWN, ldap.CONNECT_ERROR)))


def _encoded(values: Value | Iterable[Value]) -> list[bytes]:
    if isinstance(values, (str, bytes)):
        values = [values]
    return [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]


class _LowerNames(dict[str, str]):
    """Attribute types as the server spelled them -> lower case, each spelling lower-cased once."""

    def __missing__(self, name: str) -> str:
        lower = self[name] = name.lower()
        return lower


_names = _LowerNames()


class Connection:
    """One connection to an LDAP server; one request at a time (the caller serialises)."""

    def __init__(self, url: str, timeout: float) -> None:
        try:
            self._ldap = ldap.initialize(url)
        except ldap.LDAPError as err:
            raise InvalidUrl(f"{url!r} is not a valid LDAP URL") from err
        self._ldap.protocol_version = ldap.VERSION3
        # Explicit, whatever /etc/ldap/ldap.conf says: never follow a referral to another server,
        # dereference aliases as the connector always has.
        self._ldap.set_option(ldap.OPT_REFERRALS, 0)
        self._ldap.set_option(ldap.OPT_DEREF, ldap.DEREF_ALWAYS)
        self._ldap.set_option(ldap.OPT_SIZELIMIT, 0)
        self._ldap.set_option(ldap.OPT_TIMELIMIT, 0)
        self._ldap.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
        self._ldap.timeout = timeout  # each synchronous call, and each message of a search
        self.closed = False

    def _request(self, call: Any, *args: Any, **kwargs: Any) -> Result:
        try:
            call(*args, **kwargs)
        except _LOST as err:
            raise _lost(err) from err
        except ldap.LDAPError as err:
            return _result_of(err)
        return SUCCESS

    def bind(self, dn: str, password: str) -> Result:
        return self._request(self._ldap.simple_bind_s, dn, password)

    def search_page(
        self, base: str, search_filter: str, attributes: Sequence[str], *, scope: Scope = "subtree", page_size: int = 0,
        cookie: bytes = b"", size_limit: int = 0,
    ) -> Page:
        """One search request (with the paged-results control when `page_size`), read to its end.

        A result other than success (no such base, a size limit met) comes back with the entries
        read before it, never raised.
        """
        controls = [SimplePagedResultsControl(True, size=page_size, cookie=cookie)] if page_size else None
        entries: list[Entry] = []
        names = _names
        try:
            message = self._ldap.search_ext(base, _SCOPES[scope], search_filter, list(attributes) or ["1.1"],
                                            serverctrls=controls, sizelimit=size_limit)
            result3 = self._ldap.result3
            while True:
                # One message at a time: asking for the whole page at once costs libldap more than this loop.
                kind, data, _, response_controls = result3(message, all=0)
                if kind == ldap.RES_SEARCH_ENTRY:
                    for dn, attributes_read in data:
                        entries.append((dn, {names[name]: values for name, values in attributes_read.items()}))
                elif kind == ldap.RES_SEARCH_RESULT:
                    break
        except _LOST as err:
            raise _lost(err) from err
        except ldap.LDAPError as err:
            return Page(_result_of(err), entries)
        next_cookie = next((c.cookie for c in response_controls if c.controlType == SimplePagedResultsControl.controlType), b"")
        return Page(SUCCESS, entries, next_cookie or b"")

    def add(self, dn: str, attributes: Mapping[str, Value | Iterable[Value]], controls: Controls = ()) -> Result:
        return self._request(self._ldap.add_ext_s, dn, [(name, _encoded(values)) for name, values in attributes.items()],
                             serverctrls=list(controls) or None)

    def modify(self, dn: str, changes: Iterable[tuple[Operation, str, Iterable[Value]]], controls: Controls = ()) -> Result:
        """Each change is (operation, attribute, values); "replace" with no values removes the attribute."""
        modlist = [(_OPERATIONS[operation], name, _encoded(values) or None) for operation, name, values in changes]
        return self._request(self._ldap.modify_ext_s, dn, modlist, serverctrls=list(controls) or None)

    def delete(self, dn: str, controls: Controls = ()) -> Result:
        return self._request(self._ldap.delete_ext_s, dn, serverctrls=list(controls) or None)

    def rename(self, dn: str, new_rdn: str, new_superior: str, controls: Controls = ()) -> Result:
        """ModifyDN: `dn` becomes `new_rdn`,`new_superior` (the old RDN's value is dropped)."""
        return self._request(self._ldap.rename_s, dn, new_rdn, new_superior, 1, serverctrls=list(controls) or None)

    def extended(self, name: str, value: bytes | None = None) -> tuple[Result, bytes | None]:
        """One extended request: its result and responseValue (None when absent)."""
        try:
            _, response = self._ldap.extop_s(ExtendedRequest(name, value))
        except _LOST as err:
            raise _lost(err) from err
        except ldap.LDAPError as err:
            return _result_of(err), None
        return SUCCESS, response

    def password_modify(self, user: str, old: str, new: str) -> PolicyAnswer:
        """The Password Modify extended operation (RFC 3062) with the password policy request control, so
        the server's policy is enforced and its refusal named (passwordTooShort, passwordInHistory...)."""
        return self._with_policy(self._ldap.passwd, user, old, new)

    def _with_policy(self, call: Any, *args: Any) -> PolicyAnswer:
        try:
            message = call(*args, serverctrls=[PasswordPolicyControl()])
            _, _, _, controls = self._ldap.result3(message)
        except _LOST as err:
            raise _lost(err) from err
        except ldap.LDAPError as err:
            info = err.args[0] if err.args and isinstance(err.args[0], dict) else {}
            return PolicyAnswer(_result_of(err), _policy_error(DecodeControlTuples(info.get("ctrls") or [])))
        return PolicyAnswer(SUCCESS, _policy_error(controls))

    def close(self) -> None:
        """Unbind and close; a connection already gone is closed all the same."""
        if self.closed:
            return
        self.closed = True
        try:
            self._ldap.unbind_ext_s()
        except ldap.LDAPError:
            pass  # already gone: nothing to tell anyone


def _policy_error(controls: Sequence[Any]) -> str:
    for control in controls:
        if isinstance(control, PasswordPolicyControl) and control.error is not None:
            return PASSWORD_POLICY_ERRORS.get(int(control.error), f"error {control.error}")
    return ""
