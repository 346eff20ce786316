"""What 19 real feed readers reported (issue 9), each checked the way a reader would see it.

Dates come from an injected clock (conftest.Clock); feeds are read by feedparser, lxml and
html5lib, never compared with our own output.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import feedparser
import html5lib
import pytest
from lxml import etree

from feedsvc.history import History
from feedsvc.responses import Document, not_modified
from feedsvc.text import tag_slug

from conftest import BASE_URL, Clock, write
from jsonfeed import parse_json_feed

ATOM = "{http://www.w3.org/2005/Atom}"
FEEDS = ["/feed.atom", "/feed.rss", "/feed.json"]


def modified(response) -> datetime:
    return parsedate_to_datetime(response.headers["Last-Modified"])


# -- 1, 2: Last-Modified is when the bytes changed ----------------------------------------------

def same_day_post(items):
    # The newest bundled item is dated 2025-11-03 07:15; this one is earlier that same day.
    write(items, "same-day.md", "---\ntitle: Same day\ndate: 2025-11-03\n---\nx\n")


def back_dated_post(items):
    write(items, "old.md", "---\ntitle: From the archive\ndate: 2025-06-01\n---\nx\n")


def edit_without_updated(items):
    path = items / "2025-09-12-why-we-still-publish-feeds.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA sentence added later.\n",
                    encoding="utf-8")


def deletion(items):
    (items / "2024-12-20-winter-solstice.md").unlink()


@pytest.mark.parametrize("change", [same_day_post, back_dated_post, edit_without_updated,
                                    deletion])
@pytest.mark.parametrize("path", FEEDS + ["/"])
def test_a_poller_sending_only_if_modified_since_sees_every_change(make_app, items_dir,
                                                                   change, path):
    app = make_app(items_dir)
    client = app.test_client()
    before = client.get(path)
    change(items_dir)
    app.extensions["feedsvc"].store.refresh()
    after = client.get(path, headers={"If-Modified-Since": before.headers["Last-Modified"]})
    if path == "/" and change is edit_without_updated:
        # The index shows the item's front matter summary, which the edit left alone: the
        # same bytes, rightly "not modified".
        assert after.status_code == 304 and client.get(path).data == before.data
        return
    assert after.status_code == 200 and after.data != before.data
    assert modified(after) > modified(before)  # libcurl drops a 200 that is not newer
    assert after.headers["ETag"] != before.headers["ETag"]
    again = client.get(path, headers={"If-Modified-Since": after.headers["Last-Modified"]})
    assert again.status_code == 304


def test_last_modified_is_never_in_the_future(make_app, items_dir):
    write(items_dir, "2025-12-01-revised.md",
          "---\ntitle: Revised\ndate: 2025-12-01\nupdated: 2031-01-01\n---\nx\n")
    now = datetime.now(timezone.utc)
    response = make_app(items_dir, clock=Clock(start=now, tick=0)).test_client().get(
        "/feed.atom")
    assert feedparser.parse(response.data).entries[0].title == "Revised"
    assert modified(response) <= now


def test_last_modified_is_remembered_across_restarts(make_app, items_dir):
    clock = Clock()
    first = make_app(items_dir, clock=clock).test_client().get("/feed.atom")
    clock.advance(3600)  # an hour later, the same files: the same validators
    second = make_app(items_dir, clock=clock).test_client().get("/feed.atom")
    assert (second.headers["ETag"], second.headers["Last-Modified"]) == \
        (first.headers["ETag"], first.headers["Last-Modified"])
    deletion(items_dir)  # changed while the server was down
    clock.advance(3600)
    third = make_app(items_dir, clock=clock).test_client().get("/feed.atom")
    assert modified(third) >= modified(first) + timedelta(hours=2)


def test_etag_and_last_modified_change_together(make_app, items_dir):
    app = make_app(items_dir)
    client, store = app.test_client(), app.extensions["feedsvc"].store
    seen = []
    for number in range(4):
        response = client.get("/feed.json")
        seen.append((response.headers["ETag"], modified(response)))
        write(items_dir, f"2025-11-03-note-{number}.md", f"---\ntitle: Note {number}\n---\nx\n")
        store.refresh()
    dates = [date for _, date in seen]
    assert len({tag for tag, _ in seen}) == len(set(dates)) == 4
    assert dates == sorted(dates)


def test_two_changes_in_one_second_get_two_seconds(make_app, items_dir):
    clock = Clock(tick=0)
    app = make_app(items_dir, clock=clock)
    client, store = app.test_client(), app.extensions["feedsvc"].store
    first = client.get("/feed.atom")
    same_day_post(items_dir)
    assert store.refresh() is False  # held back: this second already has its snapshot
    assert client.get("/feed.atom").data == first.data
    clock.advance(1)
    store.refresh()
    second = client.get("/feed.atom", headers={"If-Modified-Since":
                                                first.headers["Last-Modified"]})
    assert second.status_code == 200 and modified(second) == modified(first) + timedelta(seconds=1)


def test_a_body_that_had_to_share_a_second_is_never_a_304_by_date(tmp_path):
    """A restart within the second of the last change, or a clock stepped back: the new bytes
    cannot get a later second, so only the ETag may say "not modified"."""
    history = History(tmp_path / "history.sqlite")
    second = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert history.modified("feed", "aaa", second) == (second, False)
    assert history.modified("feed", "bbb", second - timedelta(seconds=30)) == (second, True)
    document = Document(b"bbb", "text/plain", "no-cache", last_modified=second,
                        date_shared=True)
    assert not not_modified(document, None, "Fri, 01 May 2026 12:00:00 GMT")
    assert not_modified(document, None, "Fri, 01 May 2026 12:00:01 GMT")
    history.close()
    reopened = History(tmp_path / "history.sqlite")
    assert reopened.modified("feed", "bbb", second + timedelta(hours=1)) == (second, True)


# -- 3: titles, names and tag labels are text ---------------------------------------------------

TITLE = "Tom & Jerry <b>not bold</b> \"quoted\" 🎉 שלום"


def test_titles_names_and_tags_are_text_in_every_format(make_app, tmp_path):
    items = tmp_path / "items"
    write(items, "2026-01-01-t.md", f"---\ntitle: '{TITLE}'\nauthor: 'Smith & <Sons>'\n"
          "tags: ['R&D <x>']\n---\nThe <em>content</em> is HTML.\n")
    client = make_app(items, title="Q&A <site>").test_client()
    atom = client.get("/feed.atom").data
    tree = etree.fromstring(atom)
    for element in tree.iter(f"{ATOM}title", f"{ATOM}subtitle", f"{ATOM}summary"):
        assert element.get("type") in (None, "text")
    assert tree.find(f"{ATOM}entry/{ATOM}content").get("type") == "html"
    for path in ("/feed.atom", "/feed.rss"):
        feed = feedparser.parse(client.get(path).data)
        assert feed.feed.title == "Q&A <site>"
        assert feed.entries[0].title == TITLE
        assert feed.entries[0].tags[0].term == "R&D <x>"
    assert feedparser.parse(atom).entries[0].author == "Smith & <Sons>"
    document = parse_json_feed(client.get("/feed.json").data)
    assert document["title"] == "Q&A <site>"
    assert document["items"][0]["title"] == TITLE
    assert document["items"][0]["tags"] == ["R&D <x>"]
    assert document["items"][0]["authors"][0]["name"] == "Smith & <Sons>"


# -- 4: distinct tags, distinct URLs ------------------------------------------------------------

TAGS = ["C", "C++", "C#", ".NET", "NET", "F#", "Node.js", "nodejs"]


def test_tags_that_differ_by_a_symbol_get_their_own_feeds(make_app, tmp_path):
    items = tmp_path / "items"
    for number, tag in enumerate(TAGS, start=1):
        write(items, f"2026-01-{number:02d}-post-{number}.md",
              f"---\ntitle: 'About {tag}'\ntags: ['{tag}']\n---\nx\n")
    client = make_app(items).test_client()
    slugs = {tag: tag_slug(tag) for tag in TAGS}
    assert len(set(slugs.values())) == len(TAGS)
    assert slugs["C"] == "c" and slugs["C++"] == "c-plus-plus" and slugs["C#"] == "c-sharp"
    for tag, slug in slugs.items():
        feed = feedparser.parse(client.get(f"/tags/{slug}/feed.atom").data)
        assert [entry.title for entry in feed.entries] == [f"About {tag}"]
        page = client.get(f"/tags/{slug}")
        assert page.status_code == 200 and f"Tagged “{tag}”".encode() in page.data
    redirect = client.get("/tags/C++/feed.atom")
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == BASE_URL + "tags/c-plus-plus/feed.atom"


def test_an_old_tag_url_follows_its_tag(make_app, tmp_path):
    """Before symbols were spelled out, C++ lived at /tags/c: with no C tag, that URL leads to
    C++; with one, it is C's (it keeps its slug)."""
    items = tmp_path / "items"
    write(items, "2026-01-01-cpp.md", "---\ntitle: Templates\ntags: ['C++']\n---\nx\n")
    app = make_app(items)
    client = app.test_client()
    assert client.get("/tags/c/feed.rss").headers["Location"] == \
        BASE_URL + "tags/c-plus-plus/feed.rss"
    write(items, "2026-01-02-c.md", "---\ntitle: Pointers\ntags: [C]\n---\nx\n")
    app.extensions["feedsvc"].store.refresh()
    feed = feedparser.parse(client.get("/tags/c/feed.rss").data)
    assert [entry.title for entry in feed.entries] == ["Pointers"]


