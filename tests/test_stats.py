"""Subscriber counts: aggregators' reports and direct readers, counted by the real server's
workers into SQLite, read back by `feedsvc stats` and the private /stats page."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from conftest import wait_for
from feedsvc import agents
from feedsvc.cli import main
from feedsvc.config import ConfigError, load_settings
from feedsvc.stats import Recorder
from feedsvc.statsreport import read

TOKEN = "owner-token-0123456789abcdef"
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {} subscribers; )"
INOREADER = "Mozilla/5.0 (compatible; inoreader.com; {} subscribers)"
NEWSBLUR = ("NewsBlur Feed Fetcher - 27 subscribers - https://www.newsblur.com/site/7704055/name"
            " (Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36)")
FEEDBIN = "Feedbin feed-id:{} - {} subscribers"
OLD_READER = ("Mozilla/5.0 (compatible; theoldreader.com; 1 subscribers; "
              "feed-id=cead6c3a837650eeefd8fe4a)")
BAZQUX = "Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 1 subscribers)"
DREAMWIDTH = ("Dreamwidth Studios (webmaster@dreamwidth.org; for "
              "https://www.dreamwidth.org/users/x/; 2 readers)")
UNKNOWN = "SomeAggregator/3.1 (+https://aggregator.example/about; 9 subscribers)"
NEWSBOAT, NETNEWSWIRE = "newsboat/2.30", "NetNewsWire (RSS Reader; https://netnewswire.com/)"
MINIFLUX = "Mozilla/5.0 (compatible; Miniflux/2.0.51; +https://miniflux.app)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize("agent, report", [
    (FEEDLY.format(462), ("Feedly", "", 462)),
    (INOREADER.format(114), ("Inoreader", "", 114)),
    (NEWSBLUR, ("NewsBlur", "7704055", 27)),
    (FEEDBIN.format(1697787, 102), ("Feedbin", "1697787", 102)),
    (OLD_READER, ("The Old Reader", "cead6c3a837650eeefd8fe4a", 1)),
    (BAZQUX, ("BazQux", "", 1)),
    (DREAMWIDTH, ("Dreamwidth", "https://www.dreamwidth.org/users/x/", 2)),
    (UNKNOWN, ("SomeAggregator", "", 9)),
    ("Mozilla/5.0 (compatible; Reader.example; 1 subscriber; feed-id=ab12)",
     ("Reader.example", "ab12", 1)),
    ("\x1b[31mEvil/1 99999999999 subscribers", ("[31mEvil", "", agents.MAX_SUBSCRIBERS)),
    (NEWSBOAT, None), (NETNEWSWIRE, None), (MINIFLUX, None), ("", None),
    (GOOGLEBOT, agents.ROBOT),
])
def test_user_agents_say_who_polls(agent, report):
    found = agents.identify(agent)
    if report is None or report is agents.ROBOT:
        assert found is report
    else:
        assert (found.aggregator, found.feed_id, found.subscribers) == report


def poll(server, path, agent, address="192.0.2.50", **headers):
    """A poll from `address` (the one proxy in front, trusted, says who asked)."""
    status, response, body = server.get(path, {"User-Agent": agent, "X-Forwarded-For": address,
                                               **headers})
    assert status in (200, 304), (path, status)
    return response, body


def feedsvc_stats(env, *args) -> dict:
    result = subprocess.run([sys.executable, "-m", "feedsvc", "stats", "--json", *args],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def counted(settings, path, key="requests"):
    """What the database holds for `path` today (`key` of the day, or a headline figure)."""
    feeds = read(settings, 1).feeds
    feed = next((feed for feed in feeds if feed.feed == path), None)
    if feed is None:
        return 0
    return getattr(feed, key) if key in ("subscribers", "direct") else \
        getattr(feed.days[-1], key)


def test_polls_of_the_real_server_are_counted_exactly(serve, items_dir, tmp_path):
    database = tmp_path / "stats.sqlite"
    env = {"FEEDSVC_TRUST_FORWARDED": "1", "FEEDSVC_STATS_TOKEN": TOKEN,
           "FEEDSVC_STATS_DB": str(database)}
    server = serve(items_dir, "--workers", "2", "--no-access-log", env=env)
    settings = load_settings(items_dir=items_dir, stats_db=str(database))
    sent = sum(len(poll(server, "/feed.atom", FEEDLY.format(462), "198.51.100.7")[1])
               for _ in range(2))
    # Counted once, not twice; its next count comes later (within the same second, on the
    # other worker, either count might be taken for the latest).
    wait_for(lambda: counted(settings, "/feed.atom") == 2, timeout=10)
    assert counted(settings, "/feed.atom", "subscribers") == 462
    for agent in (FEEDLY.format(470), *[INOREADER.format(114)] * 3,
                  NEWSBLUR, FEEDBIN.format(1697787, 102), FEEDBIN.format(1697788, 5),
                  OLD_READER, BAZQUX, DREAMWIDTH, UNKNOWN, GOOGLEBOT):
        sent += len(poll(server, "/feed.atom", agent, "198.51.100.7")[1])
    for address, agent in (("203.0.113.1", NEWSBOAT), ("203.0.113.1", NEWSBOAT),
                           ("203.0.113.1", NETNEWSWIRE), ("203.0.113.2", NEWSBOAT)):
        sent += len(poll(server, "/feed.atom", agent, address)[1])
    response, identity = poll(server, "/feed.atom", MINIFLUX, "203.0.113.3")
    sent += len(identity)
    poll(server, "/feed.atom", MINIFLUX, "203.0.113.3", **{"If-None-Match": response["ETag"]})
    gzipped = poll(server, "/feed.atom", MINIFLUX, "203.0.113.3", **{"Accept-Encoding": "gzip"})[1]
    sent += len(gzipped)
    poll(server, "/feed.rss", FEEDLY.format(16))
    poll(server, "/feed.rss", NEWSBOAT, "203.0.113.1")
    poll(server, "/tags/feeds/feed.json", INOREADER.format(3))

    requests = 13 + 1 + 4 + 3  # aggregators (the robot too), readers, Miniflux
    # Within 10 s of the polls, from both workers.
    wait_for(lambda: counted(settings, "/feed.atom") == requests and
             counted(settings, "/feed.rss") == 2 and
             counted(settings, "/tags/feeds/feed.json") == 1, timeout=10)
    feeds = feedsvc_stats(env, "--items", str(items_dir), "--days", "1")["feeds"]
    atom = feeds["/feed.atom"]
    aggregators = {"Feedly": 470, "Inoreader": 114, "Feedbin": 107, "NewsBlur": 27,
                   "SomeAggregator": 9, "Dreamwidth": 2, "BazQux": 1, "The Old Reader": 1}
    assert atom["aggregators"] == aggregators
    assert list(atom["aggregators"]) == list(aggregators)  # most subscribers first
    assert atom["direct"] == 4 and atom["subscribers"] == sum(aggregators.values()) + 4
    [today] = atom["days"]
    assert today["requests"] == requests and today["not_modified"] == 1
    assert today["bytes_sent"] == sent
    assert today["saved_by_304"] == len(identity)
    assert today["saved_by_compression"] == len(identity) - len(gzipped) > 0
    assert [(r["aggregator"], r["feed_id"], r["subscribers"]) for r in atom["reports"]
            if r["aggregator"] == "Feedbin"] == [("Feedbin", "1697787", 102),
                                                 ("Feedbin", "1697788", 5)]
    assert feeds["/feed.rss"]["aggregators"] == {"Feedly": 16}
    assert feeds["/feed.rss"]["direct"] == 1 and feeds["/feed.rss"]["subscribers"] == 17
    assert feeds["/tags/feeds/feed.json"]["subscribers"] == 3

    status, headers, page = server.get("/stats", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and headers["Cache-Control"] == "private, no-store"
    page = page.decode()
    assert "<svg" in page and "<script" not in page
    assert "<td>Feedly</td><td>–</td><td class=\"number\">470</td>" in page
    assert f"<strong>{atom['subscribers']}</strong> subscribers:" in page
    nothing = server.get("/no-such-page")
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        assert server.get("/stats", headers)[::2] == (404, nothing[2]), headers

    data = b"".join(path.read_bytes() for path in tmp_path.glob("stats.sqlite*"))
    for raw in (b"203.0.113", b"198.51.100", b"192.0.2.50", b"127.0.0.1", b"newsboat"):
        assert raw not in data, raw
    assert b"203.0.113" not in server.log.read_bytes()


def test_counts_survive_kill_9_and_a_restart(serve, items_dir):
    env = {"FEEDSVC_TRUST_FORWARDED": "1"}  # the database in the data folder, by default
    server = serve(items_dir, "--workers", "2", env=env)
    settings = load_settings(items_dir=items_dir)
    for address in ("203.0.113.1", "203.0.113.2"):
        poll(server, "/feed.atom", NEWSBOAT, address)
    poll(server, "/feed.atom", FEEDLY.format(5))
    wait_for(lambda: counted(settings, "/feed.atom", "subscribers") == 7, timeout=10)
    with open(f"/proc/{server.process.pid}/task/{server.process.pid}/children") as file:
        workers = [int(pid) for pid in file.read().split()]
    for pid in (server.process.pid, *workers):
        os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=10)

    assert counted(settings, "/feed.atom", "subscribers") == 7
    server = serve(items_dir, "--workers", "2", env=env)
    poll(server, "/feed.atom", NEWSBOAT, "203.0.113.1")  # the same reader, the same day
    poll(server, "/feed.atom", NEWSBOAT, "203.0.113.9")
    poll(server, "/feed.atom", FEEDLY.format(6))
    wait_for(lambda: counted(settings, "/feed.atom") == 6, timeout=10)
    text = subprocess.run([sys.executable, "-m", "feedsvc", "stats", "--items", str(items_dir)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert "/feed.atom: 9 subscribers = 3 direct + 6 from aggregators" in text.stdout
    assert "  Feedly                       6  reported " in text.stdout
    with sqlite3.connect(read(settings, 1).path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    poll(server, "/feed.atom", NEWSBOAT, "203.0.113.10")  # and stopped at once:
    server.process.send_signal(signal.SIGTERM)  # what is pending is written at exit
    assert server.process.wait(timeout=30) == 0
    assert counted(settings, "/feed.atom", "direct") == 4


def test_days_salts_reports_and_retention_follow_the_clock(make_app, items_dir, tmp_path):
    """The salt changes at midnight (the site's), yesterday's goes ten minutes later with
    every reader hash of that day; a report stands a week; old days go after retention."""
    berlin_midnight = datetime(2026, 3, 10, 23, 0, tzinfo=timezone.utc).timestamp()
    now = [berlin_midnight - 3600]  # 10 March, 23:00 in Berlin
    app = make_app(items_dir, timezone="Europe/Berlin", stats_retention=9,
                   stats_db=str(tmp_path / "stats.sqlite"))
    svc = app.extensions["feedsvc"]
    svc.stats = recorder = Recorder(svc.settings, clock=lambda: now[0])  # flushed by hand
    client = app.test_client()

    def day_of_polls(hours, *agents_polling):
        now[0] += hours * 3600
        for agent in agents_polling:
            assert client.get("/feed.atom", headers={"User-Agent": agent}).status_code == 200
        recorder.flush()
        db = sqlite3.connect(tmp_path / "stats.sqlite")
        try:
            return (db.execute("SELECT day FROM salts ORDER BY day").fetchall(),
                    db.execute("SELECT day, reader FROM readers ORDER BY day").fetchall())
        finally:
            db.close()

    salts, readers = day_of_polls(0, NEWSBOAT, NEWSBOAT, FEEDLY.format(10))
    assert salts == [("2026-03-10",)] and [day for day, _ in readers] == ["2026-03-10"]
    salts, readers = day_of_polls(1.05, NEWSBOAT)  # 00:03 on the 11th: yesterday's is kept
    assert salts == [("2026-03-10",), ("2026-03-11",)]
    assert readers[0][1] != readers[1][1]  # the same reader, another hash
    salts, readers = day_of_polls(0.2, "")  # 00:15: yesterday's salt and hashes are gone
    assert salts == [("2026-03-11",)] and [day for day, _ in readers] == ["2026-03-11"] * 2

    settings = svc.settings
    days = read(settings, 2, now[0]).feeds[0].days
    assert [(d.day.isoformat(), d.direct, d.aggregated, d.requests) for d in days] == [
        ("2026-03-10", 1, 10, 3), ("2026-03-11", 2, 10, 2)]  # no user agent is a reader too
    day_of_polls(24 * 6, FEEDLY.format(12))  # the 17th: a week since 10 reported, 12 now
    feed = read(settings, 8, now[0]).feeds[0]
    assert [d.aggregated for d in feed.days] == [10, 10, 10, 10, 10, 10, 10, 12]
    assert feed.subscribers == 12 and feed.direct == 0  # the readers were here last week
    day_of_polls(24 * 2)  # the 19th: Feedly has not reported for two days; it still counts
    feed = read(settings, 5, now[0]).feeds[0]
    assert [d.requests for d in feed.days] == [0, 0, 1, 0, 0] and feed.subscribers == 12
    with sqlite3.connect(tmp_path / "stats.sqlite") as db:  # retention: 9 days, today's too
        assert db.execute("SELECT min(day) FROM traffic").fetchone() == ("2026-03-11",)


def test_a_database_that_cannot_be_written_loses_no_counts(make_app, items_dir, tmp_path,
                                                            caplog):
    database = tmp_path / "stats.sqlite"
    database.mkdir()  # not a file: every write fails
    app = make_app(items_dir, stats_db=str(database))
    svc = app.extensions["feedsvc"]
    svc.stats = recorder = Recorder(svc.settings)
    client = app.test_client()
    for _ in range(2):
        client.get("/feed.atom", headers={"User-Agent": NEWSBOAT})
        recorder.flush()
    assert len([r for r in caplog.records if "cannot write" in r.message]) == 1
    database.rmdir()
    recorder.flush()
    feed = read(svc.settings, 1).feeds[0]
    assert (feed.days[-1].requests, feed.direct) == (2, 1)


def test_no_stats_page_without_a_token_and_no_weak_tokens(make_app, items_dir):
    client = make_app(items_dir).test_client()
    assert client.get("/stats", headers={"Authorization": "Bearer "}).status_code == 404
    result = CliRunner().invoke(main, ["stats", "--items", str(items_dir)])
    assert result.exit_code == 0 and result.output.startswith("No stats yet in ")
    with pytest.raises(ConfigError, match="'stats_token' must be at least 16"):
        load_settings(items_dir=items_dir, stats_token="short")
    with pytest.raises(ConfigError, match="'stats_retention' must be at least 2"):
        load_settings(items_dir=items_dir, stats_retention=1)
