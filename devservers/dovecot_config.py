"""The test Dovecot's configuration: dovecot.conf, the LDAP passdbs on the directory, the SQL
userdb (and mailbox check) on Modoboa's database, and two scripts.

See devservers/dovecot.py for what the instance is configured like, and why.
"""

from __future__ import annotations

import grp
import os
import pwd
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from devservers.dovecot import DovecotInstance

HOSTNAME = "mail.lifecycle.test"

# Modoboa 2.12 doc/manual_installation/dovecot.rst ("SQLite users"), with the
# is_send_only clauses of the installer's MySQL/PostgreSQL queries.  The password
# is the directory's (passdb ldap): this passdb only runs after the directory
# accepted it and says "the mailbox exists and is active" (no password needed).
PASSWORD_QUERY = (
    "SELECT email AS user, NULL AS password, 'Y' AS nopassword FROM core_user u "
    "INNER JOIN admin_mailbox mb ON u.id=mb.user_id "
    "INNER JOIN admin_domain dom ON mb.domain_id=dom.id "
    "WHERE (mb.is_send_only=0 OR '%s' NOT IN ('imap', 'pop3')) "
    "AND u.email='%Lu' AND u.is_active=1 AND dom.enabled=1"
)
USER_QUERY = (
    "SELECT '{home_root}/%Ld/%Ln' AS home, {uid} AS uid, {gid} AS gid, "
    "('*:bytes=' || mb.quota || 'M') AS quota_rule "
    "FROM admin_mailbox mb INNER JOIN admin_domain dom ON mb.domain_id=dom.id "
    "WHERE (mb.is_send_only=0 OR '%s' NOT IN ('imap', 'pop3', 'lmtp')) "
    "AND mb.address='%Ln' AND dom.name='%Ld'"
)
ITERATE_QUERY = "SELECT email AS user FROM core_user"
# The login name is the address; LDAP matches `mail` case-insensitively (caseIgnoreIA5Match).
# Dovecot escapes %u for the filter.
PERSON_FILTER = "(&(objectClass=inetOrgPerson)(mail=%u))"
MUST_CHANGE_FILTER = "(&(objectClass=inetOrgPerson)(mail=%u)(pwdReset=TRUE))"
MUST_CHANGE_REASON = "Your password must be changed first: {page}"

_POSTLOGIN = """\
#!{python}
# Modoboa's post-login script (last-login tracking), for SQLite: the
# installer's does `UPDATE core_user SET last_login=now() WHERE username='$USER'`.
import datetime, os, sqlite3, sys

user = os.environ.get("USER", "")
if user:
    try:
        db = sqlite3.connect({db!r}, timeout=10)
        with db:
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
            db.execute("UPDATE core_user SET last_login=? WHERE username=?", (now, user))
        db.close()
    except sqlite3.Error as exc:  # never block a login on it
        print(f"postlogin: {{exc}}", file=sys.stderr)
os.execv(sys.argv[1], sys.argv[1:])
"""

_SENDMAIL = """\
#!/bin/sh
# Records what Dovecot would send (sieve vacation replies) instead of sending it.
out={outbox}
name="$(date +%s%N)-$$"
{{
  printf 'X-Lifecycle-Sendmail-Args:'
  for arg in "$@"; do printf ' %s' "$arg"; done
  printf '\\n'
  cat
}} > "$out/.$name.tmp" && mv "$out/.$name.tmp" "$out/$name.eml"
"""




class MailUsers(NamedTuple):
    internal: str
    """Dovecot's internal processes."""
    login: str
    """The login processes."""
    uid: int
    """The mail processes (every mailbox)."""
    gid: int


class DirectoryLogin(NamedTuple):
    """Where IMAP logins check passwords: the directory, found by `mail` under `base_dn`.

    `bind_dn` only searches (it needs read access to mail and pwdReset: in
    production a read-only account; the tests use the test slapd's admin);
    the password itself is checked by binding as the person (auth_bind).
    """

    url: str
    base_dn: str
    bind_dn: str
    bind_password: str
    password_page: str
    """Where a person whose initial password must still be changed goes to change it (the console's /password)."""


class MissingUser(RuntimeError):
    """A user of the Debian package is missing."""


def mail_users() -> MailUsers:
    """Dovecot refuses uid 0 for mail processes, so as root the mail user is Debian's `mail` (8:8), internal
    processes run as `dovecot` and logins as `dovenull`; as an ordinary user, all of them are that user."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        try:
            pwd.getpwnam("dovecot")
            pwd.getpwnam("dovenull")
            mail = pwd.getpwnam("mail")
        except KeyError as exc:
            raise MissingUser(f"user {exc} missing: run scripts/install-dovecot (as root)") from exc
        return MailUsers("dovecot", "dovenull", mail.pw_uid, mail.pw_gid)
    me = pwd.getpwuid(uid).pw_name
    return MailUsers(me, me, uid, gid)


def postlogin_script(modoboa_db: Path) -> str:
    return _POSTLOGIN.format(python=sys.executable, db=str(modoboa_db))


def sendmail_script(outbox: Path) -> str:
    return _SENDMAIL.format(outbox=_shell_quote(str(outbox)))


def sql_config(modoboa_db: Path, mail_root: Path, users: MailUsers) -> str:
    """dovecot-sql.conf.ext: passdb and userdb on Modoboa's SQLite database."""
    user_query = USER_QUERY.format(home_root=str(mail_root).replace("'", "''"), uid=users.uid, gid=users.gid)
    lines = [
        "driver = sqlite",
        f"connect = {modoboa_db}",
        "default_pass_scheme = CRYPT",
        f"password_query = {PASSWORD_QUERY}",
        f"user_query = {user_query}",
        f"iterate_query = {ITERATE_QUERY}",
        "",
    ]
    return "\n".join(lines)


