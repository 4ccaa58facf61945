"""Name the likely joiners' pinyin before the big inputs are read, then let pypinyin go.

pypinyin's dictionaries take ~50 MB once imported.  A cycle names only its
joiners, but it names them while HR, the directory snapshot and the stored
state of everyone are in memory: at 100k people that made pypinyin the
difference between a cycle with joiners and one without.  The readings depend
on the name alone and are cached (`policies.naming`), so the shell reads them
right after the HR file and the state, with little else in memory, and then
drops pypinyin's modules.  A name not foreseen here (an override removed, a
rehire after deletion the state did not show) is read as before: pypinyin is
imported again.  An initial load names nearly everyone: its names are read
ahead too (given names repeat: 100k people have ~6,500 distinct ones), unless
the readings outgrow the caches, and then pypinyin simply stays.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable

from lifecycle.domain.models import HrRecord, HrSnapshot, HrStatus, PersonStatus, StoredState
from lifecycle.domain.settings import Settings
from policies.naming import name_parts, readings_cache_full



def likely_joiners(hr: HrSnapshot, state: StoredState, settings: Settings) -> list[HrRecord]:
    """HR people with no account on record (none yet, or deleted) and no naming override."""
    have_account = {p.employee_id for p in state.persons if p.status != PersonStatus.DELETED}
    overrides = settings.naming.overrides
    return [
        r for r in hr.records
        if r.status != HrStatus.TERMINATED and r.employee_id not in have_account and r.employee_id not in overrides
    ]


def read_ahead(records: Iterable[HrRecord], settings: Settings) -> int:
    """Read these people's names now (into `policies.naming`'s caches) and unload pypinyin.

    Returns how many names were read.  pypinyin stays when a cache filled up
    (a reading may have been evicted: it would be imported again at once).
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
