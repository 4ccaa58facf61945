"""The Directory contract (lifecycle.testing.conformance) against the shipped fake and the LDAP connector on a real slapd."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.ldap import LdapDirectory
from lifecycle.domain.settings import CompanySettings, DirectorySettings
from lifecycle.testing import InMemoryDirectory
from lifecycle.testing.conformance import DirectoryContract


class TestInMemoryDirectory(DirectoryContract):
    @pytest.fixture
    def directory(self) -> Iterator[InMemoryDirectory]:
        yield InMemoryDirectory()


class TestLdapDirectory(DirectoryContract):
    @pytest.fixture
    def directory(self, directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]) -> Iterator[LdapDirectory]:
        with LdapDirectory(directory_settings, companies) as connector:
            yield connector
