"""The one way feedsvc opens its SQLite files (the publish history, the stats)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """Autocommit (transactions are explicit), shared across threads, WAL so that readers
    never wait for the writer and several server workers can write one file safely."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    # A commit reaches the file at once, the disk at the next checkpoint: a killed process
    # loses nothing it committed; only a power cut could take the last commits with it.
    db.execute("PRAGMA synchronous=NORMAL")
    return db
