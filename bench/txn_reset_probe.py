"""Does this slapd survive a connection reset while it commits an LDAP transaction (RFC 5805)?

    .venv/bin/python -m bench.txn_reset_probe [--tries 100] [--writes 32]
    .venv/bin/python -m bench.txn_reset_probe --slapd "chroot /srv/trixie /usr/sbin/slapd" \\
        --slapadd "chroot /srv/trixie /usr/sbin/slapadd" --workdir /srv/trixie/tmp/probe

Why: `[directory] transactions = true` makes the daemon's writes several times cheaper for
slapd, but OpenLDAP 2.5.13 (Debian 12) and 2.6.10 (Debian 13) die with a segmentation fault when
a client's connection is reset (TCP RST) while slapd applies a committed transaction; a plain
close never did. Run this against a **throwaway** slapd of the version you run (never your
directory: the point is to see whether it crashes) before turning transactions on.

Each try: bind, start a transaction, send `--writes` adds under it and the commit without
waiting for their answers, wait a random 0-4 ms, then close the socket with SO_LINGER 0 (a reset)
and check slapd is still running. Exit status 1 when slapd died, 0 when it survived every try.
"""

from __future__ import annotations

import argparse
import random
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ldap3 import SIMPLE, Connection, Server

from connectors import ldap_wire as wire
from devservers.processes import free_port

BASE = "dc=example,dc=com"
ADMIN = f"cn=admin,{BASE}"
PEOPLE = f"ou=people,{BASE}"
PASSWORD = "probe-secret"


def config_ldif(db_dir: Path) -> str:
    """The smallest cn=config slapd 2.5 and 2.6 both accept: back-mdb with the core schema."""
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE}
olcRootDN: {ADMIN}
olcRootPW: {PASSWORD}
olcDbDirectory: {db_dir}
olcDbMaxSize: 1073741824
"""


BASE_LDIF = f"""dn: {BASE}
objectClass: dcObject
objectClass: organization
o: example
dc: example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people
"""


def _bound(port: int) -> Connection:
    return Connection(Server(f"ldap://127.0.0.1:{port}"), user=ADMIN, password=PASSWORD, authentication=SIMPLE,
                      auto_bind=True, check_names=False)


def reset_during_commit(port: int, attempt: int, writes: int, rng: random.Random) -> None:
    connection = _bound(port)
    _, identifier = wire.extended(connection, wire.TRANSACTION_START)
    assert identifier is not None, "slapd offers no LDAP transactions"
    control = wire.transaction_control(identifier)
    # Sent back to back, answers never read (the reset comes first): slapd is still busy with them
    # when the commit arrives, which is what makes the crash come within a few tries.
    send = wire._send  # noqa: SLF001
    for n in range(writes):
        dn = f"cn=probe-{attempt}-{n}-{rng.randrange(1 << 30)},{PEOPLE}"
        send(connection, wire.add_request(dn, ["person"], {"cn": dn.split(",")[0][3:], "sn": "probe"}), control)
    send(connection, wire.extended_request(wire.TRANSACTION_END, wire.transaction_end(identifier, commit=True)))
    time.sleep(rng.random() * 0.004)
    connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
    connection.socket.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slapd", default="/usr/sbin/slapd", help="command that runs slapd (may be a chroot prefix)")
    parser.add_argument("--slapadd", default="/usr/sbin/slapadd")
    parser.add_argument("--workdir", type=Path, help="config and database here (default: a temp dir); must be visible to slapd")
    parser.add_argument("--tries", type=int, default=100)
    parser.add_argument("--writes", type=int, default=32, help="adds per transaction")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="txn-probe-"))).resolve()
    (workdir / "slapd.d").mkdir(parents=True)
    (workdir / "db").mkdir()
    (workdir / "config.ldif").write_text(config_ldif(workdir / "db"), encoding="utf-8")
    (workdir / "base.ldif").write_text(BASE_LDIF, encoding="utf-8")
    slapadd = shlex.split(args.slapadd)
    subprocess.run([*slapadd, "-n0", "-F", str(workdir / "slapd.d"), "-l", str(workdir / "config.ldif")], check=True)
    subprocess.run([*slapadd, "-q", "-F", str(workdir / "slapd.d"), "-b", BASE, "-l", str(workdir / "base.ldif")], check=True)
    version = subprocess.run([*shlex.split(args.slapd), "-VV"], capture_output=True, text=True).stderr.splitlines()[:1]
    port = free_port()
    log = open(workdir / "slapd.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([*shlex.split(args.slapd), "-F", str(workdir / "slapd.d"), "-h", f"ldap://127.0.0.1:{port}/",
                               "-d", "0"], stdout=log, stderr=subprocess.STDOUT)
    rng = random.Random(args.seed)
    try:
        for _ in range(100):  # ready in ~25 ms
            try:
                _bound(port).unbind()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        print(f"{' '.join(version).strip() or args.slapd}: {args.tries} tries of {args.writes} adds, reset during the commit")
        for attempt in range(1, args.tries + 1):
            reset_during_commit(port, attempt, args.writes, rng)
            time.sleep(0.02)
            if server.poll() is not None:
                print(f"slapd died at try {attempt} (exit status {server.returncode}; "
                      f"{'signal ' + str(-server.returncode) if server.returncode < 0 else 'no signal'})")
                return 1
        print(f"slapd survived {args.tries} tries")
        return 0
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(10)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