# -- 5: per-item documents are not subscriptions ------------------------------------------------

def test_item_pages_advertise_only_real_subscriptions(client):
    response = client.get("/items/winter-solstice")
    tree = html5lib.HTMLParser(namespaceHTMLElements=False).parse(response.data)
    alternates = {link.get("href") for link in tree.findall("head/link")
                  if link.get("rel") == "alternate"}
    assert alternates == {BASE_URL + "feed.atom", BASE_URL + "feed.rss",
                          BASE_URL + "feed.json"}
    visible = {a.get("href") for a in tree.iter("a")}
    assert BASE_URL + "items/winter-solstice.json" in visible
    document = parse_json_feed(client.get("/items/winter-solstice.json").data)
    assert document["expired"] is True and len(document["items"]) == 1


# -- 6: JSON Feed pages never overlap -----------------------------------------------------------

@pytest.mark.parametrize("count", [9, 10, 11, 20, 47])
@pytest.mark.parametrize("start", ["feed.json", "tags/bulk/feed.json"])
def test_following_next_url_never_repeats_an_item(make_app, tmp_path, count, start):
    items = tmp_path / "many"
    for n in range(1, count + 1):
        write(items, f"post-{n}.md", f"---\ntitle: Post {n}\ndate: 2020-01-01T{n // 60:02d}:"
              f"{n % 60:02d}:00Z\ntags: [bulk]\n---\nNumber {n}.\n")
    client = make_app(items, feed_size=10).test_client()
    seen, url = [], BASE_URL + start
    while url:
        document = parse_json_feed(client.get(url[len(BASE_URL) - 1:]).data)
        seen += [item["id"] for item in document["items"]]
        url = document.get("next_url")
    assert len(seen) == len(set(seen)) == count


