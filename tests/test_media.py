"""Richer items: enclosures, pictures and people in every format, read by independent parsers
(feedparser, the JSON Feed schema, html5lib), with their URLs absolute."""

from __future__ import annotations

import json

import feedparser
import html5lib

from conftest import BASE_URL, write
from jsonfeed import parse_json_feed

AUDIO = b"ID3" + bytes(range(256)) * 40  # 10,243 bytes of "audio"


def episode_bundle(folder):
    """A page bundle with its audio beside index.md, and a post with remote enclosures."""
    (folder / "shows/first").mkdir(parents=True)
    (folder / "shows/first/episode.mp3").write_bytes(AUDIO)
    (folder / "shows/first/cover.jpg").write_bytes(b"\xff\xd8\xff jpeg")
    write(folder, "shows/first/index.md", """---
title: First episode
date: 2025-01-05T10:00:00+01:00
enclosure: episode.mp3
duration: 1:02:03
image: cover.jpg
---
We talk about cranes.
""")
    write(folder, "2025-01-12-second.md", """---
title: Second episode
enclosures:
  - url: https://cdn.example.net/second.m4a
    length: 123456
    type: audio/x-m4a
  - {url: /downloads/notes.pdf, length: 999, title: Show notes}
---
Notes and audio elsewhere.
""")


def test_enclosures_in_every_format(make_app, tmp_path):
    items = tmp_path / "items"
    episode_bundle(items)
    client = make_app(items).test_client()
    audio = BASE_URL + "items/first/episode.mp3"

    atom = feedparser.parse(client.get("/feed.atom").data)
    assert not atom.bozo
    by_title = {entry.title: entry for entry in atom.entries}
    # Atom: each enclosure a link rel="enclosure" with its length and type; the entry's
    # page stays its alternate link (feedgen's own links would have lost their rel).
    first, second = by_title["First episode"], by_title["Second episode"]
    assert first.link == BASE_URL + "items/first"
    assert [(e.href, e.length, e.type) for e in first.enclosures] == [
        (audio, str(len(AUDIO)), "audio/mpeg")]
    assert [(e.href, e.length, e.type) for e in second.enclosures] == [
        ("https://cdn.example.net/second.m4a", "123456", "audio/x-m4a"),
        (BASE_URL + "downloads/notes.pdf", "999", "application/pdf")]
    assert next(link for link in second.links if link.rel == "enclosure" and
                link.href.endswith(".pdf")).title == "Show notes"

    rss = feedparser.parse(client.get("/feed.rss").data)
    assert not rss.bozo
    by_title = {entry.title: entry for entry in rss.entries}
    assert [(e.href, e.length, e.type) for e in by_title["First episode"].enclosures] == [
        (audio, str(len(AUDIO)), "audio/mpeg")]
    # One <enclosure> per item, as RSS allows: the first; the others as Media RSS.
    second = by_title["Second episode"]
    assert [e.href for e in second.enclosures] == ["https://cdn.example.net/second.m4a"]
    assert [(m["url"], m["filesize"]) for m in second.media_content] == [
        (BASE_URL + "downloads/notes.pdf", "999")]

    document = parse_json_feed(client.get("/feed.json").data)
    attachments = {item["title"]: item["attachments"] for item in document["items"]}
    assert attachments["First episode"] == [{"url": audio, "mime_type": "audio/mpeg",
                                             "size_in_bytes": len(AUDIO),
                                             "duration_in_seconds": 3723}]
    assert attachments["Second episode"][1] == {
        "url": BASE_URL + "downloads/notes.pdf", "mime_type": "application/pdf",
        "title": "Show notes", "size_in_bytes": 999}
    # The one-item documents carry them too.
    entry = feedparser.parse(client.get("/items/first.atom").data).entries[0]
    assert [e.href for e in entry.enclosures] == [audio]

    page = client.get("/items/first").data.decode()
    assert f'<audio controls preload="none" src="{audio}"></audio>' in page
    assert "MP3 audio, 10.2 kB, 1:02:03" in page


