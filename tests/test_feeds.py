"""Feeds read by an independent parser (feedparser), not compared with our own output."""

from __future__ import annotations

import time

from datetime import datetime, timedelta, timezone

import feedparser
import pytest

from feedsvc.items import read_item
from feedsvc.config import Settings

from conftest import BASE_URL, BUNDLED_ITEMS, Clock, write
from jsonfeed import parse_json_feed

FORMATS = ["atom", "rss", "json"]
XML_FORMATS = ["atom", "rss"]


def bundled_items():
    """The published bundled items as the parser sees them (title, slug), read independently."""
    settings = Settings(base_url=BASE_URL)
    items = [read_item(path, BUNDLED_ITEMS, settings)
             for path in sorted(BUNDLED_ITEMS.rglob("*")) if path.is_file()]
    return [item for item in items if not item.draft]


def parsed(client, path):
    """The feed at `path` read by feedparser (XML) or the JSON Feed 1.1 schema, in feedparser's
    shape so one test covers every format."""
    response = client.get(path)
    assert response.status_code == 200
    if path.endswith(".json"):
        return as_feedparser(parse_json_feed(response.data))
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def as_feedparser(document: dict):
    def when(text):
        return datetime.fromisoformat(text).astimezone(timezone.utc).timetuple()

    entries = [feedparser.FeedParserDict(
        id=item["id"], title=item["title"], link=item["url"], summary=item["summary"],
        content=[feedparser.FeedParserDict(value=item["content_html"])],
        published_parsed=when(item["date_published"]),
        updated_parsed=when(item["date_modified"])) for item in document["items"]]
    return feedparser.FeedParserDict(entries=entries, feed=document, bozo=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_bundled_item_is_in_every_feed(client, fmt):
    feed = parsed(client, f"/feed.{fmt}")
    expected = bundled_items()
    assert len(feed.entries) == len(expected) == 5
    by_id = {entry.id: entry for entry in feed.entries}
    for item in expected:
        entry = by_id[item.id]
        assert entry.title == item.title
        assert entry.link == item.url
        assert entry.link.startswith(BASE_URL + "items/")
        assert time.mktime(entry.published_parsed) == time.mktime(item.published.utctimetuple())
        if fmt != "rss":  # RSS has no per-item update time
            assert time.mktime(entry.updated_parsed) == time.mktime(item.updated.utctimetuple())
        assert entry.content[0].value.strip()
    assert "Draft" not in str([e.title for e in feed.entries])


@pytest.mark.parametrize("fmt", FORMATS)
def test_newest_first(client, fmt):
    feed = parsed(client, f"/feed.{fmt}")
    dates = [entry.published_parsed for entry in feed.entries]
    assert dates == sorted(dates, reverse=True)


def test_atom_feed_metadata(client):
    feed = parsed(client, "/feed.atom")
    assert feed.version == "atom10"
    assert feed.feed.id.startswith("tag:")
    assert feed.feed.title and feed.feed.subtitle
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"] == BASE_URL + "feed.atom"
    assert links["alternate"] == BASE_URL
    assert feed.feed.language == "en"
    assert feed.feed.author
    newest = max(entry.updated_parsed for entry in feed.entries)
    assert feed.feed.updated_parsed == newest  # never "now"


def test_atom_entries_carry_author_categories_summary(client):
    feed = parsed(client, "/feed.atom")
    entry = next(e for e in feed.entries if e.title == "Why we still publish feeds")
    assert entry.author == "Ada Brennan"
    assert {tag.term for tag in entry.tags} == {"feeds", "open web"}
    assert entry.summary.startswith("Feeds are the oldest")
    assert entry.content[0].type == "text/html"
    # relative links in the content are absolute
    assert f'href="{BASE_URL}items/winter-solstice"' in entry.content[0].value


def test_rss_channel_links(client):
    feed = parsed(client, "/feed.rss")
    assert feed.version == "rss20"
    assert feed.feed.link == BASE_URL  # the channel <link> is the HTML home page
    self_links = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_links == [BASE_URL + "feed.rss"]  # its own URL, not the Atom feed's
    newest = max(entry.published_parsed for entry in feed.entries)
    assert feedparser.parse(client.get("/feed.rss").data).feed.updated_parsed == newest


def test_json_feed_metadata(client):
    document = parse_json_feed(client.get("/feed.json").data)
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["feed_url"] == BASE_URL + "feed.json"
    assert document["home_page_url"] == BASE_URL


def test_feed_size_is_configurable(make_app, items_dir):
    client = make_app(items_dir, feed_size=2).test_client()
    for fmt in XML_FORMATS:
        assert len(parsed(client, f"/feed.{fmt}").entries) == 2
    # JSON Feed pages on without repeating: back to where the older archive ends (5 items,
    # blocks of 2: archive 1 holds the oldest two, the document the newest three).
    assert len(parsed(client, "/feed.json").entries) == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_builds_of_the_same_items_are_byte_identical(make_app, items_dir, fmt):
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    first = make_app(items_dir, clock=Clock(start)).test_client().get(f"/feed.{fmt}").data
    # The second build runs a day later on its clock: a feed that embeds "now" would differ.
    later = Clock(start + timedelta(days=1))
    second = make_app(items_dir, clock=later).test_client().get(f"/feed.{fmt}").data
    assert first == second


def test_ids_survive_edit_rename_and_restart(make_app, items_dir):
    path = items_dir / "2024-12-20-winter-solstice.md"
    before = {e.title: e.id for e in parsed(make_app(items_dir).test_client(), "/feed.atom").entries}
    path.write_text(path.read_text() + "\nA late addition.\n")
    moved = items_dir / "archive" / "2024-12-20-winter-solstice.md"
    moved.parent.mkdir()
    path.rename(moved)
    after = {e.title: e.id for e in parsed(make_app(items_dir).test_client(), "/feed.atom").entries}
    assert before == after


def test_future_and_draft_items_are_not_published(make_app, items_dir):
    write(items_dir, "2999-01-01-future.md", "---\ntitle: From the future\n---\nx\n")
    feed = parsed(make_app(items_dir).test_client(), "/feed.atom")
    titles = [entry.title for entry in feed.entries]
    assert "From the future" not in titles
    assert "Notes for a talk on feed readers" not in titles


def test_scheduled_item_appears_when_its_time_comes(make_app, items_dir):
    clock = Clock(tick=0)
    soon = clock.now.replace(microsecond=0) + timedelta(seconds=2)
    write(items_dir, "soon.md", f"---\ntitle: Soon\ndate: {soon.isoformat()}\n---\nx\n")
    app = make_app(items_dir, clock=clock)
    store = app.extensions["feedsvc"].store
    assert "Soon" not in [e.title for e in parsed(app.test_client(), "/feed.atom").entries]
    assert store.snapshot.next_change == soon
    clock.advance(2.2)
    store.refresh()
    assert "Soon" in [e.title for e in parsed(app.test_client(), "/feed.atom").entries]


def test_plain_text_file_without_front_matter(make_app, tmp_path):
    items = tmp_path / "plain"
    write(items, "2024-05-01-bare.txt", "top of page\n\nBare title\n\nBody.\n\nbottom of page\n")
    feed = parsed(make_app(items).test_client(), "/feed.atom")
    assert [entry.title for entry in feed.entries] == ["Bare title"]
    assert "of page" not in feed.entries[0].content[0].value
