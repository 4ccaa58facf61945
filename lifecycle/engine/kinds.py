"""Which action kinds go where: written over the directory's lanes, sent to the mail server, or only
recorded; and which may share one write or one LDAP transaction."""

from __future__ import annotations

from lifecycle.domain.models import ActionKind

STATE_ONLY = frozenset({ActionKind.ADOPT_ACCOUNT, ActionKind.WARN_INACTIVE, ActionKind.RECORD_STATE})
MAIL_KINDS = frozenset({
    ActionKind.CREATE_MAILBOX, ActionKind.UPDATE_MAILBOX, ActionKind.RENAME_MAILBOX, ActionKind.SUSPEND_MAILBOX,
    ActionKind.RESTORE_MAILBOX, ActionKind.FORWARD_MAIL, ActionKind.CLEAR_FORWARD, ActionKind.AUTO_REPLY,
    ActionKind.ARCHIVE_MAILBOX, ActionKind.DELETE_MAILBOX, ActionKind.CREATE_ALIAS, ActionKind.DELETE_ALIAS,
    ActionKind.UPDATE_ALIAS,
})
# Sent over the directory's write lanes.
LANE_KINDS = frozenset({
    ActionKind.CREATE_ACCOUNT, ActionKind.UPDATE_ACCOUNT, ActionKind.MOVE_ACCOUNT, ActionKind.SUSPEND_ACCOUNT,
    ActionKind.RESTORE_ACCOUNT, ActionKind.DELETE_ACCOUNT, ActionKind.CREATE_GROUP, ActionKind.ADD_MEMBER,
    ActionKind.REMOVE_MEMBER, ActionKind.DELETE_GROUP,
})
GROUP_KINDS = frozenset({ActionKind.ADD_MEMBER, ActionKind.REMOVE_MEMBER, ActionKind.CREATE_GROUP, ActionKind.DELETE_GROUP})
MEMBER_KINDS = frozenset({ActionKind.ADD_MEMBER, ActionKind.REMOVE_MEMBER})
# One write each and no read in between: a lane's share of a batch can go as one LDAP transaction
# (so can a batch's group writes, when each group's member changes go as one write).
TRANSACTION_KINDS = frozenset({ActionKind.CREATE_ACCOUNT, ActionKind.UPDATE_ACCOUNT, ActionKind.SUSPEND_ACCOUNT,
                               ActionKind.RESTORE_ACCOUNT})
# Moves and deletes: the directory then rewrites the references to the old DN (refint), in the background.
RENAMING_KINDS = frozenset({ActionKind.MOVE_ACCOUNT, ActionKind.DELETE_ACCOUNT})
