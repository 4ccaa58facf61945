"""Typed action parameters and their plain form: saved plans and journal rows keep their shape.

Every kind's plain form below is the JSON a plan of this version writes (and the journal's
`params` column holds): it must read back into the kind's typed parameters and come out
again key for key, in the same order, so plans saved and state databases written before
the parameters were typed still load.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lifecycle.domain.action_params import (
    AccountParams,
    AddressParams,
    AliasParams,
    AttributeUpdateParams,
    AutoReplyParams,
    ForwardParams,
    GroupDeletionParams,
    HrWriteBackParams,
    MailboxRenameParams,
    MailboxUpdateParams,
    MemberParams,
    MoveParams,
    NewAccountParams,
    NewEntryAttributes,
    NewGroupParams,
    NewMailboxParams,
    PasswordResetParams,
    StateParams,
    WarningParams,
)
from lifecycle.domain.errors import StalePlanError
from lifecycle.domain.models import Action, ActionKind, Held, Plan, params_from_dict
from lifecycle.engine.cycle import check_saved_plan
from lifecycle.engine.render import plan_json

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WHEN = NOW.isoformat()
HQ = "ou=hq,ou=people,dc=example,dc=com"
LINA = f"uid=lina,{HQ}"
GROUP = "cn=HQ-财务部,ou=groups,dc=example,dc=com"
ADDRESS = "lina@example.com"
BOSS = "boss@example.com"
ATTRIBUTES = {
    "uid": "lina", "cn": "李娜", "sn": "李", "givenName": "娜", "displayName": "李娜 (Lina)", "mail": ADDRESS,
    "employeeNumber": "1", "departmentNumber": "财务部", "title": "", "manager": f"uid=boss,{HQ}",
}

# Each kind's parameters as plans and journal rows carry them, and the class they read into.
PLAIN: dict[ActionKind, tuple[dict, type]] = {
    ActionKind.CREATE_ACCOUNT: ({"dn": LINA, "attributes": ATTRIBUTES, "created_at": WHEN, "state": {
        "uid": "lina", "company": "HQ", "status": "active", "created_at": WHEN, "suspended_at": None,
        "suspension_rule": None, "deleted_at": None, "warned_at": None, "absent_since": None}}, NewAccountParams),
    ActionKind.ADOPT_ACCOUNT: ({"dn": LINA, "state": {
        "uid": "lina", "company": "HQ", "status": "active", "created_at": WHEN, "suspended_at": None, "suspension_rule": None,
        "deleted_at": None, "warned_at": None, "match_confirmed": True}}, AccountParams),
    ActionKind.UPDATE_ACCOUNT: ({"dn": LINA, "attributes": {"title": "经理", "manager": None}}, AttributeUpdateParams),
    ActionKind.MOVE_ACCOUNT: ({"dn": LINA, "new_superior": "ou=sz,ou=people,dc=example,dc=com",
                               "new_dn": "uid=lina,ou=sz,ou=people,dc=example,dc=com", "state": {"company": "SZ"}}, MoveParams),
    ActionKind.SUSPEND_ACCOUNT: ({"dn": LINA, "state": {"status": "suspended", "suspended_at": WHEN,
                                                        "suspension_rule": "leaver"}}, AccountParams),
    ActionKind.RESTORE_ACCOUNT: ({"dn": LINA, "state": {"status": "active", "suspended_at": None, "suspension_rule": None,
                                                        "warned_at": None, "restored_at": WHEN}}, AccountParams),
    ActionKind.DELETE_ACCOUNT: ({"dn": LINA, "state": {"status": "deleted", "deleted_at": WHEN}}, AccountParams),
    ActionKind.WARN_INACTIVE: ({"dn": LINA, "mail": ADDRESS, "state": {"warned_at": WHEN}}, WarningParams),
    ActionKind.CREATE_GROUP: ({"dn": GROUP, "company": "HQ", "department": "财务部", "first_member": LINA,
                               "members": [LINA, f"uid=zhangwei,{HQ}"]}, NewGroupParams),
    ActionKind.ADD_MEMBER: ({"group_dn": GROUP, "member_dn": LINA}, MemberParams),
    ActionKind.REMOVE_MEMBER: ({"group_dn": GROUP, "member_dn": LINA, "early": True}, MemberParams),
    ActionKind.DELETE_GROUP: ({"dn": GROUP, "leaving": ["1", "2"]}, GroupDeletionParams),
    ActionKind.RECORD_STATE: ({"state": {"absent_since": None, "match_confirmed": False}}, StateParams),
    ActionKind.CREATE_MAILBOX: ({"address": ADDRESS, "display_name": "李娜 (Lina)", "quota_mb": 5120, "manager": BOSS},
                                NewMailboxParams),
    ActionKind.UPDATE_MAILBOX: ({"address": ADDRESS, "display_name": "李娜", "quota_mb": 2048}, MailboxUpdateParams),
    ActionKind.RENAME_MAILBOX: ({"address": ADDRESS, "new_address": "lina@sz.example.com"}, MailboxRenameParams),
    ActionKind.SUSPEND_MAILBOX: ({"address": ADDRESS}, AddressParams),
    ActionKind.RESTORE_MAILBOX: ({"address": ADDRESS}, AddressParams),
    ActionKind.FORWARD_MAIL: ({"address": ADDRESS, "recipients": [BOSS], "keep_copy": True}, ForwardParams),
    ActionKind.CLEAR_FORWARD: ({"address": ADDRESS}, AddressParams),
    ActionKind.AUTO_REPLY: ({"address": ADDRESS, "subject": "李娜 has left", "text": f"Please write to {BOSS}."},
                            AutoReplyParams),
    ActionKind.ARCHIVE_MAILBOX: ({"address": ADDRESS}, AddressParams),
    ActionKind.DELETE_MAILBOX: ({"address": ADDRESS}, AddressParams),
    ActionKind.CREATE_ALIAS: ({"address": ADDRESS, "recipients": ["lina@sz.example.com"], "expires": WHEN}, AliasParams),
    ActionKind.DELETE_ALIAS: ({"address": ADDRESS, "recipients": [BOSS]}, AliasParams),
    ActionKind.UPDATE_ALIAS: ({"address": ADDRESS, "recipients": [BOSS, "lina@sz.example.com"]}, AliasParams),
    ActionKind.WRITE_BACK_HR: ({"account": "lina", "email": ADDRESS}, HrWriteBackParams),
    ActionKind.RESET_PASSWORD: ({"dn": LINA, "uid": "lina", "mail": ADDRESS, "state": {"restored_at": WHEN}}, PasswordResetParams),
}

# Optional keys the plain form leaves out: the same kinds without them.
WITHOUT_OPTIONAL: list[tuple[ActionKind, dict]] = [
    (ActionKind.REMOVE_MEMBER, {"group_dn": GROUP, "member_dn": LINA}),
    (ActionKind.UPDATE_MAILBOX, {"address": ADDRESS, "quota_mb": 2048}),
    (ActionKind.UPDATE_MAILBOX, {"address": ADDRESS, "display_name": "李娜"}),
    (ActionKind.CREATE_ALIAS, {"address": ADDRESS, "recipients": [BOSS]}),
    # Older shapes: a create that recorded its state itself, a group naming only its first member.
    (ActionKind.CREATE_ACCOUNT, {"dn": LINA, "attributes": ATTRIBUTES, "state": {"uid": "lina", "status": "active"}}),
    (ActionKind.CREATE_GROUP, {"dn": GROUP, "company": "HQ", "department": "财务部", "first_member": LINA}),
]


def plain_action(kind: ActionKind, params: dict) -> dict:
    changes = {"member": [None, LINA]} if kind is ActionKind.ADD_MEMBER else {}
    if kind is ActionKind.CREATE_ACCOUNT:
        changes = {name: [None, value] for name, value in params["attributes"].items() if value}
    return {"kind": kind.value, "employee_id": "1", "company": "HQ", "target": params.get("dn") or params.get("address")
            or GROUP, "changes": changes, "rule": "test", "reason": f"a {kind.value}", "params": params}


def test_every_kind_has_a_plain_form_here() -> None:
    assert set(PLAIN) == set(ActionKind)


@pytest.mark.parametrize("kind", list(ActionKind), ids=lambda kind: kind.value)
def test_a_kinds_plain_form_reads_into_its_typed_parameters_and_back_unchanged(kind: ActionKind) -> None:
    plain, expected = PLAIN[kind]
    action = Action.from_dict(plain_action(kind, plain))
    assert type(action.params) is expected
    assert type(params_from_dict(kind, plain)) is expected
    written = action.to_dict()
    assert written == plain_action(kind, plain)
    assert list(written["params"]) == list(plain)  # the same keys in the same order: the JSON text is the same
    assert json.dumps(written, ensure_ascii=False) == json.dumps(plain_action(kind, plain), ensure_ascii=False)


@pytest.mark.parametrize("kind, plain", WITHOUT_OPTIONAL, ids=lambda value: getattr(value, "value", ""))
def test_a_plain_form_without_its_optional_keys_comes_back_without_them(kind: ActionKind, plain: dict) -> None:
    action = Action.from_dict(plain_action(kind, plain))
    assert action.all_params() == plain and list(action.all_params()) == list(plain)


def test_a_plan_saved_as_json_reads_back_into_equal_actions_with_typed_parameters() -> None:
    actions = tuple(Action.from_dict(plain_action(kind, PLAIN[kind][0])) for kind in ActionKind)
    plan = Plan(now=NOW, actions=actions[1:], held=(Held(actions[0], "held for the test"),))
    saved = json.loads(plan_json(plan))
    loaded = [Action.from_dict(data) for data in saved["actions"]]
    held = [Action.from_dict({k: v for k, v in data.items() if k not in ("held_reason", "approvable")})
            for data in saved["held"]]
    assert [*held, *loaded] == list(actions)
    for before, after in zip(actions, [*held, *loaded]):
        assert type(after.params) is PLAIN[after.kind][1]
        assert hash(after) == hash(before)
    assert [a.to_dict() for a in loaded] == saved["actions"]


def test_a_create_keeps_neither_its_changes_nor_its_state_yet_shows_both() -> None:
    plain = plain_action(ActionKind.CREATE_ACCOUNT, PLAIN[ActionKind.CREATE_ACCOUNT][0])
    create = Action.from_dict(plain)
    assert isinstance(create.params, NewAccountParams)
    assert create.changes == {} and create.params.state is None  # made from the attributes when asked for
    assert create.params.attributes == NewEntryAttributes.from_dict(ATTRIBUTES)
    assert create.all_changes() == plain["changes"] and create.all_params() == plain["params"]
    # A state other than the one the attributes give is kept as it is.
    other = {**plain, "params": {**plain["params"], "state": {**plain["params"]["state"], "warned_at": WHEN}}}
    assert Action.from_dict(other).to_dict() == other


def test_actions_differing_only_in_their_parameters_are_different_actions_of_one_hash() -> None:
    plain = plain_action(ActionKind.ADD_MEMBER, PLAIN[ActionKind.ADD_MEMBER][0])
    one = Action.from_dict(plain)
    other = Action.from_dict({**plain, "params": {"group_dn": GROUP, "member_dn": f"uid=zhangwei,{HQ}"}})
    assert one != other and hash(one) == hash(other)
    assert one == Action.from_dict(json.loads(json.dumps(plain)))


@pytest.mark.parametrize("kind, plain, error", [
    (ActionKind.ADD_MEMBER, {"group_dn": GROUP}, ValueError),  # missing
    (ActionKind.ADD_MEMBER, {"group_dn": GROUP, "member_dn": LINA, "member": LINA}, ValueError),  # unexpected
    (ActionKind.REMOVE_MEMBER, {"group_dn": GROUP, "member_dn": LINA, "early": False}, ValueError),  # never written
    (ActionKind.SUSPEND_ACCOUNT, {"dn": LINA}, ValueError),  # another kind's shape
    (ActionKind.SUSPEND_MAILBOX, {"dn": LINA}, ValueError),
    (ActionKind.CREATE_MAILBOX, {"address": ADDRESS, "display_name": "x", "quota_mb": "5120", "manager": ""}, TypeError),
    (ActionKind.DELETE_GROUP, {"dn": GROUP, "leaving": "1"}, TypeError),
    (ActionKind.RECORD_STATE, {"state": {"absent_since": 3}}, TypeError),
    (ActionKind.CREATE_ACCOUNT, {"dn": LINA, "attributes": {**ATTRIBUTES, "homeDirectory": "/home/lina"},
                                 "created_at": WHEN}, ValueError),
])
def test_parameters_of_another_shape_are_refused(kind: ActionKind, plain: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        Action.from_dict(plain_action(kind, plain))


def test_a_saved_plan_with_parameters_of_another_shape_is_a_stale_plan() -> None:
    plain = plain_action(ActionKind.ADD_MEMBER, {"group_dn": GROUP, "member_dn": LINA, "member": LINA})
    fresh = Plan(now=NOW, actions=())
    with pytest.raises(StalePlanError, match="run `lifecycle plan` again"):
        check_saved_plan({"config_fingerprint": "", "actions": [plain]}, fresh)
