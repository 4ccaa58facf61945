"""`lifecycle forward`: mail to a person goes to another address, as a superior required (seed, article 12).

(Skeleton: filled in by the forwarding work of issue 18.)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from lifecycle.domain.settings import Settings


def add_forward_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    return None


FORWARD_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {}
