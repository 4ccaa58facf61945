"""What admins decided outside HR, applied to one person's intent: a suspension until lifted.

(Skeleton: filled in by the interventions work of issue 18.)
"""

from __future__ import annotations

from policies.context import PolicyContext
from policies.intent import Intent
from policies.join import PersonView


def intervene(view: PersonView, intent: Intent, ctx: PolicyContext) -> None:
    """Apply the person's standing interventions (ctx.interventions) to the intent decided from HR."""
    return None
