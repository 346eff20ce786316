"""When each document's bytes last changed: the `Last-Modified` every poller relies on.

A feed's newest item date is not when the feed changed: a second post dated the same day, a
back-dated post, an edit or a deletion all change the bytes and leave that date alone, and a
poller that sends only `If-Modified-Since` (newsboat, anything on libcurl) would be told 304
and miss the post. So each document remembers the digest of its bytes and the time they first
appeared (the stamp of the snapshot they were built from, never later than now). A different
body gets a later time; the same body keeps its time, across restarts too: the history lives
in SQLite next to the item cache, shared safely by every worker on the folder.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

from . import sqlitedb
from .cache import cache_path
from .config import Settings

log = logging.getLogger("feedsvc")
SCHEMA = """CREATE TABLE IF NOT EXISTS documents (
    key TEXT PRIMARY KEY,    -- which document: kind and parameters, e.g. "feed|atom|None|None"
    tag TEXT NOT NULL,       -- digest of its bytes (the ETag's opaque part)
    modified INTEGER NOT NULL,  -- Unix seconds when these bytes first appeared
    shared INTEGER NOT NULL     -- 1: an earlier, different body had the same second
)"""


class History:
    """`modified(key, tag, stamp)` -> (Last-Modified, whether an earlier body shares it)."""

    def __init__(self, path: Path | None = None):
        self._lock = threading.Lock()
        self._memory: dict[str, tuple[str, int, bool]] = {}
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._pid = None  # the process `_db` was opened in
        self._open()

    def _open(self) -> None:
        # A connection must not cross a fork (SQLite's own rule): a server worker forked
        # from the process that built the app opens its own.
        self._pid, self._db = os.getpid(), None
        if self._path is not None:
            try:
                self._db = _connect(self._path)
            except sqlite3.Error as error:
                # Unsafe only in one way: a restart would date every document at start-up,
                # which is later than the truth, so pollers download once more. Never a miss.
                log.warning("cannot keep document history in %s (%s): it lasts until the "
                            "process ends", self._path, error)
                self._path = None

    def modified(self, key: str, tag: str, stamp: datetime) -> tuple[datetime, bool]:
        seconds = int(stamp.timestamp())
        with self._lock:
            if self._pid != os.getpid():
                self._open()
            if self._db is None:
                return self._record(self._memory.get(key), key, tag, seconds, self._memory)
            try:
                with self._db:  # one transaction: several workers may race on a document
                    self._db.execute("BEGIN IMMEDIATE")
                    row = self._db.execute("SELECT tag, modified, shared FROM documents "
                                           "WHERE key = ?", (key,)).fetchone()
                    return self._record(row, key, tag, seconds, None)
            except sqlite3.Error as error:
                log.warning("document history unavailable (%s): keeping it in memory", error)
                self._db = None
                return self._record(self._memory.get(key), key, tag, seconds, self._memory)

    def _record(self, row, key: str, tag: str, seconds: int,
                memory: dict | None) -> tuple[datetime, bool]:
        if row is not None and row[0] == tag:
            return _utc(row[1]), bool(row[2])
        # New bytes: the snapshot's stamp, and never earlier than the bytes they replace (a
        # clock stepped back, a restart within the second). Equal to it only in those cases,
        # and then flagged, so `If-Modified-Since` of that second is not answered 304.
        modified = seconds if row is None else max(seconds, row[1])
        shared = row is not None and modified == row[1]
        if memory is not None:
            memory[key] = (tag, modified, shared)
        else:
            self._db.execute("INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?)",
                             (key, tag, modified, int(shared)))
        return _utc(modified), shared

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlitedb.connect(path)
    db.execute(SCHEMA)
    return db


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def history_path(settings: Settings) -> Path | None:
    """Beside the item cache, one file per items folder; None when the cache is off."""
    path = cache_path(settings)
    return path.with_suffix(".history.sqlite") if path is not None else None


def document_key(key: tuple) -> str:
    return "|".join(map(str, key))

