"""The directory's write lanes: where a batch's directory writes run.

With several write connections (`DirectoryFeatures.write_connections`), each
lane is a thread writing through a connection of its own (`Directory.writer`);
every action on one entry goes through the same lane, so they keep their plan
order.  With one, the writes run inline in the calling thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from types import TracebackType

from lifecycle.domain.ports import Directory, DirectoryFeatures

Job = Callable[[], None]


class WriteLanes:
    """Used as a context manager for one `apply`: the threads and their connections end with it.

    `defers_references`: moves and deletes do not wait for the directory's reference rewrites
    (refint) one by one; the executor waits once for many (lifecycle.engine.reference_waits).
    """

    def __init__(self, directory: Directory, features: DirectoryFeatures) -> None:
        self.count = max(1, features.write_connections)
        self.defers_references = features.reference_waits
        self._directory = directory
        self._stack = contextlib.ExitStack()
        self._queues: list[queue.SimpleQueue[Job | None]] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> WriteLanes:
        if self.count == 1:  # inline: the same requests as one action at a time
            self._stack.enter_context(self._directory.writer(defer_references=self.defers_references))
            return self
        for number in range(self.count):
            jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
            context = contextvars.copy_context()  # structlog's bound run_id
            thread = threading.Thread(target=context.run, args=(self._serve, jobs), name=f"ldap-lane-{number}", daemon=True)
            thread.start()
            self._queues.append(jobs)
            self._threads.append(thread)
        return self

    def _serve(self, jobs: queue.SimpleQueue[Job | None]) -> None:
        with self._directory.writer(defer_references=self.defers_references):
            while (job := jobs.get()) is not None:
                job()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for jobs in self._queues:
            jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        self._stack.close()

    def lane_of(self, entry_key: str) -> int:
        """The lane that writes the entry with this comparison key (lifecycle.domain.dn.dn_key)."""
        if self.count == 1:
            return 0
        return zlib.crc32(entry_key.encode("utf-8")) % self.count

    def run(self, work: Sequence[Job]) -> None:
        """Run each callable (one per lane) on its lane; wait for all of them."""
        if not self._threads:
            for job in work:
                job()
            return
        futures: list[Future[None]] = []
        for number, job in enumerate(work):
            future: Future[None] = Future()

            def wrapped(job: Job = job, future: Future[None] = future) -> None:
                try:
                    job()
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(None)

            self._queues[number].put(wrapped)
            futures.append(future)
        for future in futures:
            future.result()
