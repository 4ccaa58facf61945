"""The bench's verdicts and its table: what a run must show whatever the machine's speed, and the numbers read off it."""

from __future__ import annotations


def problems(results: dict) -> list[str]:
    """What the scenarios must show whatever the machine's speed (the CI smoke run fails on these, never on time)."""
    found = []
    p = results["phases"]
    for name in ("adopt", "A", "B", "D"):
        r = p.get(name)
        if r and not r.get("ok", False):
            found.append(f"{name}: the cycle did not end ok: {r.get('applied')}")
    if "A" in p and p["A"].get("actions"):
        found.append(f"A: a second full reconciliation planned {p['A']['actions']} (must be nothing)")
    if "B" in p:
        b = p["B"]
        if b["directory_actions"] != _changes_written(b):
            found.append(f"B: {b['directory_actions']} directory actions but {_changes_written(b)} changes written")
        expected = results.get("B_changes") or {}
        if b["directory_actions"] == 0 or not expected:
            found.append("B: the 1% change set produced no directory actions")
    if "C" in p and not p["C"].get("quiet"):
        found.append(f"C: the cycle after an unchanged one was not quiet: {p['C'].get('changed')}")
    if "D" in p:
        d = p["D"]
        created = (d.get("actions") or {}).get("create_account", 0)
        if created != results["data"]["plan_actions"]["create_account"]:
            found.append(f"D: {created} accounts created, the generator expected {results['data']['plan_actions']['create_account']}")
        if d["directory_actions"] != _changes_written(d):
            found.append(f"D: {d['directory_actions']} directory actions but {_changes_written(d)} changes written")
    for failure in (results.get("bare_writes") or {}).get("failed", []):
        found.append(f"bare writes: an ldapadd failed: {failure}")
    return found


def _changes_written(result: dict) -> int:
    return result.get("ldap_changes_written", result["ldap_write_calls"])


def _kinds(counts: dict | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((counts or {}).items()))


