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

from pyasn1.codec.ber import decoder, encoder
from pyasn1_modules import rfc2251

from connectors.ldap.client import TRANSACTION_END, TRANSACTION_SPECIFICATION, TRANSACTION_START, transaction_end_value
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


# The probe speaks LDAP on a bare socket (messages encoded with pyasn1-modules' RFC 2251 schema): it
# must send the writes and the commit without reading their answers, then reset the connection.


def _message(message_id: int, kind: str, operation: object, control: tuple[str, bool, bytes] | None = None) -> bytes:
    message = rfc2251.LDAPMessage()
    message["messageID"] = message_id
    message["protocolOp"][kind] = operation
    if control is not None:
        entry = message["controls"].getComponentByPosition(0)
        entry["controlType"], entry["criticality"], entry["controlValue"] = control
    return bytes(encoder.encode(message))


def _receive(sock: socket.socket) -> rfc2251.LDAPMessage:
    """The next whole LDAPMessage from the server."""
    data = b""
    while True:
        if len(data) >= 2:
            header = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
            size = data[1] if data[1] < 0x80 else int.from_bytes(data[2:header], "big")
            if len(data) >= header + size:
                message, _ = decoder.decode(data[: header + size], asn1Spec=rfc2251.LDAPMessage())
                return message
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("slapd closed the connection")
        data += chunk


def _bound(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    bind = rfc2251.BindRequest()
    bind["version"], bind["name"] = 3, ADMIN
    bind["authentication"]["simple"] = PASSWORD
    sock.sendall(_message(1, "bindRequest", bind))
    if int(_receive(sock)["protocolOp"]["bindResponse"]["resultCode"]) != 0:
        raise ConnectionError("bind refused")
    return sock


def _extended(name: str, value: bytes | None = None) -> rfc2251.ExtendedRequest:
    request = rfc2251.ExtendedRequest()
    request["requestName"] = name
    if value is not None:
        request["requestValue"] = value
    return request


def _add(dn: str) -> rfc2251.AddRequest:
    request = rfc2251.AddRequest()
    request["entry"] = dn
    for position, (name, value) in enumerate((("objectClass", b"person"), ("cn", dn.split(",")[0][3:].encode()), ("sn", b"probe"))):
        attribute = request["attributes"].getComponentByPosition(position)
        attribute["type"] = name
        attribute["vals"].setComponentByPosition(0, value)
    return request


def reset_during_commit(port: int, attempt: int, writes: int, rng: random.Random) -> None:
    sock = _bound(port)
    sock.sendall(_message(2, "extendedReq", _extended(TRANSACTION_START)))
    started = _receive(sock)["protocolOp"]["extendedResp"]
    assert int(started["resultCode"]) == 0, "slapd offers no LDAP transactions"
    identifier = bytes(started["response"]) if started["response"].isValue else b""
    # Sent back to back, answers never read (the reset comes first): slapd is still busy with them
    # when the commit arrives, which is what makes the crash come within a few tries.
    for n in range(writes):
        dn = f"cn=probe-{attempt}-{n}-{rng.randrange(1 << 30)},{PEOPLE}"
        sock.sendall(_message(3 + n, "addRequest", _add(dn), (TRANSACTION_SPECIFICATION, True, identifier)))
    sock.sendall(_message(3 + writes, "extendedReq", _extended(TRANSACTION_END, transaction_end_value(identifier, commit=True))))
    time.sleep(rng.random() * 0.004)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
    sock.close()


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
    version = subprocess.run([*shlex.split(args.slapd), "-VV"], check=False, capture_output=True, text=True).stderr.splitlines()[:1]
    port = free_port()
    log = open(workdir / "slapd.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([*shlex.split(args.slapd), "-F", str(workdir / "slapd.d"), "-h", f"ldap://127.0.0.1:{port}/",
                               "-d", "0"], stdout=log, stderr=subprocess.STDOUT)
    rng = random.Random(args.seed)
    try:
        for _ in range(100):  # ready in ~25 ms
            try:
                _bound(port).close()
                break
            except Exception:
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
