"""Public fakes of the ports, for people writing policies, integrations and tests.

Like httpx's MockTransport or kopf's testing module: they ship with the product, import only
lifecycle.domain, and behave as the real connectors do where the engine relies on it.  The same
conformance suite (lifecycle.testing.conformance, which needs pytest) runs against each fake and
its real connector, so a test that passes on a fake means what it would on the real server.

- InMemoryDirectory: the `Directory` port, as OpenLDAP with refint (lifecycle.testing.directory);
- InMemoryMailBackend: the `MailBackend` port, as Modoboa 2.12 (lifecycle.testing.mail);
- InMemoryHrSource: the `HrSource` port (lifecycle.testing.hr).
"""

from lifecycle.testing.directory import InMemoryDirectory, StoredEntry
from lifecycle.testing.hr import InMemoryHrSource
from lifecycle.testing.mail import MODOBOA_CAPABILITIES, AliasRow, InMemoryMailBackend, MailAccount

__all__ = [
    "MODOBOA_CAPABILITIES",
    "AliasRow",
    "InMemoryDirectory",
    "InMemoryHrSource",
    "InMemoryMailBackend",
    "MailAccount",
    "StoredEntry",
]
