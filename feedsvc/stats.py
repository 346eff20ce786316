"""Subscriber counts, a side channel of the HTTP layer: who polled which feed, off the
request path.

A feed request only appends a tuple of what it already has to a deque (as the access log
does; not even the time: that costs as much again). About once a second a background thread
folds them into a `statsdb.Tally`: identical requests (a crowd polling the same bytes) are
counted in C, and only the distinct ones are looked at: which aggregator reported what
(`agents.py`), which reader it was, what the response sent and saved. Then one transaction
writes the tally (`statsdb.py`), dated by the flush: a request a second before midnight may
count for the next day, and of two reports of one aggregator less than a second apart on two
workers, either may be taken for the latest. No address outlives the tally: the database
gets a keyed hash under a salt that is deleted daily.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from itertools import repeat, starmap

from . import agents
from .config import Settings
from .flusher import Flusher
from .responses import Document, choose_coding
from .statsdb import Calendar, Database, Tally, stats_path

log = logging.getLogger("feedsvc")
# Requests waiting when the database cannot keep up (a lock held elsewhere for seconds):
# beyond this the oldest go uncounted, so stats never take the server's memory with it.
MAX_PENDING = 200_000
MAX_CARRIED = 100_000  # readers (and reports) held over while the database fails


class Recorder(Flusher):
    """`record(...)` from any request thread for a feed `document` (one with a
    `feed_path`); `flush()` writes what was recorded."""

    name = "feedsvc-stats"

    def __init__(self, settings: Settings, clock=time.time):
        super().__init__(MAX_PENDING)
        self._clock = clock
        self.calendar = Calendar(settings.zone)
        self.database = Database(stats_path(settings), self.calendar, settings.stats_retention)
        self._append = self._pending.append
        self._carried = Tally()  # what a failed flush could not write, for the next one
        self._lock = threading.Lock()  # the thread's flush and the one at exit
        self._failing = ""  # the last error, logged once until a flush succeeds

    def record(self, environ, document: Document, method: str, status: int, sent: int,
               accept: str) -> None:
        """What the request path pays for the stats: one tuple (sent: body bytes sent;
        accept: its Accept-Encoding)."""
        get = environ.get
        self._append((document, method, status, sent, accept, get("REMOTE_ADDR"),
                      get("HTTP_USER_AGENT")))

    def flush(self) -> None:
        with self._lock:
            now = self._clock()
            tally = self._carried.merge(self.tally(self._drain(), now))
            try:
                self.database.write(tally, now)
            except (sqlite3.Error, OSError) as error:  # OSError: its folder cannot be made
                if str(error) != self._failing:
                    log.warning("stats: cannot write %s (%s); counting on in memory",
                                self.database.path, error)
                    self._failing = str(error)
                if len(tally.readers) > MAX_CARRIED:
                    tally.readers.clear()  # the counts stay; who they were is let go
                if len(tally.reports) > MAX_CARRIED:
                    tally.reports.clear()  # a flood of made-up aggregators
                self._carried = tally
                return
            self._carried = Tally()
            if self._failing:
                log.info("stats: writing %s again", self.database.path)
                self._failing = ""

    def _drain(self) -> list[tuple]:
        # As many as there are now, popped one by one in C (requests append meanwhile).
        return list(starmap(self._pending.popleft, repeat((), len(self._pending))))

    def tally(self, batch: list[tuple], now: float) -> Tally:
        """Fold records into counts: in C over all of them, in Python once per distinct
        request. Newest first, so that an aggregator's first report met is its latest."""
        tally, day = Tally(), self.calendar.day(now)
        for request, n in Counter(reversed(batch)).items():
            self._count(tally, request, n, day, now)
        return tally

    def _count(self, tally: Tally, request: tuple, n: int, day, now: float) -> None:
        document, method, status, sent, accept, address, agent = request
        feed = document.feed_path
        counts = tally.traffic.setdefault((day, feed), [0, 0, 0, 0, 0])
        counts[0] += n
        counts[2] += sent * n
        if status == 304:
            counts[1] += n
        if method == "GET":
            if status == 304:  # what the 200 would have sent, in the coding it would have
                counts[4] += n * len(document.encoded(choose_coding(document, accept or "")))
            else:
                counts[3] += n * (len(document.body) - sent)
        poller = agents.identify(agent or "")
        if poller is None:
            tally.readers.add((day, feed, address or "", agent or ""))
        elif poller is not agents.ROBOT:
            tally.reports.setdefault((day, feed, poller.aggregator, poller.feed_id),
                                     (poller.subscribers, now))
