"""RFC 9110/9111 behaviour, media types, CORS, tag feeds, per-item documents, RFC 5005 archives."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone

import brotli
import feedparser
import pytest

from conftest import BASE_URL, write
from jsonfeed import parse_json_feed

from feedsvc.responses import Document, answer

PATHS = ["/feed.atom", "/feed.rss", "/feed.json", "/", "/items/winter-solstice",
         "/items/winter-solstice.atom", "/items/winter-solstice.json", "/tags/feeds",
         "/tags/feeds/feed.atom", "/tags/"]
MEDIA = {"/feed.atom": "application/atom+xml; charset=utf-8",
         "/feed.rss": "application/rss+xml; charset=utf-8",
         "/feed.json": "application/feed+json; charset=utf-8",
         "/": "text/html; charset=utf-8",
         "/items/winter-solstice.atom": "application/atom+xml;type=entry; charset=utf-8"}


@pytest.mark.parametrize("path", PATHS)
def test_validators_and_304_for_every_conditional_form(client, path):
    first = client.get(path)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["Vary"] == "Accept-Encoding"
    assert "max-age=" in first.headers["Cache-Control"]
    for headers in ({"If-None-Match": etag}, {"If-None-Match": "W/" + etag},
                    {"If-None-Match": f'"nope", {etag}'}, {"If-None-Match": "*"},
                    {"If-Modified-Since": modified},
                    {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 304, headers
        assert response.data == b""
        assert response.headers["ETag"] == etag
        assert response.headers["Last-Modified"] == modified
    for headers in ({"If-None-Match": '"nope"'},
                    {"If-Modified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"},
                    {"If-Modified-Since": "garbage"},
                    # If-None-Match wins over a matching If-Modified-Since
                    {"If-None-Match": '"nope"', "If-Modified-Since": modified}):
        assert client.get(path, headers=headers).status_code == 200, headers


@pytest.mark.parametrize("path", ["/feed.atom", "/"])
def test_head_is_get_without_body(client, path):
    get, head = client.get(path), client.head(path)
    assert head.status_code == 200 and head.data == b""
    for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control"):
        assert head.headers[name] == get.headers[name]


@pytest.mark.parametrize("coding, decode", [("gzip", gzip.decompress),
                                            ("br", brotli.decompress)])
def test_compression_round_trip(client, coding, decode):
    plain = client.get("/feed.atom")
    packed = client.get("/feed.atom", headers={"Accept-Encoding": f"{coding}, identity"})
    assert packed.headers["Content-Encoding"] == coding
    assert decode(packed.data) == plain.data
    assert packed.headers["ETag"] != plain.headers["ETag"]  # a different representation
    assert client.get("/feed.atom", headers={"Accept-Encoding": coding}).data == packed.data
    again = client.get("/feed.atom", headers={"Accept-Encoding": coding,
                                              "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304


def test_coding_preference_and_refusal(client):
    assert client.get("/", headers={"Accept-Encoding": "gzip;q=1, br;q=0.5"}).headers[
        "Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in client.get(
        "/", headers={"Accept-Encoding": "gzip;q=0"}).headers


@pytest.mark.parametrize("path, media_type", MEDIA.items())
def test_media_types(client, path, media_type):
    assert client.get(path).headers["Content-Type"] == media_type


def test_cors_on_feeds_only(client):
    for path in ("/feed.atom", "/feed.rss", "/feed.json", "/tags/feeds/feed.rss",
                 "/items/winter-solstice.json"):
        assert client.get(path).headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in client.get("/").headers


def test_rss_ttl_matches_max_age(make_app, items_dir):
    client = make_app(items_dir, feed_max_age=1800).test_client()
    response = client.get("/feed.rss")
    assert "max-age=1800" in response.headers["Cache-Control"]
    assert b"<ttl>30</ttl>" in response.data


def test_validators_stable_across_restarts(make_app, items_dir):
    first = make_app(items_dir).test_client().get("/feed.atom").headers
    second = make_app(items_dir).test_client().get("/feed.atom").headers
    assert (first["ETag"], first["Last-Modified"]) == (second["ETag"], second["Last-Modified"])


def test_entry_documents_match_the_feed(client):
    feed = feedparser.parse(client.get("/feed.atom").data)
    entry = next(e for e in feed.entries if e.link == BASE_URL + "items/winter-solstice")
    document = client.get("/items/winter-solstice.atom").data
    assert document.startswith(b"<?xml") and b"<entry " in document[:200]
    single = feedparser.parse(document)
    assert not single.bozo
    standalone = single.entries[0]
    assert (standalone.id, standalone.title, standalone.published, standalone.updated) == \
        (entry.id, entry.title, entry.published, entry.updated)
    assert standalone.content[0].value == entry.content[0].value
    json_doc = parse_json_feed(client.get("/items/winter-solstice.json").data)
    assert json_doc["items"][0]["id"] == entry.id
    page = client.get("/items/winter-solstice").data
    assert b'href="' + (BASE_URL + "items/winter-solstice.atom").encode() in page


def test_tag_feeds_and_pages(client):
    feed = feedparser.parse(client.get("/tags/feeds/feed.atom").data)
    assert not feed.bozo
    assert {e.title for e in feed.entries} == {"Why we still publish feeds",
                                               "Moving a Hugo site without breaking its feed"}
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"] == BASE_URL + "tags/feeds/feed.atom"
    assert links["alternate"] == BASE_URL + "tags/feeds"
    page = client.get("/tags/feeds")
    assert page.status_code == 200 and b"tags/feeds/feed.rss" in page.data
    # case-insensitive, slugified
    assert client.get("/tags/Open%20Web/feed.atom").headers["Location"] == \
        BASE_URL + "tags/open-web/feed.atom"
    assert client.get("/tags/FEEDS").status_code == 301
    assert client.get("/tags/no-such-tag/feed.atom").status_code == 404
    assert client.get("/tags/no-such-tag").status_code == 404


def many_items(folder, count, start=1):
    for n in range(start, start + count):
        published = datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(hours=n)
        write(folder, f"post-{n}.md", f"---\ntitle: Post {n}\ndate: {published.isoformat()}\n"
              f"tags: [bulk]\n---\nNumber {n}.\n")


def walk_archives(client, start):
    """Follow prev-archive from `start` as an RFC 5005 client does; return each document's
    entries as (id, title), the subscription document first."""
    seen, url, documents = [], start, 0
    while url:
        response = client.get(url[len(BASE_URL) - 1:] if url.startswith(BASE_URL) else url)
        assert response.status_code == 200, url
        feed = feedparser.parse(response.data)
        assert not feed.bozo
        ids = [e.id for e in feed.entries]
        assert len(ids) == len(set(ids))
        seen.append([(e.id, e.title) for e in feed.entries])
        links = {link.rel: link.href for link in feed.feed.get("links", [])}
        if documents:
            assert b"<fh:archive" in response.data
            assert links["current"] == start
            assert "immutable" in response.headers["Cache-Control"]
        url = links.get("prev-archive")
        documents += 1
    return seen


def test_archive_chain_holds_every_item_once(make_app, tmp_path):
    items = tmp_path / "many"
    many_items(items, 47)
    client = make_app(items, feed_size=10).test_client()
    written = sorted(f"Post {n}" for n in range(1, 48))  # what many_items wrote
    for feed in ("feed.atom", "feed.rss"):
        documents = walk_archives(client, BASE_URL + feed)
        assert len(documents) == 1 + 4, feed  # the subscription feed and 4 full blocks of 10
        # The archives' blocks never overlap (the subscription feed may overlap the newest).
        archived = [entry_id for document in documents[1:] for entry_id, _ in document]
        assert len(archived) == len(set(archived)) == 4 * 10, feed
        # What a client keeps, one entry per id, is every item written, each under one id.
        kept = dict(entry for document in documents for entry in document)
        assert sorted(kept.values()) == written, feed


def test_publishing_changes_no_archive(make_app, tmp_path):
    items = tmp_path / "many"
    many_items(items, 40)
    app = make_app(items, feed_size=10)
    client = app.test_client()
    before = {n: client.get(f"/archive/{n}.atom").data for n in (1, 2, 3, 4)}
    assert client.get("/archive/5.atom").status_code == 307  # still filling
    many_items(items, 10, start=41)  # exactly fills block 5
    app.extensions["feedsvc"].store.refresh()
    assert {n: client.get(f"/archive/{n}.atom").data for n in (1, 2, 3, 4)} == before
    assert client.get("/archive/5.atom").status_code == 200
    assert client.get("/archive/7.atom").status_code == 404
    assert client.get("/archive/0.atom").status_code == 404


def test_paged_index(make_app, tmp_path):
    items = tmp_path / "many"
    many_items(items, 25)
    client = make_app(items, page_size=10).test_client()
    assert b'rel="next"' in client.get("/").data
    assert client.get("/?page=3").status_code == 200
    for bad in ("4", "0", "-1", "x", "9" * 40):
        assert client.get(f"/?page={bad}").status_code == 404


def test_requests_never_scan_the_folder(client, monkeypatch):
    import os

    def forbidden(*args, **kwargs):
        raise AssertionError("a request scanned the items folder")

    monkeypatch.setattr(os, "scandir", forbidden)
    monkeypatch.setattr(os, "listdir", forbidden)
    for path in PATHS + ["/?page=1", "/sitemap.xml", "/archive/1.atom", "/items/nope"]:
        assert client.get(path).status_code in (200, 307, 404)


def test_bytes_are_built_once_per_snapshot(app, monkeypatch):
    from feedsvc import feeds

    calls = []
    original = feeds.render
    monkeypatch.setattr(feeds, "render", lambda *a: calls.append(a[0]) or original(*a))
    client = app.test_client()
    first = client.get("/feed.atom", headers={"Accept-Encoding": "gzip"}).data
    second = client.get("/feed.atom", headers={"Accept-Encoding": "gzip"}).data
    assert first == second and calls == ["atom"]
    app.extensions["feedsvc"].store.refresh()  # nothing changed: same snapshot, same bytes
    client.get("/feed.atom")
    assert calls == ["atom"]


@pytest.mark.parametrize("headers", [{}, {"Accept-Encoding": "gzip"}, {"Accept-Encoding": "br"},
                                     {"If-None-Match": "*"}])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_fast_path_answers_exactly_like_flask(make_app, items_dir, headers, method):
    """The first request goes through Flask; the next is served from memory in front of it."""
    client = make_app(items_dir).test_client()
    for path in ("/feed.atom", "/", "/items/winter-solstice"):
        through_flask = client.open(path, method=method, headers=headers)
        from_memory = client.open(path, method=method, headers=headers)
        assert from_memory.status_code == through_flask.status_code
        assert from_memory.data == through_flask.data
        assert sorted(from_memory.headers.items()) == sorted(through_flask.headers.items())


def test_fast_path_never_serves_a_stale_document(app, items_dir):
    client = app.test_client()
    client.get("/feed.atom")
    assert b"Hot off the press" not in client.get("/feed.atom").data  # now from memory
    write(items_dir, "2026-05-01-hot.md", "---\ntitle: Hot off the press\n---\nx\n")
    app.extensions["feedsvc"].store.refresh()
    assert b"Hot off the press" in client.get("/feed.atom").data


def test_headers_made_once_per_coding_fit_each_request(make_app, items_dir):
    """Each document's headers are built once per coding (responses._headers) and reused:
    every request, in any order, still gets its own coding's ETag and length, a 304 no
    body headers, and a list of its own to change."""
    client = make_app(items_dir).test_client()
    first = {coding: client.get("/feed.atom", headers={"Accept-Encoding": coding})
             for coding in ("identity", "gzip", "br")}
    for coding in ("br", "identity", "gzip", "br", "identity"):
        again = client.get("/feed.atom", headers={"Accept-Encoding": coding})
        assert sorted(again.headers.items()) == sorted(first[coding].headers.items())
        tag = first[coding].headers["ETag"]
        unchanged = client.get("/feed.atom", headers={"Accept-Encoding": coding,
                                                      "If-None-Match": tag})
        assert unchanged.status_code == 304 and unchanged.headers["ETag"] == tag
        assert "Content-Length" not in unchanged.headers or \
            unchanged.headers["Content-Length"] == "0"
        assert "Content-Type" not in unchanged.headers
    document = Document(b"<feed/>" * 100, "application/atom+xml", "public, max-age=60")
    status, headers, body = answer(document, False, "gzip", None, None, (("X-A", "1"),))
    headers.append(("X-Changed", "by the caller"))
    assert answer(document, False, "gzip", None, None, (("X-A", "1"),))[1] == headers[:-1]
    assert ("X-A", "1") in headers and ("Content-Encoding", "gzip") in headers
    assert len(gzip.decompress(body)) == 700
