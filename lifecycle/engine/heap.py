"""Give the heap's free pages back to the OS after a big, short-lived parse.

The mailbox listing at 100k people is tens of MB of JSON, parsed and dropped domain by
domain; glibc keeps the freed pages of the larger objects in its heap, where the resident
set still counts them while HR and the directory are read on top.  `malloc_trim(0)`
returns every free page (glibc 2.8+); elsewhere it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util


def trim() -> bool:
    """True when glibc released something (or could have), False where malloc_trim is unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        release = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    release.argtypes = [ctypes.c_size_t]
    release(0)
    return True
