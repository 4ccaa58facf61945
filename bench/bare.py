"""The I/O a cycle cannot avoid, measured on the bench's own servers with plain clients.

- `bare_io`: the snapshot's search read by plain ldap3 (the ratio's denominator) and the HR
  file parsed by `csv.reader`; for context the same search read by the other clients
  (`client_reads`) and by OpenLDAP's `ldapsearch`.
- `client_writes`: adds, modifies and deletes, one at a time on one connection, by each client.
- `bare_writes`: the initial load's floor, the generator's LDIF added by `ldapadd` processes.
"""

from __future__ import annotations

import csv
import io
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRATCH_OU = "bench-writes"


def usage() -> tuple[float, float]:
    """(wall clock, CPU of this process) now."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), ru.ru_utime + ru.ru_stime


def _timed(run: Callable[[], int]) -> dict[str, float]:
    w0, c0 = usage()
    count = run()
    w1, c1 = usage()
    return {"wall_s": round(w1 - w0, 3), "cpu_s": round(c1 - c0, 3), "entries": count}


# -- reads ------------------------------------------------------------------------------


def _ldap3_connection(settings: Any) -> Any:
    from ldap3 import SIMPLE, Connection, Server

    d = settings.directory
    return Connection(Server(d.url), user=d.bind_dn, password=d.bind_password.get_secret_value(),
                      authentication=SIMPLE, auto_bind=True, check_names=False)


def _python_ldap_connection(settings: Any) -> Any:
    import ldap

    d = settings.directory
    connection = ldap.initialize(d.url)
    connection.protocol_version = 3
    connection.set_option(ldap.OPT_REFERRALS, 0)
    connection.simple_bind_s(d.bind_dn, d.bind_password.get_secret_value())
    return connection


def read_with_ldap3(settings: Any, search_filter: str, attributes: tuple[str, ...]) -> int:
    """ldap3's own paged search, entries as its generator gives them (dicts of decoded values)."""
    from ldap3 import SUBTREE

    d = settings.directory
    connection = _ldap3_connection(settings)
    entries = 0
    for _ in connection.extend.standard.paged_search(d.base_dn, search_filter, search_scope=SUBTREE,
                                                     attributes=list(attributes), paged_size=d.page_size, generator=True):
        entries += 1
    connection.unbind()
    return entries


def read_with_python_ldap(settings: Any, search_filter: str, attributes: tuple[str, ...]) -> int:
    """python-ldap (OpenLDAP's libldap), one page at a time, each entry taken as it arrives:
    (DN, {attribute: [raw values]}), the shape the connector builds its entries from."""
    import ldap
    from ldap.controls import SimplePagedResultsControl

    d = settings.directory
    connection = _python_ldap_connection(settings)
    paging = SimplePagedResultsControl(True, size=d.page_size, cookie=b"")
    entries = 0
    while True:
        message = connection.search_ext(d.base_dn, ldap.SCOPE_SUBTREE, search_filter, list(attributes), serverctrls=[paging])
        while True:
            kind, data, _, controls = connection.result3(message, all=0)
            if kind == ldap.RES_SEARCH_RESULT:
                break
            entries += len(data)
        paging.cookie = next((c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType), b"")
        if not paging.cookie:
            break
    connection.unbind_s()
    return entries