def test_a_bad_enclosure_leaves_out_its_item_with_a_one_line_error(make_app, tmp_path):
    items = tmp_path / "items"
    episode_bundle(items)
    (items / "shows/first/episode.mp3").unlink()
    write(items, "shows/up/index.md", "---\ntitle: Up\nenclosure: ../first/cover.jpg\n---\nx\n")
    write(items, "numbered.md", "---\ntitle: Numbered\nenclosure: 42\n---\nx\n")
    (tmp_path / "elsewhere.mp3").write_bytes(AUDIO)
    write(items, "shows/linked/index.md", "---\ntitle: Linked\nenclosure: out.mp3\n---\nx\n")
    (items / "shows/linked/out.mp3").symlink_to(tmp_path / "elsewhere.mp3")
    write(items, "sized.md", "---\ntitle: Sized\nenclosure: {url: https://e.org/a.mp3, "
                             "length: big}\n---\nx\n")
    app = make_app(items)
    problems = {p.path: str(p) for p in app.extensions["feedsvc"].store.snapshot.errors}
    assert problems == {
        "shows/first/index.md": "shows/first/index.md:4: error: enclosure 'episode.mp3' is "
                                "not a file in shows/first/: copy it there beside index.md, "
                                "or give its URL",
        "shows/up/index.md": "shows/up/index.md:3: error: 'enclosure': '../first/cover.jpg' "
                             "is not an http(s) URL, a /path under base_url or a file beside "
                             "a bundle's index.md",
        "shows/linked/index.md": "shows/linked/index.md:3: error: enclosure 'out.mp3' is "
                                 "not a file in shows/linked/: copy it there beside index.md, "
                                 "or give its URL",
        "numbered.md": "numbered.md:3: error: 'enclosure' must be a URL, a file beside "
                       "index.md, or a mapping with url, length and type (or a list of those)",
        "sized.md": "sized.md:3: error: 'enclosure': length must be the file's size in "
                    "bytes, not 'big'"}
    titles = [e.title for e in feedparser.parse(app.test_client().get("/feed.rss").data).entries]
    assert "Second episode" in titles and "First episode" not in titles


def test_pictures_from_front_matter_or_the_content(make_app, tmp_path):
    items = tmp_path / "items"
    episode_bundle(items)
    write(items, "2025-02-01-jekyll.md", "---\ntitle: Jekyll SEO\nimage:\n  path: /img/a.png\n"
                                         "  alt: A harbour\n---\nText.\n")
    write(items, "2025-02-02-inline.md", "---\ntitle: Inline\n---\n"
                                         "Look: ![crane](pictures/crane.webp)\n")
    write(items, "2025-02-03-plain.md", "---\ntitle: Plain\n---\nNo picture.\n")
    client = make_app(items).test_client()
    expected = {"First episode": BASE_URL + "items/first/cover.jpg",
                "Jekyll SEO": BASE_URL + "img/a.png",
                "Inline": BASE_URL + "items/pictures/crane.webp"}

    for fmt in ("rss", "atom"):
        feed = feedparser.parse(client.get(f"/feed.{fmt}").data)
        assert not feed.bozo
        shown = {e.title: e.media_thumbnail[0]["url"] for e in feed.entries
                 if "media_thumbnail" in e}
        assert shown == expected, fmt
    # A picture is no enclosure: Atom links it as none.
    atom = feedparser.parse(client.get("/feed.atom").data)
    assert all(not e.enclosures for e in atom.entries if e.title in ("Jekyll SEO", "Inline"))
    document = parse_json_feed(client.get("/feed.json").data)
    assert {i["title"]: i["image"] for i in document["items"] if "image" in i} == expected

    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)

    def meta(path):
        head = parser.parse(client.get(path).data).find("head")
        return {(m.get("property") or m.get("name")): m.get("content")
                for m in head.iter("meta") if m.get("content") is not None}

    jekyll = meta("/items/jekyll")
    assert jekyll["og:image"] == jekyll["twitter:image"] == BASE_URL + "img/a.png"
    assert jekyll["og:image:alt"] == "A harbour"
    assert jekyll["twitter:card"] == "summary_large_image"
    assert meta("/items/inline")["og:image"] == expected["Inline"]
    plain = meta("/items/plain")
    assert "og:image" not in plain and plain["twitter:card"] == "summary"


