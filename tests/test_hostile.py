"""Hostile items and hostile requests: never a broken feed, never a 500, never an escape."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import feedparser
import pytest

import hostile
from conftest import BASE_URL
from jsonfeed import parse_json_feed


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "items"
    return folder, hostile.build(folder)


def assert_inert(body: bytes, where: str):
    # Our own JSON-LD block is the one script element allowed; it can hold no "<" at all.
    body = re.sub(rb'<script type="application/ld\+json">[^<]*</script>', b"", body)
    for marker in hostile.HOSTILE_MARKERS:
        assert marker not in body.lower(), (marker, where)


def titles_in(fmt: str, body: bytes) -> list[str]:
    if fmt == "json":
        return [item["title"] for item in parse_json_feed(body)["items"]]
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    return [entry.title for entry in feed.entries]


def test_corpus_through_the_test_client(make_app, corpus):
    folder, expected = corpus
    client = make_app(folder, feed_size=100).test_client()
    for fmt in ("atom", "rss", "json"):
        response = client.get(f"/feed.{fmt}")
        assert response.status_code == 200
        titles = titles_in(fmt, response.data)
        for title in expected["published"]:
            assert title in titles, (fmt, title)
        assert "Secret outside" not in titles
        assert_inert(response.data, fmt)
    tree = client.get("/").data
    assert_inert(tree, "/")
    feed = feedparser.parse(client.get("/feed.atom").data)
    for entry in feed.entries:
        path = entry.link[len(BASE_URL) - 1:]
        for suffix in ("", ".atom", ".json"):
            response = client.get(path + suffix)
            assert response.status_code == 200, path + suffix
            assert_inert(response.data, path + suffix)
        assert ".." not in path and "%2f" not in path.lower()
    for tag_path in ("/tags/", "/tags/ab/feed.atom"):
        response = client.get(tag_path)
        assert response.status_code == 200, tag_path
        assert_inert(response.data, tag_path)


def test_check_names_every_bad_file(corpus):
    folder, expected = corpus
    item_files = [path for path in folder.rglob("*") if path.is_file()]  # before check runs
    result = subprocess.run([sys.executable, "-m", "feedsvc", "check", "--items", str(folder)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    error_paths = {line.split(":", 1)[0] for line in lines if ": error: " in line}
    assert error_paths == expected["errors"]
    for line in lines[:-1]:
        path, line_number, rest = line.split(":", 2)
        assert line_number.isdigit() and rest.startswith((" error: ", " warning: "))
    assert "year-9999.md:3: error:" in result.stdout
    assert "escape.md:1: error: symbolic link points outside the items folder" in result.stdout
    assert "2024-02-07-long-title.md:1: warning: title longer than" in result.stdout
    # The summary counts what it named: one error per bad file, every warning printed, and
    # every other file as published.
    summary = re.fullmatch(r"(\d+) published, (\d+) error\(s\), (\d+) warning\(s\)", lines[-1])
    assert summary, lines[-1]
    assert int(summary[2]) == len(expected["errors"]), lines[-1]
    assert int(summary[3]) == sum(": warning: " in line for line in lines), lines[-1]
    assert int(summary[1]) == len(item_files) - len(expected["errors"]), lines[-1]


def test_corpus_through_the_real_server(serve, corpus):
    folder, expected = corpus
    server = serve(folder, env={"FEEDSVC_FEED_SIZE": "100"})
    for fmt in ("atom", "rss", "json"):
        status, _, body = server.get(f"/feed.{fmt}")
        assert status == 200
        titles = titles_in(fmt, body)
        assert set(expected["published"]) <= set(titles)
        assert_inert(body, fmt)


TRAVERSALS = [
    "/items/..%2f..%2fetc%2fpasswd", "/items/%2e%2e/%2e%2e/etc/passwd", "/items/../../etc/passwd",
    "/items/..%252f..%252fetc%252fpasswd", "/items/..\\..\\etc\\passwd", "/items/%00",
    "/items/a%00b", "/items/%2e%2e%5c%2e%2e%5cetc%5cpasswd", "/static/../../../etc/passwd",
    "/static/..%2f..%2f..%2fetc%2fpasswd", "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/items/good-one/../../../etc/passwd", "/tags/..%2f..%2fetc", "/tags/%00/feed.atom",
    "/tags/a/archive/99999999999999999999.atom", "/archive/-1.atom", "/archive/1.xml",
    "/feed.atom/", "/feed.atom%00", "/feed.xml", "/items/", "/items", "/tags/%ff%fe",
    "/items/%ff", "/?page=99999999999999999999999", "/?page=%00", "/?page=1e9", "/?page=-0",
    "/" + "a" * 10000, "/items/" + "%2e" * 3000, "/items/good-one.atom.json",
    "/items/escape", "/items/secret-outside", "/items/bad-yaml", "/healthz/../feed.atom",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_request_fuzz_with_the_test_client(make_app, corpus, path):
    folder, _ = corpus
    client = make_app(folder).test_client()
    response = client.get(path, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example",
                                         "X-Forwarded-Proto": "gopher"})
    assert response.status_code in (200, 301, 307, 308, 400, 404), response.status_code
    assert b"root:" not in response.data and b"build-system" not in response.data
    assert b"evil.example" not in response.data and b"gopher" not in response.data
    assert "evil.example" not in response.headers.get("Location", "")


def test_request_fuzz_against_the_real_server(serve, corpus):
    import http.client

    folder, _ = corpus
    server = serve(folder)
    header_tricks = [{"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"},
                     {"If-None-Match": "\x7f" * 100}, {"If-Modified-Since": "x" * 5000},
                     {"Accept-Encoding": "br;q=nan, gzip;q=-1, *;q=2"},
                     {"X-Long": "a" * 7000}, {"Range": "bytes=0-0,-1"}]
    for path in TRAVERSALS:
        for headers in header_tricks:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                connection.putrequest("GET", path, skip_host="Host" in headers)
                for name, value in headers.items():
                    connection.putheader(name, value)
                connection.endheaders()
                response = connection.getresponse()
                body = response.read()
            finally:
                connection.close()
            assert response.status < 500, (path, headers, response.status)
            assert b"root:" not in body and b"evil.example" not in body
            assert "evil.example" not in (response.getheader("Location") or "")


def test_security_headers(make_app, corpus):
    folder, _ = corpus
    client = make_app(folder).test_client()
    page = client.get("/")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"]
    feed = client.get("/feed.atom")
    assert feed.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in feed.headers["Content-Security-Policy"]
    assert client.get("/items/nope").headers["Content-Security-Policy"] == policy


def test_writers_and_readers_at_once(serve, tmp_path):
    """Files rewritten and renamed in a loop while readers poll: every response is whole."""
    folder = tmp_path / "items"
    folder.mkdir()
    for n in range(30):
        (folder / f"2024-01-{n % 28 + 1:02d}-stable-{n}.md").write_text(
            f"---\ntitle: Stable {n}\n---\n" + "Words. " * 200)
    server = serve(folder, env={"FEEDSVC_FEED_SIZE": "100"})
    stop = time.monotonic() + 4
    failures: list = []

    def writer(index: int):
        try:
            write_until_stopped(index)
        except Exception as error:  # a writer that died would leave readers nothing to race
            failures.append(("writer", repr(error)))

    def write_until_stopped(index: int):
        n = 0
        while time.monotonic() < stop:
            path = folder / f"churn-{index}.md"
            with open(path, "w") as file:  # written in pieces: readers may see it torn
                file.write("---\ntitle: Churn ")
                file.flush()
                file.write(f"{index}\ndate: 2025-01-01\n---\n" + "More text. " * 500)
            path.rename(folder / f"churn-{index}-renamed-{n % 3}.md")
            for old in folder.glob(f"churn-{index}-renamed-*.md"):
                if old.name != f"churn-{index}-renamed-{n % 3}.md":
                    old.unlink(missing_ok=True)
            n += 1

    def reader():
        try:
            read_until_stopped()
        except Exception as error:  # a thread's exception would otherwise vanish
            failures.append(repr(error))

    def read_until_stopped():
        while time.monotonic() < stop:
            for fmt in ("atom", "rss", "json"):
                status, _, body = server.get(f"/feed.{fmt}")
                if status != 200:
                    failures.append(status)
                    continue
                titles = titles_in(fmt, body)
                if sum(title.startswith("Stable") for title in titles) != 30:
                    failures.append(("missing stable items", fmt))
                if any(t.startswith("Churn") and not t[6:].strip().isdigit() for t in titles):
                    failures.append(("torn title", titles))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)] + [
        threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures[:5]