def ldap_config(directory: DirectoryLogin, *, must_change: bool) -> str:
    """One dovecot-ldap.conf.ext: the person found by address, the password checked by binding as them.

    `must_change`: only entries with pwdReset TRUE; their passdb fails even
    the right password, with `code=pass_expired` (IMAP answers `NO [EXPIRED]`,
    RFC 5530: "get a new passphrase") and the reason naming the change page.
    `nodelay`: that answer comes at once (the password was right; a wrong one
    still waits auth_failure_delay).  `nologin` would answer `[CONTACTADMIN]`.
    """
    for name, value in directory._asdict().items():
        if "\n" in value or (name == "password_page" and "," in value):
            raise ValueError(f"{name} must be one line without commas (dovecot-ldap.conf.ext): {value!r}")
    lines = [
        f"uris = {directory.url}",
        f"dn = {directory.bind_dn}",
        f"dnpass = {directory.bind_password}",
        "auth_bind = yes",
        "ldap_version = 3",
        f"base = {directory.base_dn}",
        "scope = subtree",
        "deref = never",
        f"pass_filter = {MUST_CHANGE_FILTER if must_change else PERSON_FILTER}",
    ]
    if must_change:
        reason = MUST_CHANGE_REASON.format(page=directory.password_page).replace("%", "%%")
        lines.append(f"pass_attrs = =code=pass_expired, =nodelay=y, =reason={reason}")
    else:
        lines.append("pass_attrs = mail=user")
    return "\n".join([*lines, ""])


# Without a directory (DovecotInstance.use_directory(None)) every login is refused and says why
# (static passdb arguments are split at spaces: the reason has none).
NO_DIRECTORY_PASSDB = """\
passdb {
  driver = static
  args = nopassword=y nologin=y reason=no-directory:call-DovecotInstance.use_directory()
}
"""


def _passdbs(instance: DovecotInstance, sql: Path) -> str:
    """The passdb chain (devservers/dovecot.py says why each is there); a deployment's is the same."""
    if instance.directory is None:
        return NO_DIRECTORY_PASSDB
    return f"""\
# 1. The entry must still change its initial password (pwdReset TRUE): the right password fails
#    with the reason (where to change it); a wrong one falls through to 2 and fails like any other.
passdb {{
  driver = ldap
  args = {instance.ldap_config_path(must_change=True)}
  result_success = return-fail
  result_failure = continue
  result_internalfail = continue
}}
# 2. The directory: the only password (a locked entry cannot bind).
passdb {{
  driver = ldap
  args = {instance.ldap_config_path(must_change=False)}
  result_success = continue-ok
  result_failure = return-fail
}}
# 3. Modoboa, once the password was right: the mailbox exists and is active (a suspended one is refused).
passdb {{
  driver = sql
  args = {sql}
  skip = unauthenticated
  result_success = return-ok
  result_failure = return-fail
}}
"""


def dovecot_config(instance: DovecotInstance, sql: Path, users: MailUsers) -> str:
    """dovecot.conf of `instance` (its ports chosen, its data dir made)."""
    internal_group = grp.getgrgid(pwd.getpwnam(users.internal).pw_gid).gr_name
    return f"""\
# Written by devservers/dovecot.py: a throwaway test instance.
instance_name = lifecycle-{os.getpid()}-{instance.imap_port}
base_dir = {instance.data_dir / "run"}
state_dir = {instance.data_dir / "state"}
listen = 127.0.0.1
protocols = imap lmtp
hostname = {HOSTNAME}
log_path = {instance.log_path}
auth_verbose = yes
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {users.internal}
default_internal_group = {internal_group}
default_login_user = {users.login}
first_valid_uid = {min(users.uid, 500)}
first_valid_gid = {min(users.gid, 500)}
mail_location = maildir:~/.maildir
mail_max_userip_connections = 50
sendmail_path = {instance.data_dir / "sendmail"}
postmaster_address = postmaster@{HOSTNAME}
doveadm_api_key = {_quote(instance.api_key)}

{_passdbs(instance, sql)}userdb {{
  driver = sql
  args = {sql}
}}

namespace inbox {{
  inbox = yes
  mailbox Drafts {{
    auto = subscribe
    special_use = \\Drafts
  }}
  mailbox Junk {{
    auto = subscribe
    special_use = \\Junk
  }}
  mailbox Sent {{
    auto = subscribe
    special_use = \\Sent
  }}
  mailbox Trash {{
    auto = subscribe
    special_use = \\Trash
  }}
}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {instance.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service imap {{
  executable = imap postlogin
}}
service postlogin {{
  executable = script-login {instance.workdir / "postlogin"}
  user = {"root" if os.getuid() == 0 else users.internal}
  unix_listener postlogin {{
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {instance.lmtp_port}
  }}
}}
service doveadm {{
  inet_listener http {{
    address = 127.0.0.1
    port = {instance.api_port}
  }}
}}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
"""


def _quote(value: str) -> str:
    """A value in dovecot.conf (double-quoted, backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'




def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