def client_reads(settings: Any, search_filter: str, attributes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """The snapshot's search by each client, entries decoded into (DN, {attribute: values}) and dropped."""
    return {"python-ldap": _timed(lambda: read_with_python_ldap(settings, search_filter, attributes))}


def ldapsearch_seconds(settings: Any, search_filter: str, attributes: tuple[str, ...]) -> float:
    """OpenLDAP's C client, output thrown away."""
    d = settings.directory
    # ldapsearch -y sends the file's bytes as they are: a copy without the final newline.
    raw_secret = Path(d.bind_password_file).with_suffix(".raw")
    raw_secret.write_text(d.bind_password.get_secret_value(), encoding="utf-8")
    raw_secret.chmod(0o600)
    started = time.perf_counter()
    subprocess.run(["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", d.url, "-D", d.bind_dn, "-y", str(raw_secret),
                    "-b", d.base_dn, "-E", f"pr={d.page_size}/noprompt", search_filter, *attributes],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def bare_io(settings: Any) -> dict:
    """The I/O a cycle cannot avoid: the snapshot's search with plain ldap3, and parsing the HR CSV.

    For context (not the ratio's denominator): the same search by the other clients and by `ldapsearch`.
    """
    from connectors.ldap import SNAPSHOT_ATTRIBUTES, SNAPSHOT_FILTER

    w0, c0 = usage()
    entries = read_with_ldap3(settings, SNAPSHOT_FILTER, SNAPSHOT_ATTRIBUTES)
    w1, c1 = usage()
    data = Path(settings.hr.path).read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    w2, c2 = usage()
    others = client_reads(settings, SNAPSHOT_FILTER, SNAPSHOT_ATTRIBUTES)
    return {"ldap_wall_s": w1 - w0, "ldap_cpu_s": c1 - c0, "ldap_entries": entries, "hr_wall_s": w2 - w1,
            "hr_cpu_s": c2 - c1, "hr_rows": len(rows) - 1, "wall_s": w2 - w0, "cpu_s": c2 - c0,
            "client_reads": others, "ldapsearch_s": ldapsearch_seconds(settings, SNAPSHOT_FILTER, SNAPSHOT_ATTRIBUTES)}


# -- writes -------------------------------------------------------------------------------


def _scratch_entries(base_dn: str, client: str, count: int) -> list[tuple[str, dict[str, list[bytes]]]]:
    """`count` people under ou=bench-writes, shaped like the generator's (uids no one else holds)."""
    entries = []
    for n in range(count):
        uid = f"bench-{client}-{n}"
        entries.append((f"uid={uid},ou={SCRATCH_OU},{base_dn}", {
            "objectClass": [b"top", b"person", b"organizationalPerson", b"inetOrgPerson"],
            "uid": [uid.encode()], "cn": [f"测试 {n}".encode()], "sn": ["测试".encode()],
            "givenName": [str(n).encode()], "displayName": [f"测试 {n}".encode()],
            "mail": [f"{uid}@example.com".encode()], "employeeNumber": [f"B{n}".encode()],
            "departmentNumber": ["研发部".encode()], "title": ["工程师".encode()],
        }))
    return entries


Writes = tuple[Callable[[str, dict[str, list[bytes]]], None], Callable[[str, dict[str, list[bytes]]], None],
               Callable[[str, dict[str, list[bytes]]], None], Callable[[], Any]]
"""(add, modify, delete, close) of one client: each write takes (DN, the entry's attributes)."""


def _writes_ldap3(settings: Any) -> Writes:
    from ldap3 import MODIFY_REPLACE

    connection = _ldap3_connection(settings)

    def add(dn: str, attributes: dict[str, list[bytes]]) -> None:
        assert connection.add(dn, attributes=attributes), connection.result

    def modify(dn: str, attributes: dict[str, list[bytes]]) -> None:
        assert connection.modify(dn, {"title": [(MODIFY_REPLACE, ["经理".encode()])]}), connection.result

    def delete(dn: str, attributes: dict[str, list[bytes]]) -> None:
        assert connection.delete(dn), connection.result

    return add, modify, delete, connection.unbind


def _writes_python_ldap(settings: Any) -> Writes:
    import ldap

    connection = _python_ldap_connection(settings)

    def add(dn: str, attributes: dict[str, list[bytes]]) -> None:
        connection.add_ext_s(dn, list(attributes.items()))

    def modify(dn: str, attributes: dict[str, list[bytes]]) -> None:
        connection.modify_ext_s(dn, [(ldap.MOD_REPLACE, "title", ["经理".encode()])])

    def delete(dn: str, attributes: dict[str, list[bytes]]) -> None:
        connection.delete_ext_s(dn)

    return add, modify, delete, connection.unbind_s


WRITE_CLIENTS: dict[str, Callable] = {"ldap3": _writes_ldap3, "python-ldap": _writes_python_ldap}


def client_writes(settings: Any, count: int) -> dict[str, dict[str, float]]:
    """`count` adds, then as many modifies, then as many deletes, one at a time on one connection, by each
    client, under a scratch OU that is removed afterwards (the directory ends as it was)."""
    import ldap

    base_dn = settings.directory.base_dn
    scratch = f"ou={SCRATCH_OU},{base_dn}"
    admin = _python_ldap_connection(settings)
    admin.add_ext_s(scratch, [("objectClass", [b"top", b"organizationalUnit"]), ("ou", [SCRATCH_OU.encode()])])
    results: dict[str, dict[str, float]] = {}
    try:
        for client, make in WRITE_CLIENTS.items():
            entries = _scratch_entries(base_dn, client.replace("-", ""), count)
            add, modify, delete, close = make(settings)
            measured: dict[str, float] = {"writes": 3 * count}
            for operation, write in (("add", add), ("modify", modify), ("delete", delete)):
                w0, c0 = usage()
                for dn, attributes in entries:
                    write(dn, attributes)
                w1, c1 = usage()
                measured[f"{operation}_wall_s"] = round(w1 - w0, 3)
                measured[f"{operation}_cpu_s"] = round(c1 - c0, 3)
            measured["wall_s"] = round(sum(measured[f"{op}_wall_s"] for op in ("add", "modify", "delete")), 3)
            measured["cpu_s"] = round(sum(measured[f"{op}_cpu_s"] for op in ("add", "modify", "delete")), 3)
            close()
            results[client] = measured
    finally:
        try:
            admin.delete_ext_s(scratch)
        except ldap.NOT_ALLOWED_ON_NONLEAF:
            pass  # a client failed half-way: its entries stay for the throwaway slapd to take with it
        admin.unbind_s()
    return results


def bare_writes(slapd: Any, home: Path, ldif: Path, connections: int, slapd_cpu: Callable[[int], float]) -> dict:
    """The writes an initial load cannot avoid, done by OpenLDAP's C client: the generator's LDIF
    (the entries D creates) added to an empty slapd by `connections` `ldapadd` processes at once,
    one add at a time each as the daemon's write connections do, the people first and then the
    groups with their members. D's LDAP side against this is the engine's share of the load."""
    records = [r for r in ldif.read_text(encoding="utf-8").split("\n\n") if r.strip()]
    people = [r for r in records if "\nobjectClass: inetOrgPerson" in r]
    groups = [r for r in records if "\nobjectClass: inetOrgPerson" not in r]
    home.mkdir()
    secret = home / "secret"  # ldapadd -y sends the file's bytes as they are
    secret.write_text(slapd.admin_password, encoding="utf-8")
    secret.chmod(0o600)
    parts = []
    for n in range(connections):
        part = home / f"people-{n}.ldif"
        part.write_text("\n\n".join(people[n::connections]) + "\n", encoding="utf-8")
        parts.append(part)
    (home / "groups.ldif").write_text("\n\n".join(groups) + "\n", encoding="utf-8")
    command = ["ldapadd", "-x", "-H", slapd.url, "-D", slapd.admin_dn, "-y", str(secret), "-f"]
    pid = slapd._process.pid
    cpu0 = slapd_cpu(pid)
    t = time.perf_counter()
    errors = [home / f"{part.stem}.err" for part in [*parts, home / "groups.ldif"]]  # files: a full pipe would block ldapadd
    running = []
    for part, error in zip(parts, errors, strict=False):
        with open(error, "wb") as handle:
            running.append(subprocess.Popen([*command, str(part)], stdout=subprocess.DEVNULL, stderr=handle))
    failed = [error.read_text(errors="replace")[-300:] for process, error in zip(running, errors, strict=False) if process.wait()]
    t_people = time.perf_counter()
    if groups and not failed:
        with open(errors[-1], "wb") as handle:
            if subprocess.run([*command, str(home / "groups.ldif")], check=False, stdout=subprocess.DEVNULL,
                              stderr=handle).returncode:
                failed.append(errors[-1].read_text(errors="replace")[-300:])
    t_end = time.perf_counter()
    return {"wall_s": t_end - t, "people_s": t_people - t, "groups_s": t_end - t_people, "writes": len(records),
            "connections": connections, "slapd_cpu_s": slapd_cpu(pid) - cpu0, "failed": failed}
