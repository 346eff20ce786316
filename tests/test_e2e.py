"""The real `feedsvc serve` process on 127.0.0.1, over HTTP."""

from __future__ import annotations

import feedparser

from conftest import wait_for, write


def test_serve_bundled_items_and_follow_a_new_file(serve, items_dir):
    server = serve(items_dir)
    status, headers, body = server.get("/feed.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    atom = feedparser.parse(body)
    assert not atom.bozo and len(atom.entries) == 5
    # With no configured base URL, URLs point at the address the server listens on.
    assert atom.entries[0].link.startswith(server.url + "items/")

    status, headers, body = server.get("/feed.rss")
    rss = feedparser.parse(body)
    assert status == 200 and not rss.bozo and rss.feed.link == server.url
    assert {e.id for e in rss.entries} == {e.id for e in atom.entries}

    status, _, body = server.get("/")
    assert status == 200 and b'type="application/atom+xml"' in body
    status, _, body = server.get(atom.entries[0].link[len(server.url) - 1:])
    assert status == 200 and atom.entries[0].title.encode() in body

    write(items_dir, "2026-01-02-fresh.md", "---\ntitle: Fresh off the press\n---\nNew!\n")

    def fresh_entry():
        feed = feedparser.parse(server.get("/feed.atom")[2])
        return [e for e in feed.entries if e.title == "Fresh off the press"]

    assert wait_for(fresh_entry, timeout=10)
    status, _, body = server.get("/items/fresh")
    assert status == 200 and b"New!" in body

    (items_dir / "2026-01-02-fresh.md").unlink()
    assert wait_for(lambda: server.get("/items/fresh")[0] == 404, timeout=10)


def test_base_url_flag(serve, items_dir):
    server = serve(items_dir, "--base-url", "https://news.example.com/blog")
    feed = feedparser.parse(server.get("/feed.atom")[2])
    assert feed.entries[0].link.startswith("https://news.example.com/blog/items/")


def test_feed_reader_library_gets_304_on_second_poll(serve, items_dir):
    """lemon24/reader, a real feed-reading library, does conditional GET on its own."""
    reader_lib = __import__("pytest").importorskip("reader")
    server = serve(items_dir)
    url = server.url + "feed.atom"
    client = reader_lib.make_reader(":memory:")
    client.add_feed(url)
    client.update_feed(url)
    assert len(list(client.get_entries())) == 5
    client.update_feed(url)  # update_feed ignores the schedule: always polls
    client.close()

    def logged():  # the access log is written in batches, about once a second
        return [line for line in server.log.read_text().splitlines() if "/feed.atom" in line]

    log = wait_for(lambda: len(logged()) >= 2 and logged(), what=lambda: logged())
    assert len(log) == 2, log
    # One 200, one 304: each worker writes its own lines, so not necessarily in that order.
    assert sorted(line.split('" ')[1][:3] for line in log) == ["200", "304"], log
    assert any('" 304 0 ' in line for line in log), log
