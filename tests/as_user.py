"""Run a piece of a test as another user: a forked child that gives up root for good."""

from __future__ import annotations

import json
import os
from collections.abc import Callable


def run_as(uid: int, gid: int, work: Callable[[], object]) -> object:
    """work()'s JSON-able answer computed by a child running as uid:gid with no other groups,
    or "<ErrorType>: <message>" when it raised (the test asserts on either)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            try:
                answer = json.dumps(work())
            except Exception as exc:  # shown in the test's failure instead of a silent empty answer
                answer = json.dumps(f"{type(exc).__name__}: {exc}")
            os.write(writer, answer.encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(answer)
