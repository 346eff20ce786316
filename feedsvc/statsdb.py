"""The stats database: what `stats.Recorder` tallies, kept in SQLite, and read back.

One file per items folder (the `stats_db` setting), written by every server worker (WAL, one
transaction per flush, a busy timeout) and read by `feedsvc stats` and the `/stats` page.
Days are the site's `timezone` days. What it holds, and for how long:

- `traffic`: per day and feed, requests, 304s, bytes sent and saved, and how many distinct
  direct readers there were (kept `stats_retention` days).
- `reports`: per day, feed, aggregator and its feed id, the last count it reported that day
  (kept `stats_retention` days).
- `readers`: per day and feed, one keyed hash per reader (feed, address and user agent,
  under the day's salt), only to tell readers apart; deleted with the salt.
- `salts`: the day's random salt, deleted SALT_GRACE after the day ends. Without it a hash
  cannot be tied to an address, not even by trying every address there is.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from . import sqlitedb
from .config import Settings

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS traffic (
    day TEXT NOT NULL,                 -- YYYY-MM-DD, in the site's timezone
    feed TEXT NOT NULL,                -- its path: /feed.atom, /tags/python/feed.rss
    requests INTEGER NOT NULL,
    not_modified INTEGER NOT NULL,     -- answered 304
    bytes_sent INTEGER NOT NULL,       -- response bodies, as sent (compressed or not)
    saved_by_compression INTEGER NOT NULL,  -- uncompressed size - sent, for 200s
    saved_by_304 INTEGER NOT NULL,     -- what each 304 would have sent as a 200
    readers INTEGER NOT NULL DEFAULT 0,     -- distinct direct readers that day
    PRIMARY KEY (day, feed)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reports (
    day TEXT NOT NULL, feed TEXT NOT NULL,
    aggregator TEXT NOT NULL, feed_id TEXT NOT NULL,  -- "" when it names no feed id
    subscribers INTEGER NOT NULL,
    seen REAL NOT NULL,                -- Unix time of the poll: the day's latest wins
    PRIMARY KEY (day, feed, aggregator, feed_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS readers (
    day TEXT NOT NULL, feed TEXT NOT NULL,
    reader BLOB NOT NULL,              -- blake2b(feed, address, user agent; key = salt)
    PRIMARY KEY (day, feed, reader)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS salts (day TEXT PRIMARY KEY, salt BLOB NOT NULL) WITHOUT ROWID;
"""
# A report stays in the count this long without a newer one: an aggregator that has not
# polled for a week has dropped the feed (those taking WebSub pushes still poll daily).
REPORT_DAYS = 7
SALT_GRACE = 600  # seconds after midnight: a flush still pending then counts its readers
PRUNE_INTERVAL = 600  # seconds
READER_HASH_BYTES = 8
# Rows a worker adds in one day, at most: a flood of made-up user agents or addresses fills
# no disk (1,000,000 readers are ~40 MB, gone the next day).
MAX_NEW_READERS = 1_000_000
MAX_NEW_REPORTS = 10_000
# Readers this process has written, per day, so that a reader polling again costs a set
# lookup, not a keyed hash and an INSERT each flush (a crowd of 1,000 readers in turn: a
# third of the work per request, measured). Kept as Python's own hash of what the tally
# holds (keyed at random per process, in memory only, gone with the day).
MAX_KNOWN_READERS = 200_000


class Calendar:
    """Days in the site's zone, and when they start."""

    def __init__(self, zone: ZoneInfo):
        self.zone = zone
        self._span = (0.0, 0.0, date.min)  # the day last asked about: (start, end, day)

    def day(self, when: float) -> date:
        start, end, day = self._span
        if not start <= when < end:
            day = datetime.fromtimestamp(when, self.zone).date()
            self._span = (self.start(day), self.start(day + timedelta(days=1)), day)
        return day

    def start(self, day: date) -> float:
        return datetime.combine(day, time(), self.zone).timestamp()


