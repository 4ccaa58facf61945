"""Pause the cyclic garbage collector while a cycle builds its big, acyclic data.

Reading 100k HR rows or planning for 100k people allocates millions of tuples,
dataclass instances and dicts that live for the whole cycle.  Each allocation
burst triggers generation-0/1 collections and, every so often, a full one that
walks every live object: a quarter to a third of the time at 100k people, and it
grows faster than the data.  None of these structures forms reference cycles, so
collecting during their construction finds nothing; reference counting frees
them as usual.  Pure (no I/O): policies and connectors may use it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block; nested and re-entrant safe.

    The collector is re-enabled on the way out only if it was enabled on the way
    in, so an outer pause (or a caller that disabled it on purpose) is kept.
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
