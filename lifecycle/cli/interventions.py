"""`lifecycle suspend`, `unsuspend`, `reset-password`: an admin's interventions on one account.

(Skeleton: filled in by the interventions work of issue 18.)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from lifecycle.domain.settings import Settings


def add_intervention_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    return None


INTERVENTION_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {}
