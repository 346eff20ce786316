"""The stats database read back: subscribers per feed and day, for `feedsvc stats` (text or
JSON) and the `/stats` page.

A feed's subscribers are the latest count each aggregator reported (per aggregator and feed
id, a report standing `REPORT_DAYS` without a newer one) plus its direct readers. Readers can
only be told apart within a day (the salt changes at midnight; that is the point), so the
figure for now takes the larger of yesterday's and today's so far: a morning is no loss.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from .config import Settings
from .statsdb import REPORT_DAYS, SCHEMA_VERSION, Calendar, schema_version, stats_path, utc


@dataclass(frozen=True)
class AggregatorReport:
    aggregator: str
    feed_id: str  # "" when the aggregator names none
    subscribers: int
    reported: datetime  # the poll that said so


@dataclass(frozen=True)
class Day:
    day: date
    subscribers: int  # aggregated + direct
    direct: int  # distinct direct readers that day
    aggregated: int  # the aggregators' counts standing that day
    requests: int = 0
    not_modified: int = 0
    bytes_sent: int = 0
    saved_by_compression: int = 0
    saved_by_304: int = 0

    @property
    def not_modified_share(self) -> float:
        return self.not_modified / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class FeedStats:
    feed: str  # its path
    subscribers: int
    direct: int
    aggregators: tuple[tuple[str, int], ...]  # (name, subscribers), most first
    reports: tuple[AggregatorReport, ...]  # what makes those up
    days: tuple[Day, ...]  # oldest first, one per day


@dataclass(frozen=True)
class Stats:
    path: Path
    found: bool  # False: no database yet
    today: date
    feeds: tuple[FeedStats, ...]  # most subscribers first

    @property
    def subscribers(self) -> int:
        return sum(feed.subscribers for feed in self.feeds)

    @property
    def direct(self) -> int:
        return sum(feed.direct for feed in self.feeds)

    def totals(self) -> tuple[Day, ...]:
        """Every feed's days added up."""
        if not self.feeds:
            return ()
        return tuple(Day(days[0].day, *(sum(getattr(day, name) for day in days)
                                        for name in Day.__dataclass_fields__ if name != "day"))
                     for days in zip(*(feed.days for feed in self.feeds)))


TRAFFIC = ("requests", "not_modified", "bytes_sent", "saved_by_compression", "saved_by_304")


def read(settings: Settings, days: int, now: float | None = None) -> Stats:
    """The last `days` days; raises sqlite3.Error for a database that cannot be read."""
    path = stats_path(settings)
    today = Calendar(settings.zone).day(time.time() if now is None else now)
    if not path.is_file():
        return Stats(path, False, today, ())
    first = today - timedelta(days=days - 1)
    db = sqlite3.connect(path, timeout=10)
    try:
        db.execute("PRAGMA query_only = 1")
        if schema_version(db) != SCHEMA_VERSION:  # just made, or by a newer feedsvc
            if schema_version(db) == 0:
                return Stats(path, False, today, ())
            raise sqlite3.DatabaseError(f"made by a newer feedsvc (schema "
                                        f"{schema_version(db)})")
        traffic = db.execute(
            f"SELECT day, feed, readers, {', '.join(TRAFFIC)} FROM traffic WHERE day >= ?",
            (min(first, today - timedelta(days=1)).isoformat(),)).fetchall()
        reports = db.execute(
            "SELECT day, feed, aggregator, feed_id, subscribers, seen FROM reports "
            "WHERE day > ? ORDER BY day", ((first - timedelta(days=REPORT_DAYS)).isoformat(),)
        ).fetchall()
    finally:
        db.close()
    by_feed: dict[str, dict] = defaultdict(lambda: {"traffic": {}, "reports": defaultdict(list)})
    for day, feed, *counts in traffic:
        by_feed[feed]["traffic"][date.fromisoformat(day)] = counts
    for day, feed, aggregator, feed_id, subscribers, seen in reports:
        by_feed[feed]["reports"][aggregator, feed_id].append(
            (date.fromisoformat(day), subscribers, seen))
    span = [first + timedelta(days=n) for n in range(days)]
    feeds = [_feed(feed, rows["traffic"], rows["reports"], span, today)
             for feed, rows in by_feed.items()]
    feeds = [feed for feed in feeds if feed.subscribers or any(d.requests for d in feed.days)]
    feeds.sort(key=lambda feed: (-feed.subscribers, feed.feed))
    return Stats(path, True, today, tuple(feeds))


