"""The writes: people and managed groups, each one request over the calling thread's session (session.WriteLanes).

Passwords are hashed here ({SSHA}) and always come with `pwdReset: TRUE`: with
the policy's `pwdMustChange`, ppolicy then lets the user do nothing but change
it.  Disabling is `pwdAccountLockedTime: 000001010000Z`, which only blocks
binds where the applying password policy has `pwdLockout: TRUE` (the health
check looks for one).  Every write is safe to repeat: a retried write finds
its work done and says so rather than failing.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog

from connectors.ldap.client import Operation, Value
from connectors.ldap.dn import canonical_dn, format_rdn, same_dn, split_first_rdn
from connectors.ldap.entries import MANAGED_MARKER, PERSON_CLASSES
from connectors.ldap.session import (
    ATTRIBUTE_OR_VALUE_EXISTS,
    CONNECTOR,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    SUCCESS,
    Send,
    Session,
    WriteLanes,
)
from lifecycle.domain.errors import RecordError

log = structlog.get_logger(__name__)

# ppolicy treats this value as "locked by an administrator, never expires".
LOCKED_FOREVER = "000001010000Z"
LAST_MEMBER_HINT = "a groupOfNames needs at least one member: delete the group instead of removing its last member"


def hash_password(password: str) -> str:
    """{SSHA} hash made here, so the clear text never reaches the server (its logs, an accesslog).

    pwdReset is set next to it by the callers: ppolicy does not set it by itself when an
    administrator adds an entry.
    """
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def _add(dn: str, attributes: Mapping[str, Value | Sequence[Value]]) -> Send:
    return lambda connection, controls: connection.add(dn, attributes, controls)


def _modify(dn: str, *changes: tuple[Operation, str, Iterable[Value]]) -> Send:
    return lambda connection, controls: connection.modify(dn, changes, controls)


def _delete(dn: str) -> Send:
    return lambda connection, controls: connection.delete(dn, controls)


def _rdn(dn: str) -> tuple[list[tuple[str, str]], str]:
    """A malformed DN fails only its action."""
    try:
        return split_first_rdn(dn)
    except (ValueError, UnicodeDecodeError) as err:
        raise RecordError(f"{dn}: not a valid DN ({err})", connector=CONNECTOR) from err


# -- people -----------------------------------------------------------------------


def create_person(lanes: WriteLanes, dn: str, attributes: Mapping[str, str], password: str | None) -> None:
    """Add an inetOrgPerson; with a password, the user must change it at first login."""
    values: dict[str, Any] = {"objectClass": list(PERSON_CLASSES)}
    values.update((name, value) for name, value in attributes.items() if value and name.lower() != "objectclass")
    rdn, _ = _rdn(dn)
    for attribute, value in rdn:  # the naming value must be in the entry
        if not any(name.lower() == attribute.lower() for name in values):
            values[attribute] = value
    if password:
        values.update(userPassword=hash_password(password), pwdReset="TRUE")
    lanes.session().write("create", dn, _add(dn, values))
    if not lanes.in_transaction():  # queued only: the executor logs it once committed
        log.info("directory.person_created", dn=dn)


def modify_person(lanes: WriteLanes, dn: str, changes: Mapping[str, str | None]) -> None:
    """Replace each attribute; None or "" removes it (fine when already absent)."""
    if not changes:
        return
    # REPLACE with no values deletes and, unlike DELETE, succeeds when absent.
    lanes.session().write("modify", dn, _modify(dn, *(("replace", name, [value] if value else []) for name, value in changes.items())))


def set_password(lanes: WriteLanes, dn: str, password: str) -> None:
    """Replace the password with an initial one the user must change at first login."""
    if not password:
        raise ValueError("password must not be empty")
    request = _modify(dn, ("replace", "userPassword", [hash_password(password)]), ("replace", "pwdReset", ["TRUE"]))
    lanes.session().write("set password of", dn, request)
    log.info("directory.password_set", dn=dn)


def move_person(lanes: WriteLanes, reads: Session, dn: str, new_superior: str) -> tuple[str, bool]:
    """Move under `new_superior`, keeping the RDN: (the new DN, whether this call moved it).

    A retry after a move that did happen (old DN gone, new one there) succeeds, so an
    interrupted action can simply be run again.
    """
    rdn, parent = _rdn(dn)
    rdn_text = format_rdn(rdn)
    superior = canonical_dn(new_superior)
    new_dn = f"{rdn_text},{superior}"
    if same_dn(parent, superior):
        return canonical_dn(dn), False

    session = lanes.session()
    # Not inside the lane's transaction: whether it happened must be known before the refint wait.
    result = session.exchange("move", dn, lambda connection: connection.rename(dn, rdn_text, superior))
    if result.code == NO_SUCH_OBJECT and reads.exists(new_dn):
        return new_dn, False
    if result.code != SUCCESS:
        session.fail("move", dn, result, f"to {superior}")
    log.info("directory.person_moved", dn=dn, new_dn=new_dn)
    return new_dn, True


def lock(lanes: WriteLanes, dn: str) -> None:
    """Disable logins: ppolicy refuses binds while pwdAccountLockedTime is 000001010000Z."""
    lanes.session().write("lock", dn, _modify(dn, ("replace", "pwdAccountLockedTime", [LOCKED_FOREVER])))
    if not lanes.in_transaction():
        log.info("directory.person_locked", dn=dn)


def unlock(lanes: WriteLanes, dn: str) -> None:
    lanes.session().write("unlock", dn, _modify(dn, ("replace", "pwdAccountLockedTime", [])))
    if not lanes.in_transaction():
        log.info("directory.person_unlocked", dn=dn)


def delete_person(lanes: WriteLanes, dn: str) -> bool:
    """Delete the entry; False when it was already gone."""
    if lanes.session().write("delete", dn, _delete(dn), ok=[NO_SUCH_OBJECT]) != SUCCESS:
        return False
    log.info("directory.person_deleted", dn=dn)
    return True


# -- groups -----------------------------------------------------------------------


def create_group(lanes: WriteLanes, dn: str, company: str, department: str, first_member: str,
                 members: Sequence[str] | None = None) -> None:
    """A managed groupOfNames (it must have a member from the start).

    `members`: all initial members, added with the entry in one request
    (`first_member` is then expected to be `members[0]`).
    """
    rdn, _ = _rdn(dn)
    values: dict[str, Any] = {"objectClass": ["top", "groupOfNames"]}
    values.update(rdn)
    initial = list(dict.fromkeys(m for m in (members or ()) if m)) or [first_member]
    values.update(businessCategory=MANAGED_MARKER, member=initial)
    if company:
        values["o"] = company
    if department:
        values["ou"] = department
    lanes.session().write("create group", dn, _add(dn, values))
    log.info("directory.group_created", dn=dn, members=len(initial))


def add_member(lanes: WriteLanes, group_dn: str, member_dn: str) -> None:
    lanes.session().write(f"add member {member_dn} to", group_dn, _modify(group_dn, ("add", "member", [member_dn])),
                          ok=[ATTRIBUTE_OR_VALUE_EXISTS])


def remove_member(lanes: WriteLanes, group_dn: str, member_dn: str) -> None:
    lanes.session().write(f"remove member {member_dn} from", group_dn, _modify(group_dn, ("delete", "member", [member_dn])),
                          ok=[NO_SUCH_ATTRIBUTE], hint=LAST_MEMBER_HINT)


def add_members(lanes: WriteLanes, group_dn: str, member_dns: Sequence[str]) -> bool:
    """Add several members in one request (one write of the group entry, not one per member).

    False when the server refused it as a whole because one of them is there already:
    then the caller adds them one at a time (each one's "already there" is then fine).
    """
    return _members_at_once(lanes, "add", "to", group_dn, member_dns, "add", ATTRIBUTE_OR_VALUE_EXISTS)


def remove_members(lanes: WriteLanes, group_dn: str, member_dns: Sequence[str]) -> bool:
    """Remove several members in one request; False when one of them was gone already (see `add_members`).

    slapd rewrites the whole group entry for each request and re-indexes its
    members, so removing a cycle's leavers and movers together costs one rewrite,
    not one each (bench/README.md).
    """
    return _members_at_once(lanes, "remove", "from", group_dn, member_dns, "delete", NO_SUCH_ATTRIBUTE, LAST_MEMBER_HINT)


def _members_at_once(lanes: WriteLanes, verb: str, preposition: str, group_dn: str, member_dns: Sequence[str],
                     operation: Operation, settled: int, hint: str = "") -> bool:
    """One modify for all of `member_dns`.  A modify is atomic: one value already there (added) or
    already gone (removed) makes the server refuse it all with `settled`."""
    values = list(dict.fromkeys(m for m in member_dns if m))
    if len(values) < 2:
        return False
    code = lanes.session().write(f"{verb} {len(values)} members {preposition}", group_dn,
                                 _modify(group_dn, (operation, "member", values)), ok=[settled], hint=hint)
    return code != settled


def delete_group(lanes: WriteLanes, dn: str) -> None:
    if lanes.session().write("delete group", dn, _delete(dn), ok=[NO_SUCH_OBJECT]) == SUCCESS:
        log.info("directory.group_deleted", dn=dn)


def add_container(session: Session, dn: str, ou: str) -> None:
    session.write("create container", dn, _add(dn, {"objectClass": ["top", "organizationalUnit"], "ou": ou}))