def test_several_authors_and_contributors_in_every_format(make_app, tmp_path):
    items = tmp_path / "items"
    write(items, "2025-03-01-together.md", """---
title: Written together
author:
  - name: Ada Brennan
    email: ada@example.org
    url: https://ada.example.org/
  - Bo Lund <bo@example.org>
contributors:
  - name: Cy Editor
    email: cy@example.org
    uri: https://cy.example.org/
---
Text.
""")
    write(items, "2025-03-02-alone.md", "---\ntitle: Alone\nauthor: Ada Brennan "
                                        "<ada@example.org>\n---\nText.\n")
    client = make_app(items).test_client()

    atom = {e.title: e for e in feedparser.parse(client.get("/feed.atom").data).entries}
    together = atom["Written together"]
    assert [(a.name, a.get("email"), a.get("href")) for a in together.authors] == [
        ("Ada Brennan", "ada@example.org", "https://ada.example.org/"),
        ("Bo Lund", "bo@example.org", None)]
    assert [(c.name, c.email, c.href) for c in together.contributors] == [
        ("Cy Editor", "cy@example.org", "https://cy.example.org/")]

    # RSS: names as dc:creator (RSS's <author> holds one email address); one author with an
    # email keeps <author>.
    rss_data = client.get("/feed.rss").data
    rss = {e.title: e for e in feedparser.parse(rss_data).entries}
    assert [a.name for a in rss["Written together"].authors] == ["Ada Brennan", "Bo Lund"]
    assert [c.name for c in rss["Written together"].contributors] == ["Cy Editor"]
    assert rss["Alone"].author_detail.email == "ada@example.org"
    assert rss_data.count(b"<author>") == 1

    document = parse_json_feed(client.get("/feed.json").data)
    item = next(i for i in document["items"] if i["title"] == "Written together")
    assert item["authors"] == [{"name": "Ada Brennan", "url": "https://ada.example.org/"},
                               {"name": "Bo Lund", "url": "mailto:bo@example.org"}]
    assert item["_feedsvc"]["contributors"] == [{"name": "Cy Editor",
                                                 "url": "https://cy.example.org/"}]

    page = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(
        client.get("/items/together").data)
    byline = page.find(".//p[@class='meta']")
    assert [a.get("href") for a in byline.iter("a")] == ["https://ada.example.org/",
                                                         "https://cy.example.org/"]
    assert "".join(page.find(".//span[@class='contributors']").itertext()) == "Cy Editor"
    linked = json.loads(page.find(".//script[@type='application/ld+json']").text)
    assert [p["name"] for p in linked["author"]] == ["Ada Brennan", "Bo Lund"]
    assert linked["contributor"] == [{"@type": "Person", "name": "Cy Editor",
                                      "url": "https://cy.example.org/"}]


def test_a_replaced_bundle_file_is_read_again_after_a_restart(make_app, tmp_path):
    """The bundle's key covers the files beside index.md, so the item cache does not keep
    the old length (the running server's watcher is tested in test_ranges.py)."""
    items = tmp_path / "items"
    episode_bundle(items)

    def length():
        feed = feedparser.parse(make_app(items).test_client().get("/feed.rss").data)
        entry = next(e for e in feed.entries if e.title == "First episode")
        return int(entry.enclosures[0].length)

    assert length() == len(AUDIO)
    (items / "shows/first/episode.mp3").write_bytes(AUDIO * 2)
    assert length() == 2 * len(AUDIO)
