"""Functional mailboxes and lists: declared by the admins, or following HR membership ([lists]).

(Skeleton: filled in by the resources work of issue 18.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lifecycle.domain.mail import MailCapability, MailSnapshot
from lifecycle.domain.models import Action, DirectorySnapshot, Review
from lifecycle.domain.resources import Resources
from policies.context import PolicyContext
from policies.intent import Intent
from policies.join import PersonView


@dataclass
class ResourcePlan:
    actions: list[Action] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)


def reserved_names(resources: Resources) -> frozenset[str]:
    """Local parts no person may be given: the functional addresses and lists (lower-case)."""
    return frozenset()


def plan_resources(
    resources: Resources,
    people: Sequence[PersonView],
    intents: Sequence[Intent],
    address_of: Callable[[PersonView, Intent], str],
    directory: DirectorySnapshot,
    mail: MailSnapshot | None,
    capabilities: frozenset[MailCapability],
    ctx: PolicyContext,
) -> ResourcePlan:
    """The actions that make and keep the resources as declared, and the findings for an admin."""
    return ResourcePlan()