@dataclass
class Tally:
    """What one flush writes: counts of requests since the last, aggregated in memory."""
    # (day, feed) -> [requests, not_modified, bytes_sent, saved_by_compression, saved_by_304]
    traffic: dict = field(default_factory=dict)
    readers: set = field(default_factory=set)  # (day, feed, address, user agent)
    reports: dict = field(default_factory=dict)  # (day, feed, aggregator, feed_id) -> (n, seen)

    def __bool__(self) -> bool:
        return bool(self.traffic or self.readers or self.reports)

    def merge(self, newer: "Tally") -> "Tally":
        for key, counts in newer.traffic.items():
            mine = self.traffic.setdefault(key, [0] * len(counts))
            for n, value in enumerate(counts):
                mine[n] += value
        self.readers |= newer.readers
        for key, report in newer.reports.items():
            if key not in self.reports or self.reports[key][1] <= report[1]:
                self.reports[key] = report
        return self


class Database:
    """The writing side, one per process: `write(tally, now)` in one transaction."""

    def __init__(self, path: Path, calendar: Calendar, retention_days: int):
        self.path = path
        self.calendar = calendar
        self.retention = retention_days
        self._db: sqlite3.Connection | None = None
        self._pid = None
        self._salts: dict[date, bytes | None] = {}
        self._known: dict[date, set[int]] = {}  # readers in the database, by day
        self._next_prune = 0.0
        self._added = (date.min, Counter())  # (day, rows this process added that day)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():  # never one across a fork
            self._db, self._pid = connect(self.path), os.getpid()
            self._salts, self._known = {}, {}
        return self._db

    def write(self, tally: Tally, now: float) -> None:
        if not tally and now < self._next_prune:
            return
        db = self._connection()
        try:
            with db:
                db.execute("BEGIN IMMEDIATE")  # several workers: one writer at a time
                self._write(db, tally, now)
        except BaseException:
            # Rolled back: a salt made in the transaction is no one's, the readers it wrote
            # are not written, a prune did not happen.
            self._salts, self._known, self._next_prune = {}, {}, 0.0
            raise

    def _write(self, db: sqlite3.Connection, tally: Tally, now: float) -> None:
        for (day, feed), counts in tally.traffic.items():
            db.execute("INSERT INTO traffic VALUES (?, ?, ?, ?, ?, ?, ?, 0) "
                       "ON CONFLICT DO UPDATE SET requests = requests + excluded.requests,"
                       " not_modified = not_modified + excluded.not_modified,"
                       " bytes_sent = bytes_sent + excluded.bytes_sent,"
                       " saved_by_compression = saved_by_compression"
                       " + excluded.saved_by_compression,"
                       " saved_by_304 = saved_by_304 + excluded.saved_by_304",
                       (day.isoformat(), feed, *counts))
        self._write_readers(db, tally.readers, now)
        self._write_reports(db, tally.reports, now)
        if now >= self._next_prune:
            self._prune(db, now)

    def _write_readers(self, db: sqlite3.Connection, readers: set, now: float) -> None:
        new: Counter = Counter()
        for day, feed, address, agent in readers:
            salt = self._salt(db, day, now)
            if salt is None or not self._allow(day, "readers", MAX_NEW_READERS):
                continue  # the day is over and its salt gone: nobody can be told apart
            known, seen = self._known.setdefault(day, set()), hash((feed, address, agent))
            if seen in known:
                continue
            reader = hashlib.blake2b("\0".join((feed, address, agent)).encode(
                "utf-8", "surrogatepass"), key=salt, digest_size=READER_HASH_BYTES).digest()
            added = db.execute("INSERT OR IGNORE INTO readers VALUES (?, ?, ?)",
                               (day.isoformat(), feed, reader)).rowcount
            if len(known) < MAX_KNOWN_READERS:
                known.add(seen)
            new[day, feed] += added
            self._added[1]["readers"] += added
        for (day, feed), added in new.items():
            if added:
                db.execute("UPDATE traffic SET readers = readers + ? WHERE day = ? AND feed = ?",
                           (added, day.isoformat(), feed))

    def _write_reports(self, db: sqlite3.Connection, reports: dict, now: float) -> None:
        for (day, feed, aggregator, feed_id), (subscribers, seen) in reports.items():
            if not self._allow(day, "reports", MAX_NEW_REPORTS):
                exists = db.execute("SELECT 1 FROM reports WHERE day = ? AND feed = ? AND "
                                    "aggregator = ? AND feed_id = ?",
                                    (day.isoformat(), feed, aggregator, feed_id)).fetchone()
                if not exists:
                    continue
            added = db.execute(
                "INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "subscribers = excluded.subscribers, seen = excluded.seen "
                "WHERE excluded.seen >= reports.seen",
                (day.isoformat(), feed, aggregator, feed_id, subscribers, seen)).rowcount
            self._added[1]["reports"] += added

    def _allow(self, day: date, kind: str, limit: int) -> bool:
        if self._added[0] != day:
            self._added = (day, Counter())
        return self._added[1][kind] < limit

    def _salt(self, db: sqlite3.Connection, day: date, now: float) -> bytes | None:
        """The day's salt: made by the first worker that needs it, for today only."""
        if day not in self._salts:
            if day >= self.calendar.day(now):
                db.execute("INSERT OR IGNORE INTO salts VALUES (?, ?)",
                           (day.isoformat(), secrets.token_bytes(32)))
            row = db.execute("SELECT salt FROM salts WHERE day = ?",
                             (day.isoformat(),)).fetchone()
            self._salts[day] = row[0] if row else None
        return self._salts[day]

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        today = self.calendar.day(now)
        since_midnight = now - self.calendar.start(today)
        keep = today if since_midnight >= SALT_GRACE else today - timedelta(days=1)
        db.execute("DELETE FROM salts WHERE day < ?", (keep.isoformat(),))
        db.execute("DELETE FROM readers WHERE day < ?", (keep.isoformat(),))
        self._salts = {day: salt for day, salt in self._salts.items() if day >= keep}
        self._known = {day: known for day, known in self._known.items() if day >= keep}
        cutoff = today - timedelta(days=self.retention - 1)
        db.execute("DELETE FROM traffic WHERE day < ?", (cutoff.isoformat(),))
        # A report is kept as long as it can stand, whatever the retention.
        cutoff = min(cutoff, today - timedelta(days=REPORT_DAYS - 1))
        db.execute("DELETE FROM reports WHERE day < ?", (cutoff.isoformat(),))
        # Again in PRUNE_INTERVAL, and first thing once the day's grace is over.
        tomorrow = self.calendar.start(today + timedelta(days=1))
        grace_over = self.calendar.start(today) + SALT_GRACE
        self._next_prune = min(now + PRUNE_INTERVAL,
                               grace_over if now < grace_over else tomorrow + SALT_GRACE)

    def close(self) -> None:
        if self._db is not None and self._pid == os.getpid():
            self._db.close()
        self._db = None


def connect(path: Path) -> sqlite3.Connection:
    db = sqlitedb.connect(path)
    version = schema_version(db)
    if version not in (0, SCHEMA_VERSION):
        db.close()
        raise sqlite3.DatabaseError(f"{path}: made by a newer feedsvc (schema {version}); "
                                    "upgrade feedsvc, or move the file away")
    if version == 0:  # one transaction: a reader sees no schema, or all of it
        db.executescript(f"BEGIN IMMEDIATE; {SCHEMA}; "
                         f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT")
    return db


def schema_version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def stats_path(settings: Settings) -> Path:
    """The `stats_db` setting, else one file per items folder in the user's data folder
    ($XDG_DATA_HOME or ~/.local/share): these are records, not a cache to throw away."""
    if settings.stats_db:
        return Path(settings.stats_db).expanduser()
    folder = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    items = str(Path(settings.items_dir).resolve())
    return folder / "feedsvc" / (hashlib.sha256(items.encode()).hexdigest()[:16]
                                 + ".stats.sqlite")


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)
