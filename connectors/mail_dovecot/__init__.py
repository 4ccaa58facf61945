"""The Dovecot companion: kick sessions, export and verify mailboxes, set auto-replies, over doveadm's HTTP API.

- companion.py: DovecotCompanion, what the engine calls;
- archive.py: the export (dsync) and its verification by Dovecot;
- autoreply.py: the sieve vacation script;
- doveadm.py: the API itself, one command per request, and its error mapping.

Pacing, retries and the mapping of HTTP errors are connectors/http.py's, shared with the Modoboa driver.
"""

from connectors.mail_dovecot.archive import ARCHIVES_PER_MAILBOX, ArchiveNotVerified, count_maildir
from connectors.mail_dovecot.autoreply import AUTOREPLY_SCRIPT, autoreply_script
from connectors.mail_dovecot.companion import DovecotCompanion, companion_capabilities
from connectors.mail_dovecot.doveadm import DoveadmError
from lifecycle.domain.settings import DovecotSettings

__all__ = (
    "ARCHIVES_PER_MAILBOX",
    "AUTOREPLY_SCRIPT",
    "ArchiveNotVerified",
    "DoveadmError",
    "DovecotCompanion",
    "DovecotSettings",
    "autoreply_script",
    "companion_capabilities",
    "count_maildir",
)
