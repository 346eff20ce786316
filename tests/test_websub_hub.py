"""WebSub end to end against a real hub: flask-websub (PyPI) in its own process.

The subscriber side is a small HTTP endpoint here that answers the hub's verification of
intent and records every content distribution. Topics that changed must arrive; topics that
did not must not.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import free_port, wait_for, write

pytest.importorskip("flask_websub")
HUB_SCRIPT = Path(__file__).with_name("websub_hub.py")


class Subscriber:
    """Callback URLs /cb/<n>, one per topic: verification GETs echo the challenge, content
    POSTs are recorded with their callback path. The request threads only record (a failure
    there would never fail a test); `deliveries()` names the topics, in the test's thread."""

    def __init__(self):
        self.topics: dict[str, str] = {}  # callback path -> topic
        self.verified: set[str] = set()
        self.posts: list[tuple[str, bytes]] = []  # (callback path, body), in arrival order
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                challenge = query.get("hub.challenge", [""])[0].encode()
                subscriber.verified.add(query.get("hub.topic", [""])[0])
                self.send_response(200)
                self.send_header("Content-Length", str(len(challenge)))
                self.end_headers()
                self.wfile.write(challenge)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                subscriber.posts.append((self.path, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def deliveries(self) -> list[tuple[str, bytes]]:
        """(topic, body) of every content distribution; a POST to a callback URL never handed
        out fails the test here."""
        unknown = [path for path, _ in self.posts if path not in self.topics]
        assert not unknown, f"deliveries to callbacks never subscribed: {unknown}"
        return [(self.topics[path], body) for path, body in self.posts]

    def callback(self, topic: str) -> str:
        path = f"/cb/{len(self.topics)}"
        self.topics[path] = topic
        return self.url + path


@pytest.fixture
def hub(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HUB_SCRIPT), str(port),
                                str(tmp_path / "hub.sqlite")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/hub"

    def up():
        try:
            urllib.request.urlopen(url, timeout=1)
        except urllib.error.HTTPError:
            return True  # a 405 for GET: it is listening
        except OSError:
            return False
        return True

    assert wait_for(up, timeout=20), "the hub did not start"
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_real_hub_delivers_exactly_the_changed_topics(serve, items_dir, hub):
    server = serve(items_dir, env={"FEEDSVC_HUBS": hub})
    subscriber = Subscriber()
    changed = [server.url + "feed.atom", server.url + "tags/feeds/feed.atom",
               server.url + "tags/feeds/feed.json"]
    unchanged = [server.url + "tags/reading/feed.atom", server.url + "tags/hugo/feed.rss"]
    barrier = server.url + "tags/barrier/feed.atom"  # a later change, to know when all arrived
    for topic in changed + unchanged + [barrier]:
        form = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.topic": topic,
                                       "hub.callback": subscriber.callback(topic)}).encode()
        with urllib.request.urlopen(hub, data=form, timeout=10) as response:
            assert response.status == 202
    assert wait_for(lambda: subscriber.verified >= set(changed + unchanged + [barrier]),
                    timeout=15)

    write(items_dir, "2026-03-01-pushed.md", "---\ntitle: Pushed\ntags: [feeds]\n---\nNew!\n")

    assert wait_for(lambda: {t for t, _ in subscriber.deliveries()} >= set(changed), timeout=20)
    # Instead of sleeping for "anything else" to arrive: one more change. feedsvc announces in
    # order and the hub delivers while it handles each announcement, so once the barrier's
    # deliveries are in, whatever the first change caused is in too.
    write(items_dir, "2026-03-02-barrier.md", "---\ntitle: Barrier\ntags: [barrier]\n---\nx\n")
    expected = Counter(changed + [server.url + "feed.atom", barrier])  # the barrier is news too
    wait_for(lambda: Counter(t for t, _ in subscriber.deliveries()) >= expected, timeout=20,
             what=lambda: f"{sorted(expected.elements())}; delivered "
                          f"{sorted(t for t, _ in subscriber.deliveries())}")
    delivered = [topic for topic, _ in subscriber.deliveries()]
    assert Counter(delivered) == expected  # each once per change, and nothing unchanged
    first_atom = next(body for topic, body in subscriber.deliveries()
                      if topic == server.url + "feed.atom")
    assert b"Pushed" in first_atom  # the hub fetched the new version
