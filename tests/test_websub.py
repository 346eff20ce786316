"""WebSub: rel="hub" links, and hubs told exactly which topics changed."""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import feedparser
import pytest

from conftest import BASE_URL, wait_for, write


class Recorder:
    """An HTTP endpoint on 127.0.0.1 that records every hub.mode=publish it receives; it can
    fail the first `failures` requests to exercise retries."""

    def __init__(self, failures: int = 0):
        self.received: list[str] = []
        self.failures = failures
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if recorder.failures > 0:
                    recorder.failures -= 1
                    self.send_response(503)
                else:
                    assert form["hub.mode"] == ["publish"]
                    recorder.received.extend(form["hub.url"])
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


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
    assert wait_for(lambda: set(hub.received) == expected)
    assert sorted(hub.received) == sorted(expected)  # once each


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
    finally:
        hub.server.shutdown()


def test_real_server_notifies_hub_when_a_file_is_added(serve, items_dir, hub):
    server = serve(items_dir, env={"FEEDSVC_HUBS": hub.url})
    write(items_dir, "2026-03-01-pushed.md", "---\ntitle: Pushed\ntags: [push]\n---\nx\n")
    topic = server.url + "tags/push/feed.atom"
    assert wait_for(lambda: topic in hub.received, timeout=15)
    assert server.url + "feed.atom" in hub.received


def test_one_announcement_per_change_with_several_processes(make_app, items_dir, hub):
    """Two apps on one folder stand for two server workers: only one tells the hub."""
    first = make_app(items_dir, hubs=(hub.url,))
    second = make_app(items_dir, hubs=(hub.url,))
    write(items_dir, "2026-02-01-once.md", "---\ntitle: Once\n---\nx\n")
    first.extensions["feedsvc"].store.refresh()
    second.extensions["feedsvc"].store.refresh()
    topics = {BASE_URL + f"feed.{fmt}" for fmt in ("atom", "rss", "json")}
    assert wait_for(lambda: set(hub.received) >= topics)
    import time
    time.sleep(0.5)
    assert sorted(hub.received) == sorted(topics)


def test_two_server_workers_announce_each_change_once(serve, items_dir, hub):
    server = serve(items_dir, "--workers", "2", env={"FEEDSVC_HUBS": hub.url})
    import time
    time.sleep(1.5)  # both workers up and indexed, not just the first one
    write(items_dir, "2026-03-02-twice.md", "---\ntitle: Twice?\ntags: [solo]\n---\nx\n")
    topics = {server.url + f"{prefix}feed.{fmt}" for prefix in ("", "tags/solo/")
              for fmt in ("atom", "rss", "json")}
    assert wait_for(lambda: set(hub.received) >= topics, timeout=15)
    time.sleep(1.5)
    assert sorted(hub.received) == sorted(topics)
    for _ in range(6):  # whichever worker answers, the new item is there
        assert b"Twice?" in server.get("/feed.atom")[2]
