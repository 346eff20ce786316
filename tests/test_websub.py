"""WebSub: rel="hub" links, and hubs told exactly which topics changed."""

from __future__ import annotations

import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import feedparser
import pytest

from conftest import BASE_URL, wait_for, write


class Recorder:
    """An HTTP endpoint on 127.0.0.1 that records every request it receives; it can fail the
    first `failures` requests to exercise retries. It only records: an assertion raised in its
    request threads would never fail a test, so tests check `modes` in their own thread."""

    def __init__(self, failures: int = 0):
        self.received: list[str] = []  # hub.url of every request answered 204
        self.modes: list[list[str]] = []  # hub.mode of every request, failed ones too
        self.failures = failures
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                recorder.modes.append(form.get("hub.mode", []))
                if recorder.failures > 0:
                    recorder.failures -= 1
                    self.send_response(503)
                else:
                    recorder.received.extend(form.get("hub.url", []))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def assert_only_publishes(hub: Recorder):
    assert hub.modes and all(mode == ["publish"] for mode in hub.modes), hub.modes


def feed_topics(base: str, *prefixes: str) -> list[str]:
    return [base + f"{prefix}feed.{fmt}" for prefix in prefixes for fmt in ("atom", "rss", "json")]


def barrier(hub: Recorder, items_dir, base: str, announced: Counter, refresh=lambda: None):
    """Publish one more change and wait until the hub has it and everything announced before.
    A publisher posts in the order it queued, so once this arrives, whatever was queued
    before it has arrived too: no need to sleep for "anything else" to show up."""
    write(items_dir, "2026-04-01-barrier.md", "---\ntitle: Barrier\ntags: [barrier]\n---\nx\n")
    refresh()
    expected = announced + Counter(feed_topics(base, "", "tags/barrier/"))
    wait_for(lambda: Counter(hub.received) >= expected, timeout=30,
             what=lambda: f"{sorted(expected.elements())}; the hub has {sorted(hub.received)}")
    return expected


@pytest.fixture
def hub():
    recorder = Recorder()
    yield recorder
    recorder.server.shutdown()


def test_hub_links_in_documents_and_headers(make_app, items_dir, hub):
    client = make_app(items_dir, hubs=(hub.url,)).test_client()
    for path in ("/feed.atom", "/feed.rss", "/tags/feeds/feed.atom"):
        response = client.get(path)
        feed = feedparser.parse(response.data)
        links = {(link.rel, link.href) for link in feed.feed.links}
        assert ("hub", hub.url) in links
        assert ("self", BASE_URL + path.lstrip("/")) in links
        assert f'<{hub.url}>; rel="hub"' in response.headers["Link"]
        assert f'<{BASE_URL}{path.lstrip("/")}>; rel="self"' in response.headers["Link"]
    document = client.get("/feed.json").get_json()
    assert document["hubs"] == [{"type": "WebSub", "url": hub.url}]


def test_hub_receives_exactly_the_changed_topics(make_app, items_dir, hub):
    app = make_app(items_dir, hubs=(hub.url,))
    write(items_dir, "2026-02-01-news.md", "---\ntitle: News\ntags: [hugo, brand new]\n---\nx\n")
    app.extensions["feedsvc"].store.refresh()
    expected = {BASE_URL + path for path in (
        "feed.atom", "feed.rss", "feed.json",
        "tags/hugo/feed.atom", "tags/hugo/feed.rss", "tags/hugo/feed.json",
        "tags/brand-new/feed.atom", "tags/brand-new/feed.rss", "tags/brand-new/feed.json")}
    assert wait_for(lambda: set(hub.received) >= expected)
    announced = barrier(hub, items_dir, BASE_URL, Counter(expected),
                        refresh=app.extensions["feedsvc"].store.refresh)
    assert Counter(hub.received) == announced  # once each, and nothing else
    assert_only_publishes(hub)


def test_close_changes_are_not_lost_and_failures_are_retried(make_app, items_dir, monkeypatch):
    from feedsvc import websub
    monkeypatch.setattr(websub, "FIRST_BACKOFF", 0.05)
    hub = Recorder(failures=2)
    try:
        app = make_app(items_dir, hubs=(hub.url,))
        store = app.extensions["feedsvc"].store
        write(items_dir, "2026-02-01-a.md", "---\ntitle: A\ntags: [one]\n---\nx\n")
        store.refresh()
        write(items_dir, "2026-02-02-b.md", "---\ntitle: B\ntags: [two]\n---\nx\n")
        store.refresh()
        topics = {BASE_URL + f"{prefix}feed.{fmt}" for prefix in ("", "tags/one/", "tags/two/")
                  for fmt in ("atom", "rss", "json")}
        assert wait_for(lambda: topics <= set(hub.received))
        assert_only_publishes(hub)
    finally:
        hub.server.shutdown()


def test_real_server_notifies_hub_when_a_file_is_added(serve, items_dir, hub):
    server = serve(items_dir, env={"FEEDSVC_HUBS": hub.url})
    write(items_dir, "2026-03-01-pushed.md", "---\ntitle: Pushed\ntags: [push]\n---\nx\n")
    topic = server.url + "tags/push/feed.atom"
    assert wait_for(lambda: topic in hub.received, timeout=15)
    assert server.url + "feed.atom" in hub.received
    assert_only_publishes(hub)


def test_one_announcement_per_change_with_several_processes(make_app, items_dir, hub):
    """Two apps on one folder stand for two server workers: only one tells the hub."""
    first = make_app(items_dir, hubs=(hub.url,))
    second = make_app(items_dir, hubs=(hub.url,))
    write(items_dir, "2026-02-01-once.md", "---\ntitle: Once\n---\nx\n")
    stores = [app.extensions["feedsvc"].store for app in (first, second)]
    for store in stores:
        store.refresh()
    topics = feed_topics(BASE_URL, "")
    assert wait_for(lambda: set(hub.received) >= set(topics))
    # A second announcer would post its repeats as soon as it saw the change, long before the
    # barrier (written only once the first change arrived) is back from the leader.
    expected = barrier(hub, items_dir, BASE_URL, Counter(topics),
                       refresh=lambda: [store.refresh() for store in stores])
    assert Counter(hub.received) == expected  # each change once, by one of the two
    assert_only_publishes(hub)


def test_two_server_workers_announce_each_change_once(serve, items_dir, hub):
    server = serve(items_dir, "--workers", "2", env={"FEEDSVC_HUBS": hub.url})
    # Both workers up, not just the first one (the index was built once, before them).
    wait_for(lambda: "Started worker-2" in server.log.read_text(), timeout=30,
             what=lambda: "both workers; log:\n" + server.log.read_text())
    assert server.log.read_text().count("feedsvc: indexed ") == 1
    write(items_dir, "2026-03-02-twice.md", "---\ntitle: Twice?\ntags: [solo]\n---\nx\n")
    topics = feed_topics(server.url, "", "tags/solo/")
    assert wait_for(lambda: set(hub.received) >= set(topics), timeout=15)
    expected = barrier(hub, items_dir, server.url, Counter(topics))
    assert Counter(hub.received) == expected  # each change once, by one of the two
    assert_only_publishes(hub)
    for _ in range(6):  # whichever worker answers, the new item is there
        assert b"Twice?" in server.get("/feed.atom")[2]
