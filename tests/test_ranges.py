"""A bundle's media served as podcast apps fetch it: RFC 9110 range requests and
preconditions, by the real `feedsvc serve`, and never a file outside the items folder."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections import Counter
from datetime import datetime, timezone

import feedparser
import pytest

from feedsvc.ranges import Decision, FileVersion, decide
from feedsvc.web import PYTHON_THREADS

from conftest import wait_for, write

VERSION = FileVersion(1000, '"abc-3e8"', datetime(2025, 1, 5, 9, 0, tzinfo=timezone.utc))
DATE = "Sun, 05 Jan 2025 09:00:00 GMT"


@pytest.mark.parametrize("headers, expected", [
    ({}, Decision(200, 0, 1000)),
    ({"Range": "bytes=0-99"}, Decision(206, 0, 100)),
    ({"Range": "bytes=900-"}, Decision(206, 900, 1000)),
    ({"Range": "bytes=-100"}, Decision(206, 900, 1000)),
    ({"Range": "bytes=990-5000"}, Decision(206, 990, 1000)),  # the end is cut to the file's
    ({"Range": "bytes=-5000"}, Decision(206, 0, 1000)),
    ({"Range": "bytes=1000-"}, Decision(416)),  # starts past the end
    ({"Range": "bytes=-0"}, Decision(416)),
    ({"Range": "bytes=0-9, 20-29"}, Decision(200, 0, 1000)),  # several ranges: the whole file
    ({"Range": "bytes=9-0"}, Decision(200, 0, 1000)),  # invalid: ignored (14.1.1)
    ({"Range": "items=0-9"}, Decision(200, 0, 1000)),  # another unit: ignored
    ({"Range": "bytes=0-9", "If-Range": '"abc-3e8"'}, Decision(206, 0, 10)),
    ({"Range": "bytes=0-9", "If-Range": '"older"'}, Decision(200, 0, 1000)),
    ({"Range": "bytes=0-9", "If-Range": 'W/"abc-3e8"'}, Decision(200, 0, 1000)),  # strong only
    ({"Range": "bytes=0-9", "If-Range": DATE}, Decision(206, 0, 10)),
    ({"Range": "bytes=0-9", "If-Range": "Sun, 05 Jan 2025 10:00:00 GMT"},
     Decision(200, 0, 1000)),  # a date matches only exactly (13.1.5)
    ({"If-None-Match": 'W/"abc-3e8", "x"'}, Decision(304)),  # weak comparison
    ({"If-None-Match": '"x"', "If-Modified-Since": DATE}, Decision(200, 0, 1000)),
    ({"If-Modified-Since": DATE}, Decision(304)),
    ({"If-Modified-Since": "not a date"}, Decision(200, 0, 1000)),
    ({"If-None-Match": '"abc-3e8"', "Range": "bytes=0-9"}, Decision(304)),  # before Range
    ({"If-Match": '"older"'}, Decision(412)),
    ({"If-Match": 'W/"abc-3e8"'}, Decision(412)),
    ({"If-Match": "*", "Range": "bytes=0-0"}, Decision(206, 0, 1)),
    ({"If-Unmodified-Since": "Sat, 04 Jan 2025 09:00:00 GMT"}, Decision(412)),
])
def test_preconditions_and_ranges_in_rfc_9110_order(headers, expected):
    assert decide(headers, VERSION) == expected


def test_a_podcast_app_seeks_in_an_episode(serve, tmp_path):
    items = tmp_path / "items"
    audio = os.urandom(300_000)
    (items / "show/one").mkdir(parents=True)
    (items / "show/one/one.mp3").write_bytes(audio)
    (items / "secret.mp3").write_bytes(b"not in any bundle")
    (items / "show/one/.hidden.mp3").write_bytes(b"hidden")
    (tmp_path / "outside.mp3").write_bytes(b"outside the items folder")
    (items / "show/one/link.mp3").symlink_to(tmp_path / "outside.mp3")
    write(items, "show/one/index.md", "---\ntitle: One\ndate: 2025-01-05\nenclosure: one.mp3\n"
                                      "---\nNotes.\n")
    server = serve(items)
    url = feedparser.parse(server.get("/feed.rss")[2]).entries[0].enclosures[0].href
    assert url == server.url + "items/one/one.mp3"
    path = "/items/one/one.mp3"

    status, headers, body = server.get(path)
    assert (status, body) == (200, audio)
    assert headers["Accept-Ranges"] == "bytes" and headers["Content-Type"] == "audio/mpeg"
    assert headers["Content-Length"] == str(len(audio)) and "Content-Encoding" not in headers
    etag, modified = headers["ETag"], headers["Last-Modified"]

    status, headers, body = server.get(path, {"Range": "bytes=100000-100999"})
    assert (status, body) == (206, audio[100000:101000])
    assert headers["Content-Range"] == f"bytes 100000-100999/{len(audio)}"
    assert headers["Content-Length"] == "1000" and headers["ETag"] == etag
    status, headers, body = server.get(path, {"Range": "bytes=-10", "If-Range": etag})
    assert (status, body) == (206, audio[-10:])
    status, _, body = server.get(path, {"Range": "bytes=0-9", "If-Range": '"older"'})
    assert (status, body) == (200, audio)  # another version: the whole new one
    status, headers, body = server.get(path, {"Range": "bytes=300000-"})
    assert (status, headers["Content-Range"], body) == (416, "bytes */300000", b"")
    status, headers, body = server.get(path, {"If-None-Match": etag})
    assert (status, body, headers["ETag"]) == (304, b"", etag)
    status, _, _ = server.get(path, {"If-Modified-Since": modified})
    assert status == 304
    head = urllib.request.Request(server.url + path.lstrip("/"), method="HEAD",
                                  headers={"Range": "bytes=0-9"})
    with urllib.request.urlopen(head, timeout=10) as response:
        assert (response.status, response.headers["Content-Length"], response.read()) == \
            (206, "10", b"")

    for other in ("/items/one/.hidden.mp3", "/items/one/link.mp3", "/secret.mp3",
                  "/items/one/../../secret.mp3", "/items/one/index.md"):
        assert server.get(other)[0] == 404, other

    # A new recording under the same name: the feed's length follows it.
    (items / "show/one/one.mp3").write_bytes(audio + audio)

    def length():
        enclosure = feedparser.parse(server.get("/feed.rss")[2]).entries[0].enclosures[0]
        return enclosure.length

    wait_for(lambda: length() == str(2 * len(audio)), what=lambda: f"length {length()}")
    status, headers, _ = server.get(path, {"Range": "bytes=0-0", "If-Range": etag})
    assert status == 200 and headers["ETag"] != etag


def test_a_crowd_of_stalled_downloads_never_stops_the_feeds(serve, tmp_path):
    """granian streams a file from one of a worker's few Python threads, which waits while
    the client does not read. Once all but one of a worker's threads are held so, a further
    long download gets a 503 with Retry-After, and the feeds keep answering."""
    items = tmp_path / "items"
    (items / "show/one").mkdir(parents=True)
    (items / "show/one/one.mp3").write_bytes(os.urandom(16_000_000))  # far past any buffer
    write(items, "show/one/index.md", "---\ntitle: One\ndate: 2025-01-05\nenclosure: one.mp3\n"
                                      "---\nNotes.\n")
    server = serve(items)
    heads, crowd = [], []
    try:
        for _ in range(4 * PYTHON_THREADS):  # more than all workers have, however spread
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow phone
            sock.settimeout(10)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET /items/one/one.mp3 HTTP/1.1\r\nHost: x\r\n\r\n")
            crowd.append(sock)
        for sock in crowd:  # each answered; a 200 holds its thread from here on
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(4096)
            heads.append(head.partition(b"\r\n\r\n")[0].decode("latin-1").lower())
        statuses = Counter(int(head[9:12]) for head in heads)
        assert set(statuses) == {200, 503} and statuses[200] >= PYTHON_THREADS - 1
        busy = next(head for head in heads if head.startswith("http/1.1 503"))
        assert "\r\nretry-after: " in busy and "\r\ncache-control: no-store" in busy
        for _ in range(10):  # new connections, spread over the workers
            status, _, body = server.get("/feed.atom")
            assert status == 200 and feedparser.parse(body).entries[0].title == "One"
        status, _, body = server.get("/items/one/one.mp3", {"Range": "bytes=0-9"})
        assert status == 206 and len(body) == 10  # a short slice never waits on its client
    finally:
        for sock in crowd:
            sock.close()
    wait_for(lambda: server.get("/items/one/one.mp3", {"Range": "bytes=0-1999999"})[0] == 206,
             what="a long download answered again once the crowd left")
