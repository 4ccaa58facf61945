"""The MailBackend contract (lifecycle.testing.conformance) against the shipped fake and the Modoboa connector on a
real Modoboa 2.12 (tests/mail_fixtures.py), where delivery is what Postfix's alias map resolves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.mail_modoboa import CAPABILITIES, ModoboaBackend
from devservers.modoboa import ModoboaInstance
from lifecycle.testing import MODOBOA_CAPABILITIES, InMemoryMailBackend
from lifecycle.testing.conformance import MailBackendContract
from lifecycle.testing.conformance.mail import Resolver
from tests.test_mail_modoboa import postfix_resolves


def test_the_fake_declares_what_modoboa_offers() -> None:
    assert MODOBOA_CAPABILITIES == CAPABILITIES
    assert InMemoryMailBackend().capabilities() == CAPABILITIES


class TestInMemoryMailBackend(MailBackendContract):
    @pytest.fixture
    def mail(self) -> Iterator[InMemoryMailBackend]:
        yield InMemoryMailBackend()

    @pytest.fixture
    def resolves(self, mail: InMemoryMailBackend) -> Resolver:
        return mail.resolves


class TestModoboaBackend(MailBackendContract):
    @pytest.fixture
    def mail(self, mail_backend: ModoboaBackend) -> Iterator[ModoboaBackend]:
        yield mail_backend

    @pytest.fixture
    def resolves(self, modoboa: ModoboaInstance) -> Resolver:
        return lambda address: postfix_resolves(modoboa.db_path, address)
