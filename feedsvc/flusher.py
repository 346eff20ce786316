"""Work the request path hands off: request threads append tuples to a deque (thread-safe, no
lock, nothing formatted), and a background thread does the work about once a second and once
more when the process ends. The access log and the stats are two of these."""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque

log = logging.getLogger("feedsvc")
FLUSH_INTERVAL = 1.0  # seconds: what a `kill -9` can lose


class Flusher:
    """Subclasses say what `flush()` does with `self._pending`; `max_pending` bounds what waits
    when the work cannot keep up (the oldest go), so it never takes the server's memory."""

    name = "feedsvc-flusher"

    def __init__(self, max_pending: int):
        self._pending: deque = deque(maxlen=max_pending)

    def start(self):
        """Start flushing in this process (a forked server worker calls it for itself)."""
        self._pending.clear()  # a fork's copy of the parent's queue is the parent's to do
        threading.Thread(target=self._run, name=self.name, daemon=True).start()
        # The last second is done when the process ends: atexit for a plain process,
        # multiprocessing's finalizers for a server worker (it ends with _exit).
        atexit.register(self.flush)
        from multiprocessing import util
        util.Finalize(self, self.flush, exitpriority=10)
        return self

    def _run(self) -> None:
        wait = threading.Event().wait
        while True:
            wait(FLUSH_INTERVAL)
            try:
                self.flush()
            except Exception:  # a bug here must not end the work
                log.exception("%s: flushing failed", self.name)

    def flush(self) -> None:
        raise NotImplementedError
