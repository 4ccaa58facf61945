"""Every speed and memory trick of a cycle, in one place; `lifecycle.engine.cycle` alone calls them.

The rest of the code (policies, connectors, the journal) is written plainly; the cycle wraps
its big steps in these.  Each trick is safe to drop: without it a cycle does the same, only
slower or with a higher peak.  What each one saves is measured in bench/README.md ("Tuning").

- `gc_paused`: the cyclic garbage collector is paused while a step builds big, acyclic data
  (HR's records, the directory snapshot, the stored state, the plan).  Each burst of
  allocations would trigger collections that walk every live object and find nothing to free;
  reference counting frees these structures as usual.
- `trim_heap`: the freed pages of a big, short-lived parse (the mailbox listing's JSON) go
  back to the OS before the next input is read on top of them.
- `read_names_ahead`: the likely joiners' pinyin is read into `policies.naming`'s caches right
  after HR and the stored state, while little else is in memory, and pypinyin's dictionaries
  are then unloaded (dropped from `sys.modules`).  A cycle names only its joiners, but names
  them while everything is in memory.  A name not foreseen here (an override removed, a rehire
  after a deletion the state did not show) is read as before: pypinyin is imported again.  An
  initial load names nearly everyone, and given names repeat, so its names are read ahead too,
  unless the readings outgrow the caches: then pypinyin simply stays.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from lifecycle.domain.models import HrRecord, HrSnapshot, HrStatus, PersonStatus, StoredState
from lifecycle.domain.settings import Settings
from policies.naming import name_parts, readings_cache_full

__all__ = ["forget_pypinyin", "gc_paused", "likely_joiners", "read_names_ahead", "trim_heap"]


# -- the cyclic collector ----------------------------------------------------------------


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block; nested and re-entrant safe.

    The collector is re-enabled on the way out only if it was enabled on the way in, so an
    outer pause (or a caller that disabled it on purpose) is kept.
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- the heap ------------------------------------------------------------------------------


def trim_heap() -> bool:
    """Return the heap's free pages to the OS (glibc's `malloc_trim(0)`).

    True when glibc was asked; False where malloc_trim is unavailable (another libc), a no-op.
    """
    release = _malloc_trim()
    if release is None:
        return False
    release(0)
    return True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # Looked up among the symbols the process has loaded (libc's among them), not with
    # ctypes.util.find_library, which runs ldconfig: a fork of the process at its biggest.
    try:
        release = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    release.argtypes = [ctypes.c_size_t]
    release.restype = ctypes.c_int
    return release


# -- pinyin read ahead ---------------------------------------------------------------------


def likely_joiners(hr: HrSnapshot, state: StoredState, settings: Settings) -> list[HrRecord]:
    """HR people with no account on record (none yet, or deleted) and no naming override."""
    have_account = {p.employee_id for p in state.persons if p.status != PersonStatus.DELETED}
    overrides = settings.naming.overrides
    return [
        r for r in hr.records
        if r.status != HrStatus.TERMINATED and r.employee_id not in have_account and r.employee_id not in overrides
    ]


def read_names_ahead(records: Iterable[HrRecord], settings: Settings) -> int:
    """Read these people's names now (into `policies.naming`'s caches) and unload pypinyin.

    Returns how many distinct names were read.  pypinyin stays when a cache filled up (a
    reading may have been evicted: it would be imported again at once).
    """
    names = {(r.name, r.family_name) for r in records}
    for name, family_name in names:
        name_parts(name, family_name, settings.naming.u_umlaut)  # a problem is cached just the same
    if names and not readings_cache_full():
        forget_pypinyin()
    return len(names)


def forget_pypinyin() -> None:
    """Drop pypinyin's modules so its dictionaries can be freed (it is imported again if needed)."""
    loaded = [name for name in sys.modules if name == "pypinyin" or name.startswith("pypinyin.")]
    if not loaded:
        return
    for name in loaded:
        del sys.modules[name]
    gc.collect()  # modules and their functions refer to each other: only the cyclic collector frees them
