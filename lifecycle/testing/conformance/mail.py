"""The `MailBackend` contract: what the engine relies on from a mail server's administration API.

Besides the port, a subclass says where mail to an address goes (`resolves`: the recipients the
server's alias map gives, [] when the mail bounces), so that the contract checks delivery too:
a suspended mailbox that still received mail would pass every other check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.domain.errors import AlreadyExistsError, RecordError
from lifecycle.domain.mail import Mailbox, MailCapability
from lifecycle.domain.ports import MailBackend

Resolver = Callable[[str], list[str]]


def found(mail: MailBackend, address: str) -> Mailbox:
    box = mail.find_mailbox(address)
    assert box is not None, f"no mailbox {address}"
    return box


class MailBackendContract:
    """The contract; a subclass provides `mail` (empty) and `resolves`, and may override `domains`."""

    @pytest.fixture
    def domains(self) -> tuple[str, str]:
        """Two domains the contract may create: a company's and a branch's."""
        return ("example.com", "sz.example.com")

    @pytest.fixture
    def mail(self) -> Iterator[MailBackend]:
        raise NotImplementedError("a MailBackendContract subclass provides the `mail` fixture")

    @pytest.fixture
    def resolves(self) -> Resolver:
        raise NotImplementedError("a MailBackendContract subclass provides `resolves`: where mail to an address goes")

    @pytest.fixture
    def backend(self, mail: MailBackend, domains: tuple[str, str]) -> MailBackend:
        """`mail` with the contract's domains created."""
        mail.ensure_domains(list(domains))
        return mail

    # -- the port itself -----------------------------------------------------------------------------

    def test_it_is_a_mail_backend_that_declares_its_capabilities(self, mail: MailBackend) -> None:
        assert isinstance(mail, MailBackend)
        capabilities = mail.capabilities()
        assert isinstance(capabilities, frozenset) and all(isinstance(c, MailCapability) for c in capabilities)
        assert mail.check() == []

    def test_domains_are_created_once_and_only_existing_ones_are_reported(
        self, mail: MailBackend, domains: tuple[str, str]
    ) -> None:
        first, second = domains
        assert mail.ensure_domains([first]) == [first]
        assert mail.ensure_domains([first.upper(), second]) == [second]
        assert mail.ensure_domains([first, second]) == []
        snapshot = mail.read_snapshot([second, first, "absent.example.org"])
        assert snapshot.domains == tuple(sorted(domains))
        assert len(snapshot.mailboxes) == 0 and snapshot.aliases == ()

    # -- mailboxes ---------------------------------------------------------------------------------------

    def test_a_created_mailbox_reads_back_and_receives_mail(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        address = f"wangfang@{domains[0]}"
        made = backend.create_mailbox(f"WangFang@{domains[0].upper()}", "王芳", 50)
        assert (made.address, made.display_name, made.quota_mb, made.is_active) == (address, "王芳", 50, True)
        box = found(backend, address.upper())
        assert (box.address, box.display_name, box.quota_mb, box.is_active) == (address, "王芳", 50, True)
        assert (box.forward_to, box.forward_keeps_copy, box.last_login) == ((), False, None)
        snapshot = backend.read_snapshot(list(domains))
        assert list(snapshot.mailboxes) == [box] and snapshot.aliases == ()
        assert resolves(address) == [address]

    def test_a_mailbox_at_a_taken_address_is_already_exists(self, backend: MailBackend, domains: tuple[str, str]) -> None:
        address = f"lina@{domains[0]}"
        backend.create_mailbox(address, "李娜", 10)
        with pytest.raises(AlreadyExistsError):
            backend.create_mailbox(address, "李娜", 10)
        with pytest.raises(AlreadyExistsError):
            backend.create_mailbox(address.upper(), "李娜", 10)

    def test_a_mailbox_in_a_domain_that_does_not_exist_is_a_record_error(self, mail: MailBackend) -> None:
        with pytest.raises(RecordError) as raised:
            mail.create_mailbox("lina@absent.example.org", "李娜", 10)
        assert not isinstance(raised.value, AlreadyExistsError)

    def test_writes_to_a_mailbox_that_is_not_there_are_record_errors(
        self, backend: MailBackend, domains: tuple[str, str]
    ) -> None:
        missing = f"nobody@{domains[0]}"
        writes: tuple[Callable[[], object], ...] = (
            lambda: backend.update_mailbox(missing, display_name="x"),
            lambda: backend.suspend(missing),
            lambda: backend.restore(missing),
            lambda: backend.set_forward(missing, [f"boss@{domains[0]}"]),
        )
        for write in writes:
            with pytest.raises(RecordError):
                write()

    def test_display_name_and_quota_are_updated(self, backend: MailBackend, domains: tuple[str, str]) -> None:
        address = f"lina@{domains[0]}"
        backend.create_mailbox(address, "李娜", 10)
        backend.update_mailbox(address, display_name="李娜 (财务部)")
        backend.update_mailbox(address, quota_mb=20)
        backend.update_mailbox(address)
        box = found(backend, address)
        assert (box.display_name, box.quota_mb) == ("李娜 (财务部)", 20)

    def test_a_suspended_mailbox_bounces_mail_until_it_is_restored(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        address, peer = f"leaver@{domains[0]}", f"peer@{domains[0]}"
        backend.create_mailbox(address, "Leaver", 10)
        backend.create_mailbox(peer, "Peer", 10)
        backend.create_alias(f"sales@{domains[0]}", [address])
        backend.create_alias(f"team@{domains[0]}", [address, peer])
        backend.suspend(address)
        backend.suspend(address)
        assert found(backend, address).is_active is False
        sales = backend.find_alias(f"sales@{domains[0]}")
        assert sales is not None and not sales.is_active
        if MailCapability.SUSPEND_KEEPS_DELIVERY not in backend.capabilities():
            assert resolves(address) == [] and resolves(f"sales@{domains[0]}") == []
        backend.restore(address)
        box = found(backend, address)
        assert box.is_active and (box.forward_to, box.forward_keeps_copy) == ((), False)
        snapshot = backend.read_snapshot(list(domains))
        assert [(a.address, a.recipients, a.is_active) for a in snapshot.aliases] == [
            (f"sales@{domains[0]}", (address,), True), (f"team@{domains[0]}", tuple(sorted([address, peer])), True)]
        assert resolves(address) == [address] and resolves(f"sales@{domains[0]}") == [address]
        backend.restore(address)  # again: nothing changes
        assert backend.read_snapshot(list(domains)) == snapshot
        backend.suspend(address)  # and a second suspension bounces again
        assert resolves(address) == [] or MailCapability.SUSPEND_KEEPS_DELIVERY in backend.capabilities()
        backend.restore(address)
        assert resolves(address) == [address]

    # -- forwards ------------------------------------------------------------------------------------------

    def test_a_forward_keeps_a_copy_while_active_and_goes_on_without_it_while_suspended(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        address, manager = f"fwd@{domains[0]}", f"manager@{domains[0]}"
        backend.create_mailbox(address, "Forwarded", 10)
        backend.create_mailbox(manager, "Manager", 10)
        backend.set_forward(address, ["Boss@Elsewhere.org", manager])
        box = found(backend, address)
        assert (box.forward_to, box.forward_keeps_copy) == (("boss@elsewhere.org", manager), True)
        assert resolves(address) == sorted([address, "boss@elsewhere.org", manager])
        assert backend.read_snapshot(list(domains)).aliases == ()  # a forward is not an alias
        backend.set_forward(address, [manager])  # replaces
        assert found(backend, address).forward_to == (manager,)
        backend.suspend(address)
        box = found(backend, address)
        assert (box.forward_to, box.forward_keeps_copy) == ((manager,), False)
        assert resolves(address) == [manager]
        backend.restore(address)
        assert resolves(address) == sorted([address, manager])
        backend.clear_forward(address)
        box = found(backend, address)
        assert (box.forward_to, box.forward_keeps_copy) == ((), False)
        assert resolves(address) == [address]
        backend.clear_forward(address)  # again: nothing to do
        with pytest.raises(RecordError):
            backend.set_forward(address, [address])

    def test_a_suspended_mailbox_s_forward_without_a_copy_is_cleared_away(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        address, manager = f"leaver@{domains[0]}", f"manager@{domains[0]}"
        backend.create_mailbox(address, "Leaver", 10)
        backend.create_mailbox(manager, "Manager", 10)
        backend.suspend(address)
        backend.set_forward(address, [manager], keep_copy=False)
        box = found(backend, address)
        assert (box.is_active, box.forward_to, box.forward_keeps_copy) == (False, (manager,), False)
        assert resolves(address) == [manager]
        backend.clear_forward(address)
        assert found(backend, address).forward_to == () and resolves(address) == []

    # -- aliases ---------------------------------------------------------------------------------------------

    def test_an_alias_is_managed_until_someone_else_s_recipients_are_there(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        gone, manager = f"gone@{domains[0]}", f"manager@{domains[0]}"
        backend.create_mailbox(manager, "Manager", 10)
        expires = datetime.now(UTC) + timedelta(days=180)
        backend.create_alias(gone.upper(), [manager.upper()], expires=expires)
        alias = backend.find_alias(gone)
        assert alias is not None and (alias.address, alias.recipients, alias.is_active, alias.managed) == (
            gone, (manager,), True, True)
        assert alias.expires is not None and abs((alias.expires - expires).total_seconds()) < 1
        assert backend.read_snapshot(list(domains)).aliases == (alias,)
        assert resolves(gone) == [manager]
        with pytest.raises(AlreadyExistsError):
            backend.create_alias(gone, [f"someone@{domains[0]}"])
        backend.create_alias(gone, [manager])  # the same recipients: it stays, now without an expiry
        alias = backend.find_alias(gone)
        assert alias is not None and alias.managed and alias.expires is None
        with pytest.raises(RecordError):
            backend.create_alias(manager, [gone])  # a mailbox's address: set_forward is the way
        assert backend.find_alias(f"nothing@{domains[0]}") is None

    def test_a_recipient_in_a_domain_of_this_server_is_a_mailbox_or_an_alias_there(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        address, nobody, desk = f"lina@{domains[0]}", f"nobody@{domains[0]}", f"desk@{domains[1]}"
        backend.create_mailbox(address, "李娜", 10)
        writes: tuple[Callable[[], object], ...] = (
            lambda: backend.set_forward(address, [nobody]), lambda: backend.create_alias(desk, [nobody]))
        for write in writes:
            with pytest.raises(RecordError) as raised:
                write()
            assert not isinstance(raised.value, AlreadyExistsError)
        assert found(backend, address).forward_to == () and backend.find_alias(desk) is None
        backend.create_alias(desk, [address, "someone@elsewhere.org"])  # another server's address: anything goes
        backend.set_forward(address, [desk])  # an alias of this server is a recipient too
        assert resolves(address) == sorted([address, desk])

    def test_an_expired_alias_delivers_nothing(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        old, manager = f"old@{domains[0]}", f"manager@{domains[0]}"
        backend.create_mailbox(manager, "Manager", 10)
        backend.create_alias(old, [manager], expires=datetime.now(UTC) - timedelta(days=1))
        alias = backend.find_alias(old)
        assert alias is not None and not alias.is_active and alias.expires is not None
        assert resolves(old) == []

    def test_an_alias_is_deleted_only_as_the_plan_saw_it(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        gone, manager, other = f"gone@{domains[0]}", f"manager@{domains[0]}", f"other@{domains[0]}"
        backend.create_mailbox(manager, "Manager", 10)
        backend.create_mailbox(other, "Other", 10)
        backend.create_alias(gone, [manager])
        with pytest.raises(RecordError):
            backend.delete_alias(gone, [other])  # not what the plan expected: left alone
        assert backend.find_alias(gone) is not None
        backend.delete_alias(gone.upper(), [manager.upper()])
        assert backend.find_alias(gone) is None and resolves(gone) == []
        backend.delete_alias(gone)  # absent: fine
        backend.create_alias(gone, [manager])
        backend.delete_alias(gone)  # without recipients: whatever is there
        assert backend.find_alias(gone) is None
        backend.set_forward(manager, [other])
        with pytest.raises(RecordError):
            backend.delete_alias(manager)  # a mailbox's forward: clear_forward is the way

    def test_an_alias_at_an_address_becomes_the_forward_of_a_mailbox_created_there(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        address, manager = f"back@{domains[0]}", f"manager@{domains[0]}"
        backend.create_mailbox(manager, "Manager", 10)
        backend.create_alias(address, [manager])
        backend.create_mailbox(address, "Back", 10)
        assert found(backend, address).forward_to == (manager,)
        assert backend.read_snapshot(list(domains)).aliases == ()
        backend.clear_forward(address)
        assert found(backend, address).forward_to == () and resolves(address) == [address]

    # -- renames and deletes ---------------------------------------------------------------------------------

    def test_a_rename_moves_the_mailbox_with_its_forward_and_leaves_other_aliases_pointing_at_it(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        home, away, boss = f"r@{domains[0]}", f"r@{domains[1]}", f"boss@{domains[0]}"
        backend.create_mailbox(boss, "Boss", 10)
        backend.create_mailbox(home, "R", 10)
        backend.create_alias(f"desk@{domains[0]}", [home])
        backend.set_forward(home, [boss])
        backend.rename_mailbox(home.upper(), away)
        assert backend.find_mailbox(home) is None
        box = found(backend, away)
        assert (box.display_name, box.forward_to, box.forward_keeps_copy) == ("R", (boss,), True)
        snapshot = backend.read_snapshot(list(domains))
        assert snapshot.alias(home) is None
        assert [(a.address, a.recipients) for a in snapshot.aliases] == [(f"desk@{domains[0]}", (away,))]
        assert resolves(home) == [] and resolves(f"desk@{domains[0]}") == [away]
        backend.rename_mailbox(home, away)  # again (an interrupted run): nothing moves
        assert backend.read_snapshot(list(domains)) == snapshot

    def test_a_rename_onto_an_alias_takes_it_over_without_its_expiry(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        home, away = f"v@{domains[0]}", f"v@{domains[1]}"
        backend.create_mailbox(home, "V", 10)
        backend.rename_mailbox(home, away)
        backend.create_alias(home, [away], expires=datetime.now(UTC) + timedelta(days=180))
        assert resolves(home) == [away]
        backend.rename_mailbox(away, home)  # back, onto the transfer alias
        backend.restore(home)
        box = found(backend, home)
        assert box.is_active and box.forward_to == ()
        assert backend.find_alias(away) is None and resolves(home) == [home]
        assert backend.read_snapshot(list(domains)).aliases == ()

    def test_a_deleted_mailbox_takes_its_forward_along_and_leaves_the_lists_it_was_on(
        self, backend: MailBackend, resolves: Resolver, domains: tuple[str, str]
    ) -> None:
        address, stays = f"gone@{domains[0]}", f"stays@{domains[0]}"
        backend.create_mailbox(address, "Gone", 10)
        backend.create_mailbox(stays, "Stays", 10)
        backend.set_forward(address, [stays])
        backend.create_alias(f"shared@{domains[0]}", [address, stays])
        backend.delete_mailbox(address.upper())
        assert backend.find_mailbox(address) is None
        snapshot = backend.read_snapshot(list(domains))
        assert [m.address for m in snapshot.mailboxes] == [stays]
        assert [(a.address, a.recipients) for a in snapshot.aliases] == [(f"shared@{domains[0]}", (stays,))]
        assert resolves(address) == []
        backend.delete_mailbox(address)  # gone already: fine
        backend.create_mailbox(address, "Gone", 10)  # and the address can be used again
        assert found(backend, address).forward_to == () and resolves(address) == [address]