def _standing(slots: dict, day: date) -> dict:
    """(aggregator, feed id) -> (subscribers, seen) of the latest report on or before `day`
    that is less than REPORT_DAYS old then."""
    standing = {}
    for slot, rows in slots.items():
        latest = None
        for reported, subscribers, seen in rows:  # oldest first
            if reported <= day:
                latest = (reported, subscribers, seen)
        if latest is not None and (day - latest[0]).days < REPORT_DAYS:
            standing[slot] = latest[1:]
    return standing


def _feed(feed: str, traffic: dict, slots: dict, span: list[date], today: date) -> FeedStats:
    days = []
    for day in span:
        aggregated = sum(n for n, _ in _standing(slots, day).values())
        readers, *counts = traffic.get(day, (0,) * (len(TRAFFIC) + 1))
        days.append(Day(day, aggregated + readers, readers, aggregated, *counts))
    standing = _standing(slots, today)
    reports = sorted((AggregatorReport(aggregator, feed_id, n, utc(seen))
                      for (aggregator, feed_id), (n, seen) in standing.items()),
                     key=lambda report: (-report.subscribers, report.aggregator,
                                         report.feed_id))
    names: dict[str, int] = defaultdict(int)
    for report in reports:
        names[report.aggregator] += report.subscribers
    aggregators = tuple(sorted(names.items(), key=lambda pair: (-pair[1], pair[0])))
    direct = max(traffic.get(day, (0,))[0] for day in (today, today - timedelta(days=1)))
    return FeedStats(feed, sum(names.values()) + direct, direct, aggregators, tuple(reports),
                     tuple(days))


def as_json(stats: Stats) -> dict:
    return {"feeds": {feed.feed: {
        "subscribers": feed.subscribers, "direct": feed.direct,
        "aggregators": dict(feed.aggregators),
        "reports": [{"aggregator": r.aggregator, "feed_id": r.feed_id,
                     "subscribers": r.subscribers,
                     "reported": r.reported.isoformat().replace("+00:00", "Z")}
                    for r in feed.reports],
        "days": [{"day": day.day.isoformat(), "subscribers": day.subscribers,
                  "direct": day.direct, "aggregated": day.aggregated,
                  **{name: getattr(day, name) for name in TRAFFIC},
                  "not_modified_share": round(day.not_modified_share, 4)}
                 for day in feed.days]} for feed in stats.feeds},
        "subscribers": stats.subscribers, "direct": stats.direct,
        "today": stats.today.isoformat()}


def as_text(stats: Stats) -> str:
    if not stats.found:
        return (f"No stats yet in {stats.path}: `feedsvc serve` records them while the "
                "`stats` setting is on.\n")
    lines = [f"{stats.subscribers} subscribers to {len(stats.feeds)} feed(s) on "
             f"{stats.today} ({stats.direct} direct readers, the rest reported by "
             "aggregators)"]
    for feed in stats.feeds:
        lines += ["", f"{feed.feed}: {feed.subscribers} subscribers = {feed.direct} direct "
                      f"+ {feed.subscribers - feed.direct} from aggregators"]
        for report in feed.reports:
            lines.append(f"  {report.aggregator:<20} {report.subscribers:>9}  "
                         + (f"feed id {report.feed_id}, " if report.feed_id else "")
                         + f"reported {report.reported:%Y-%m-%d %H:%M} UTC")
        lines.append(f"  {'day':<10} {'subscribers':>11} {'direct':>7} {'requests':>9} "
                     f"{'304s':>5} {'sent':>9} {'saved':>9}")
        for day in feed.days:
            lines.append(f"  {day.day.isoformat():<10} {day.subscribers:>11} {day.direct:>7} "
                         f"{day.requests:>9} {day.not_modified_share:>5.0%} "
                         f"{size(day.bytes_sent):>9} "
                         f"{size(day.saved_by_compression + day.saved_by_304):>9}")
    return "\n".join(lines) + "\n"


def size(count: int) -> str:
    value, unit = float(count), "B"
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
