"""One conformance suite for each port, run against its fake and its real connector alike (needs pytest).

Subclass a contract in a test module named `Test...` and provide its fixture; pytest collects the
inherited tests (the contracts themselves are not named `Test...`, so they are not collected here):

    from lifecycle.testing import InMemoryDirectory
    from lifecycle.testing.conformance import DirectoryContract

    class TestInMemoryDirectory(DirectoryContract):
        @pytest.fixture
        def directory(self):
            yield InMemoryDirectory()

- DirectoryContract: fixture `directory` (empty, with the containers of `layout` present);
  override `layout` for another tree.
- MailBackendContract: fixture `mail` (empty, any domains) and `resolves`; override `domains` for others.
- HrSourceContract: fixture `publish` (records in, the source that reads them out).

They cover what the engine relies on; a connector that passes them can stand behind the engine,
and a fake that passes them behaves, for the engine, as the server does.
"""

from lifecycle.testing.conformance.directory import DirectoryContract, DirectoryLayout
from lifecycle.testing.conformance.hr import HrSourceContract
from lifecycle.testing.conformance.mail import MailBackendContract

__all__ = ["DirectoryContract", "DirectoryLayout", "HrSourceContract", "MailBackendContract"]
