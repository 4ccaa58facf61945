"""The Modoboa mail backend: the MailBackend port for Modoboa 2.12 over its admin API (httpx).

- backend.py: ModoboaBackend, the port's operations, and how it keeps delivery in its own hands;
- snapshot.py: reading every mailbox and alias of the managed domains;
- api.py: the API as verified against a real 2.12, its paths, paged lists and the rows it writes;
- rows.py: the API's JSON rows read into Mailbox and Alias.

Pacing, retries and the mapping of HTTP errors are connectors/http.py's, shared with the Dovecot companion.
"""

from connectors.mail_modoboa.backend import CAPABILITIES, ModoboaBackend, ModoboaSettings

__all__ = ("CAPABILITIES", "ModoboaBackend", "ModoboaSettings")