def table(results: dict) -> str:
    p, size = results["phases"], results["size"]
    bare = p.get("bare", {})
    bare_wall = bare.get("wall_s")
    mail_load = results.get("mail_load") or {}
    lines = [f"size {size} (seed {results['seed']}), {results['cpus']} CPUs, load {results['load_before'][0]:.2f} before / "
             f"{results['load_after'][0]:.2f} after; slapadd -q {results.get('slapadd_s') or 0:.2f} s"
             + (f"; {mail_load.get('mailboxes', '?')} mailboxes bulk-loaded into Modoboa in {mail_load.get('load_s', 0):.1f} s"
                if results.get("mail") else "; no mail backend")
             + ("; LDAP transactions on" if results.get("transactions") else "; LDAP transactions off (the default)"),
             (f"name collisions: {results['data']['collisions']['share_in_colliding_names']:.1%} of people share their pinyin, "
              f"{results['data']['collisions']['share_numbered']:.1%} get a number"),
             "",
             "| scenario | wall s | CPU s | slapd CPU s | Modoboa CPU s | peak RSS MB | actions | LDAP writes | mail writes | vs bare I/O |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in ("adopt", "A", "B", "C", "D", "bare"):
        r = p.get(name)
        if not r:
            continue
        actions = sum((r.get("actions") or {}).values()) if "actions" in r else ""
        ratio = f"{r['wall_s'] / bare_wall:.2f}x" if bare_wall and name in ("A", "B") else ""
        modoboa = f"{r['modoboa_cpu_s']:.2f}" if "modoboa_cpu_s" in r else ""
        rss = f"{r['peak_rss_mb']:.0f}"
        if r.get("peak_rss_cycle_mb") and round(r["peak_rss_cycle_mb"]) != round(r["peak_rss_mb"]):
            rss = f"{r['peak_rss_cycle_mb']:.0f} ({rss} with extras)"
        lines.append(f"| {name} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r.get('slapd_cpu_s', 0):.2f} | {modoboa} | "
                     f"{rss} | {actions} | {r.get('ldap_write_calls', '')} | {r.get('mail_write_calls', '')} | {ratio} |")
    lines.append("")
    lines.append("Requests by kind (LDAP: one per page of a search; mail: one per HTTP request):")
    for name in ("adopt", "A", "B", "C", "D"):
        r = p.get(name)
        if r:
            lines.append(f"- {name}: LDAP {_kinds(r.get('ldap_requests'))}" + (f"; mail {_kinds(r.get('mail_requests'))}" if r.get("mail_requests") else ""))
    lines.append("")
    for name in ("adopt", "A", "B", "D"):
        r = p.get(name)
        if r:
            lines.append(f"{name} phases (s): {r.get('phases_s')}; actions {r.get('actions')}; daemon extras {r.get('daemon_extras_s', {})}")
    if bare:
        mail = bare.get("mail") or {}
        lines.append(f"bare I/O {bare['wall_s']:.2f} s: ldap3 paged read {bare['ldap_wall_s']:.2f} s ({bare['ldap_entries']} entries), "
                     f"HR csv parse {bare['hr_wall_s']:.2f} s"
                     + (f", mailbox listing {mail['wall_s']:.2f} s ({mail.get('requests')} requests)" if mail else "")
                     + ". For context, the same search by "
                     + ", ".join(f"{client} {r['wall_s']:.2f} s (CPU {r['cpu_s']:.2f} s)" for client, r in bare.get("client_reads", {}).items())
                     + f", OpenLDAP's ldapsearch {bare.get('ldapsearch_s', 0):.2f} s")
        for client, r in bare.get("client_writes", {}).items():
            lines.append(f"bare writes by {client}, one connection: {r['writes']} writes in {r['wall_s']:.2f} s (CPU {r['cpu_s']:.2f} s): "
                         + ", ".join(f"{op} {r[op + '_wall_s']:.2f} s (CPU {r[op + '_cpu_s']:.2f} s)" for op in ("add", "modify", "delete")))
    if "B" in p:
        b = p["B"]
        apply_s = max(b["phases_s"].get("apply", 0), 1e-9)
        lines.append(f"B: changes {results.get('B_changes')}; directory actions {b['directory_actions']} vs changes written "
                     f"{_changes_written(b)} in {b['ldap_write_calls']} LDAP write calls; mail actions {b.get('mail_actions')} vs mail write calls {b.get('mail_write_calls')}; "
                     f"apply {apply_s:.2f} s")
        ldap_apply = b["phases_s"].get("apply_directory")
        if ldap_apply:
            lines.append(f"B: LDAP apply {ldap_apply:.2f} s = {b['ldap_write_calls'] / max(ldap_apply, 1e-9):.0f} writes/s, "
                         f"{_changes_written(b) / max(ldap_apply, 1e-9):.0f} actions/s; seconds in each write call, summed over "
                         f"the connections: {_kinds(b.get('ldap_write_seconds'))}")
    if "C" in p:
        lines.append(f"C: quiet={p['C'].get('quiet')} changed={p['C'].get('changed')} unchanged={p['C'].get('unchanged')}")
    if "D" in p:
        d = p["D"]
        ldap_apply = d["phases_s"].get("apply_directory") or d["phases_s"].get("apply", 0)
        lines.append(f"D: apply (LDAP side) {ldap_apply:.2f} s for {d['ldap_write_calls']} writes "
                     f"= {d['ldap_write_calls'] / max(ldap_apply, 1e-9):.0f} writes/s; seconds in each write call, summed over "
                     f"the connections: {_kinds(d.get('ldap_write_seconds'))}")
        bare_w = results.get("bare_writes")
        if bare_w:
            wall = max(bare_w["wall_s"], 1e-9)
            lines.append(f"bare writes (D's floor on this slapd): {bare_w['connections']} ldapadd processes (OpenLDAP's C "
                         f"client, no transactions) added the same {bare_w['writes']} entries to an empty slapd in "
                         f"{bare_w['wall_s']:.2f} s = {bare_w['writes'] / wall:.0f} writes/s (people {bare_w['people_s']:.2f} s, "
                         f"groups {bare_w['groups_s']:.2f} s; slapd CPU {bare_w['slapd_cpu_s']:.2f} s); "
                         f"D's LDAP side / bare writes = {ldap_apply / wall:.2f}x")
    for problem in results.get("problems", []):
        lines.append(f"PROBLEM: {problem}")
    return "\n".join(lines)
