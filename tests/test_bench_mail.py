"""bench/mail.py against the real Modoboa: the bulk loader makes what the API makes; the listing."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import mail as bench_mail
from connectors.mail_modoboa import ModoboaBackend, ModoboaSettings
from connectors.mail_modoboa.api import ModoboaApi
from devservers.modoboa import ModoboaInstance

DOMAIN = "example.com"
PASSWORD = "Initial-Pass-2024"


def table_counts(db_path: Path) -> Counter:
    db = sqlite3.connect(db_path)
    try:
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return Counter({n: db.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names if n != "sqlite_sequence"})
    finally:
        db.close()


def account_rows(db_path: Path, address: str) -> dict[str, Any]:
    """Every row of one account, without its ids, address, timestamps and password hash."""
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    try:
        one = lambda sql, *a: db.execute(sql, a).fetchone()
        many = lambda sql, *a: sorted(tuple(r) for r in db.execute(sql, a).fetchall())
        user = dict(one("SELECT * FROM core_user WHERE username = ?", address))
        box = dict(one("SELECT * FROM admin_mailbox WHERE user_id = ?", user["id"]))
        ct = {(r["app_label"], r["model"]): r["id"] for r in db.execute("SELECT * FROM django_content_type")}
        aliases = [dict(r) for r in db.execute("SELECT * FROM admin_alias WHERE address = ?", (address,))]
        return {
            "user": {k: v for k, v in user.items() if k not in ("id", "username", "email", "date_joined", "password")},
            "username_is_email": user["username"] == user["email"] == address,
            "password_scheme": user["password"].split("}", 1)[0],
            "groups": many("SELECT g.name FROM core_user_groups ug JOIN auth_group g ON g.id = ug.group_id WHERE ug.user_id = ?",
                           user["id"]),
            "mailbox": {k: v for k, v in box.items() if k not in ("id", "user_id", "creation", "last_modification", "address")},
            "local_part": box["address"] == address.split("@")[0],
            "aliases": [{k: v for k, v in a.items() if k not in ("id", "creation", "last_modification", "address")}
                        for a in aliases],
            "recipients": [many("SELECT r_alias_id, r_mailbox_id = ?, address = ? FROM modoboa_admin_aliasrecipient "
                                "WHERE alias_id = ?", box["id"], address, a["id"]) for a in aliases],
            "quota": many("SELECT bytes, messages FROM admin_quota WHERE username = ?", address),
            "access_user": many("SELECT is_owner, user_id FROM core_objectaccess WHERE content_type_id = ? AND object_id = ?",
                                ct[("core", "user")], user["id"]),
            "access_mailbox": many("SELECT is_owner, user_id FROM core_objectaccess WHERE content_type_id = ? AND object_id = ?",
                                   ct[("admin", "mailbox")], box["id"]),
            "limits": many("SELECT name, max_value, content_type_id FROM limits_userobjectlimit WHERE user_id = ?", user["id"]),
            "addressbooks": many("SELECT name, sync_token, last_sync, _path, sync_started FROM modoboa_contacts_addressbook "
                                 "WHERE user_id = ?", user["id"]),
        }
    finally:
        db.close()


def test_a_bulk_loaded_account_is_row_for_row_what_the_api_creates(
    modoboa: ModoboaInstance, mail_backend: ModoboaBackend, mail_settings: ModoboaSettings
) -> None:
    mail_backend.ensure_domains([DOMAIN])
    before = table_counts(modoboa.db_path)
    mail_backend.create_mailbox(f"api@{DOMAIN}", "张三", 2048, PASSWORD)
    by_api = table_counts(modoboa.db_path) - before
    people = [bench_mail.MailPerson(f"bulk@{DOMAIN}", "张三", "研发总监", "100001"),
              bench_mail.MailPerson(f"staff@{DOMAIN}", "李四", "工程师", "100002")]
    middle = table_counts(modoboa.db_path)
    rows = bench_mail.bulk_insert(modoboa.db_path, people[:1], quota_by_title={"研发总监": 2048}, default_quota_mb=1024)
    by_bulk = table_counts(modoboa.db_path) - middle
    # The same tables grow by the same rows, django-reversion's history apart.
    history = {t for t in by_api if t.startswith("reversion_")}
    assert by_bulk == Counter({t: n for t, n in by_api.items() if t not in history})
    assert rows["core_user"] == 1 and rows["skipped_existing"] == 0
    assert account_rows(modoboa.db_path, f"bulk@{DOMAIN}") == account_rows(modoboa.db_path, f"api@{DOMAIN}")

    # Valid through the API: listed with the right fields, found, changed, suspended; a second load adds nothing.
    assert bench_mail.bulk_insert(modoboa.db_path, people, quota_by_title={}, default_quota_mb=1024)["skipped_existing"] == 1
    snapshot = mail_backend.read_snapshot([DOMAIN])
    got = {m.address: (m.display_name, m.quota_mb, m.is_active, m.forward_to) for m in snapshot.mailboxes}
    assert got == {f"api@{DOMAIN}": ("张三", 2048, True, ()), f"bulk@{DOMAIN}": ("张三", 2048, True, ()),
                   f"staff@{DOMAIN}": ("李四", 1024, True, ())}
    assert snapshot.aliases == ()
    mail_backend.update_mailbox(f"bulk@{DOMAIN}", display_name="张三丰", quota_mb=4096)
    mail_backend.suspend(f"staff@{DOMAIN}")
    mail_backend.set_forward(f"staff@{DOMAIN}", [f"api@{DOMAIN}"])
    found = mail_backend.find_mailbox(f"bulk@{DOMAIN}")
    assert found is not None and (found.display_name, found.quota_mb) == ("张三丰", 4096)
    staff = mail_backend.find_mailbox(f"staff@{DOMAIN}")
    assert staff is not None and not staff.is_active and staff.forward_to == (f"api@{DOMAIN}",)
    mail_backend.delete_mailbox(f"bulk@{DOMAIN}")
    assert mail_backend.find_mailbox(f"bulk@{DOMAIN}") is None


def test_load_config_counters_and_listings_on_generated_people(
    modoboa: ModoboaInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.generate import COMPANIES, config_text, generate
    from lifecycle.domain.settings import load_settings

    generate(150, 6, tmp_path / "data")
    config = tmp_path / "config.toml"
    (tmp_path / "ldap-password").write_text("unused\n")
    config.write_text(config_text(url="ldap://127.0.0.1:1", bind_dn="cn=admin,dc=example,dc=com",
                                  password_file=tmp_path / "ldap-password", hr_path=tmp_path / "data" / "employees.csv",
                                  state_url=f"sqlite:///{tmp_path}/state.db", credentials=tmp_path / "credentials"))
    bench_mail.write_mail_config(config, modoboa, tmp_path)
    settings = load_settings(config)
    assert settings.mail is not None and settings.mail.url == modoboa.url
    assert settings.mail.token is not None and settings.mail.token.get_secret_value() == modoboa.token
    assert settings.mail.max_writes_per_second == bench_mail.BENCH_PACING["max_writes_per_second"]
    assert settings.mail.quota_by_title == bench_mail.bench_quota_by_title()

    loaded = bench_mail.load_mailboxes(modoboa, tmp_path / "data" / "directory.ldif", settings)
    people = bench_mail.people_from_ldif(tmp_path / "data" / "directory.ldif")
    assert loaded["mailboxes"] == len(people) > 100 and loaded["domains_created"] == len(COMPANIES)
    assert {p.address.split("@")[1] for p in people} == {c[2] for c in COMPANIES}

    monkeypatch.setattr(ModoboaApi, "_send", ModoboaApi._send)  # undone after the test
    for name in bench_mail.MAIL_METHODS:
        monkeypatch.setattr(ModoboaBackend, name, getattr(ModoboaBackend, name))
    calls: Counter = Counter()
    phases: dict[str, float] = {}
    requests = bench_mail.install_mail_counters(phases=phases, calls=calls)
    domains = [c.domain for c in settings.companies]
    check = bench_mail.verify_listing(settings.mail, people, domains)
    assert check["ok"], check
    assert check["listed"] == len(people)
    assert calls == Counter({"read_snapshot": 1})
    assert requests == Counter({"GET domains": 1, "GET accounts": 12, "GET v1 accounts": 12, "GET aliases": 12})
    assert phases["read_mail"] > 0

    bare = bench_mail.bare_mail_listing(settings)
    assert (bare["accounts"], bare["aliases"], bare["requests"]) == (len(people), 0, 37)
    paged = bench_mail.bare_listing(settings.mail.model_copy(update={"page_size": 7}), domains, v1_accounts=False)
    assert paged["accounts"] == len(people) and paged["requests"] > 37

    # Without v1 (a later Modoboa), the driver pages through v2 and lists the same.
    class NoV1(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.startswith("/api/v1/"):
                return httpx.Response(404, json={"detail": "Not found."}, request=request)
            return super().handle_request(request)

    requests.clear()
    small_pages = settings.mail.model_copy(update={"page_size": 7})
    with ModoboaBackend(small_pages, transport=NoV1()) as backend, ModoboaBackend(settings.mail) as direct:
        assert backend.read_snapshot(domains) == direct.read_snapshot(domains)
        backend.read_snapshot(domains[:1])
    assert requests["GET v1 accounts"] == 1 + 12  # the v1-less backend asked once, then never again
    assert requests["GET accounts"] > 12 + 12 + 12
