"""Waiting for the directory's reference rewrites (slapd's refint) only where a write could be undone.

slapd's refint rewrites references to a moved or deleted DN in the background,
one DN after the other, after the move or delete was answered: on each holder,
one atomic modify deleting the old value and adding the new one, which fails if
the old value is gone by then.  So a write to a holder in the meantime is safe
when it replaces the attribute (a report's new manager), removes the old value
(a mover leaving its old group before the move) or touches other values; it is
undone only when it adds or removes the moved person's own value, e.g. removing
the new DN from the old group before refint has renamed it there.  Only a batch
with such a member change on a holder waits; everything else runs while refint
works, and the run waits once at its end.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from lifecycle.domain.action_params import MemberParams
from lifecycle.domain.dn import dn_key
from lifecycle.domain.errors import ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.models import Action
from lifecycle.domain.ports import Directory
from lifecycle.engine.batching import entry_key
from lifecycle.engine.kinds import MEMBER_KINDS

log = structlog.get_logger(__name__)

ANY_HOLDER = "*"  # in `holders`: who holds references is unknown: any member change naming a moved DN waits


class ReferenceWaits:
    """The moved or deleted DNs of a run whose references may not be rewritten yet, and who holds them."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory
        self.unsettled: list[str] = []
        self.holders: set[str] = set()  # DN keys of the entries holding references to the unsettled
        self.renamed: set[str] = set()  # DN keys of the unsettled, before and after their move

    def note_moved(self, old_dns: Sequence[str], new_dns: Sequence[str]) -> TransientError | ConnectorConfigError | None:
        """Moves and deletes just done (not waited for): one search finds who holds references to them.

        Returns the error that should stop the run, if the search met one.
        """
        self.unsettled.extend(old_dns)
        self.renamed.update(dn_key(dn) for dn in (*old_dns, *new_dns) if dn)
        try:
            self.holders.update(dn_key(holder) for holder in self._directory.reference_holders(old_dns))
        except (TransientError, ConnectorConfigError) as exc:
            return exc
        except RecordError as exc:
            log.warning("references_not_checked", error=str(exc), entries=len(old_dns))
            self.holders.add(ANY_HOLDER)  # not known who holds them: a member change naming them waits
        return None

    def wait_before(self, batch: Sequence[Action]) -> TransientError | ConnectorConfigError | None:
        """Wait for refint before a batch whose writes it could undo; returns the error that stops the run, if any."""
        if not self.unsettled or batch[0].kind not in MEMBER_KINDS:
            return None
        everywhere = ANY_HOLDER in self.holders
        if not any(isinstance(a.params, MemberParams) and dn_key(a.params.member_dn) in self.renamed
                   and (everywhere or entry_key(a) in self.holders) for a in batch):
            return None
        try:
            self._directory.await_references(self.unsettled)
        except (TransientError, ConnectorConfigError) as exc:
            return exc
        except RecordError as exc:
            log.warning("references_not_checked", error=str(exc), entries=len(self.unsettled))
        self.unsettled.clear()
        self.holders.clear()
        self.renamed.clear()
        return None

    def wait_for_all(self) -> None:
        """At the end of a run, so that the next read (the next cycle, an admin's query) sees the settled directory."""
        if not self.unsettled:
            return
        try:
            self._directory.await_references(self.unsettled)
        except (TransientError, ConnectorConfigError, RecordError) as exc:
            log.warning("references_not_checked", error=str(exc), entries=len(self.unsettled))