# -- 7: content is kept -------------------------------------------------------------------------

RICH = """---
title: Pictures and notes
---
A claim.[^1]

<picture>
<source srcset="wide.webp 1x, /img/wide@2x.webp 2x" type="image/webp" media="(min-width: 40em)">
<img src="small.jpg" srcset="small.jpg 1x, https://cdn.example.net/w_800,h_600/small.jpg 2x, javascript:alert(1) 3x" sizes="(min-width: 40em) 40em, 100vw" alt="A harbour">
</picture>

[^1]: Where the claim comes from.
"""


def test_srcset_picture_and_footnotes_survive(make_app, tmp_path):
    items = tmp_path / "items"
    write(items, "2026-01-01-rich.md", RICH)
    document = parse_json_feed(make_app(items).test_client().get("/feed.json").data)
    fragment = html5lib.HTMLParser(namespaceHTMLElements=False).parseFragment(
        document["items"][0]["content_html"])
    page = BASE_URL + "items/rich"
    source = next(fragment.iter("source"))
    assert source.get("srcset") == (BASE_URL + "items/wide.webp 1x, "
                                    + BASE_URL + "img/wide@2x.webp 2x")
    image = next(fragment.iter("img"))
    assert image.get("src") == BASE_URL + "items/small.jpg"
    assert image.get("srcset") == (BASE_URL + "items/small.jpg 1x, "
                                   "https://cdn.example.net/w_800,h_600/small.jpg 2x")
    assert image.get("sizes") == "(min-width: 40em) 40em, 100vw"
    reference = next(a for a in fragment.iter("a") if a.get("href") == page + "#fn-1")
    assert reference.text == "1" and reference.get("id") == "fnref-1"
    note = next(li for li in fragment.iter("li") if li.get("id") == "fn-1")
    assert "Where the claim comes from." in "".join(note.itertext())
    assert "[^1]" not in document["items"][0]["content_html"]


# -- 8: the Subscribe box speaks of articles ----------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/tags/feeds"])
def test_subscribe_box_uses_the_plural(client, path):
    text = client.get(path).get_data(as_text=True)
    assert "as soon as they are published" in text and "as soon as it is" not in text
