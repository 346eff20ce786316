"""`[podcast]` makes the RSS feeds podcasts: read by podcastparser (gPodder's parser, the one
podcast apps' code is closest to) and feedparser, and judged by the W3C validator when its
code is checked out in `.feedvalidator/` (README, "Test it")."""

from __future__ import annotations

import subprocess
import sys
import uuid
from io import BytesIO
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feedsvc.config import ConfigError, load_settings

from conftest import BASE_URL, write

podcastparser = pytest.importorskip("podcastparser")
PODCAST = {"owner": "Ada Brennan <ada@example.org>", "category": ["News > Tech News",
                                                                  "Technology"],
           "image": "/cover.jpg", "explicit": False, "type": "serial"}
VALIDATOR = Path(__file__).resolve().parent.parent / ".feedvalidator" / "src"
NS = {"itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
      "podcast": "https://podcastindex.org/namespace/1.0"}


def show(folder: Path) -> None:
    """Three episodes: a bundle with its audio and transcript, two hosted elsewhere."""
    (folder / "episodes/one").mkdir(parents=True)
    (folder / "episodes/one/one.mp3").write_bytes(b"\0" * 5000)
    (folder / "episodes/one/one.vtt").write_text("WEBVTT\n")
    write(folder, "episodes/one/index.md", """---
title: The cranes come back
date: 2025-01-05T10:00:00+01:00
enclosure: one.mp3
duration: 1:02:03
season: 1
episode: 1
explicit: true
transcript: one.vtt
tags: [episodes]
---
Show notes.
""")
    for number, seconds in ((2, 1800), (3, 95)):
        write(folder, f"2025-01-{10 + number}-episode-{number}.md", f"""---
title: Episode {number}
enclosure: {{url: https://cdn.example.net/{number}.m4a, length: {number}000, type: audio/x-m4a}}
duration: {seconds}
season: 1
episode: {number}
episode_type: {"bonus" if number == 3 else "full"}
tags: [episodes]
---
Notes for {number}.
""")


def test_every_episode_reaches_podcast_apps(make_app, tmp_path):
    items = tmp_path / "items"
    show(items)
    client = make_app(items, title="Harbour Talk", podcast=PODCAST).test_client()
    data = client.get("/feed.rss").data
    parsed = podcastparser.parse(BASE_URL + "feed.rss", BytesIO(data))
    assert parsed["title"] == "Harbour Talk" and parsed["type"] == "serial"
    assert parsed["cover_url"] == BASE_URL + "cover.jpg"
    assert parsed["itunes_owner"] == {"name": "Ada Brennan", "email": "ada@example.org"}
    assert parsed["itunes_categories"] == [["News", "Tech News"], ["Technology"]]
    assert parsed["explicit"] is False
    episodes = {episode["title"]: episode for episode in parsed["episodes"]}
    assert set(episodes) == {"The cranes come back", "Episode 2", "Episode 3"}
    one = episodes["The cranes come back"]
    assert one["enclosures"] == [{"url": BASE_URL + "items/one/one.mp3", "file_size": 5000,
                                  "mime_type": "audio/mpeg"}]
    assert (one["total_time"], one["season"], one["number"], one["explicit"]) == \
        (3723, 1, 1, True)
    assert [(e["total_time"], e["type"], e["enclosures"][0]["file_size"])
            for e in (episodes["Episode 2"], episodes["Episode 3"])] == \
        [(1800, "full", 2000), (95, "bonus", 3000)]

    feed = feedparser.parse(data)
    assert not feed.bozo
    durations = {e.title: e.itunes_duration for e in feed.entries}
    assert durations == {"The cranes come back": "3723", "Episode 2": "1800", "Episode 3": "95"}
    assert feed.feed.image.href == BASE_URL + "cover.jpg"

    # Podcasting 2.0: the show's guid is the UUIDv5 of its feed URL without the scheme.
    channel = etree.fromstring(data).find("channel")
    guid = uuid.uuid5(uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6"),
                      "feeds.example.org/feed.rss")
    assert channel.findtext("podcast:guid", namespaces=NS) == str(guid)
    transcript = channel.find("item/podcast:transcript", NS)
    assert transcript.attrib == {"url": BASE_URL + "items/one/one.vtt", "type": "text/vtt"}

    # A tag's feed is a show of its own; its archives belong to it.
    tag = etree.fromstring(client.get("/tags/episodes/feed.rss").data).find("channel")
    assert tag.findtext("podcast:guid", namespaces=NS) == str(uuid.uuid5(
        uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6"),
        "feeds.example.org/tags/episodes/feed.rss"))
    assert len(tag.findall("item/enclosure")) == 3
    # Atom and JSON Feed carry no itunes tags; JSON Feed's icon is the cover.
    assert b"itunes" not in client.get("/feed.atom").data
    assert b'"icon": "https://feeds.example.org/cover.jpg"' in client.get("/feed.json").data


def test_an_archive_is_part_of_its_show(make_app, tmp_path):
    items = tmp_path / "items"
    show(items)
    client = make_app(items, podcast=PODCAST, feed_size=1).test_client()
    guids = {path: etree.fromstring(client.get(path).data).findtext(
        "channel/podcast:guid", namespaces=NS) for path in ("/feed.rss", "/archive/1.rss")}
    assert len(set(guids.values())) == 1


@pytest.mark.parametrize("table, message", [
    ({**PODCAST, "image": ""}, "[podcast] needs image"),
    ({**PODCAST, "image": "/cover.webp"}, "must be an http(s) URL ending in .jpg or .png"),
    ({**PODCAST, "category": "Tech"}, "category 'Tech' is not one of Apple Podcasts' "
                                      "(did you mean 'Technology'?)"),
    ({**PODCAST, "category": "News > Cooking"}, "'News' has no subcategory 'Cooking'"),
    ({**PODCAST, "owner": "Ada Brennan"}, "needs the owner's email"),
    ({**PODCAST, "explict": True}, "unknown key 'explict' (did you mean 'explicit'?)"),
    ({**PODCAST, "type": "weekly"}, "type 'weekly' must be"),
])
def test_podcast_settings_say_what_is_missing(table, message):
    with pytest.raises(ConfigError) as raised:
        load_settings(env={}, podcast=table)
    assert message in str(raised.value)


def test_a_bad_podcast_table_is_one_line(tmp_path):
    (tmp_path / "items").mkdir()
    (tmp_path / "feedsvc.toml").write_text('[podcast]\nowner = "Ada <ada@example.org>"\n'
                                           'category = "Technology"\n')
    result = subprocess.run([sys.executable, "-m", "feedsvc", "check", "--items", "items"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    # click's usage error, as for every bad setting: the message is one line.
    assert result.stderr.strip().splitlines()[-1] == (
        'Error: [podcast] needs image = "https://.../cover.jpg": Apple Podcasts lists no '
        "show without its cover art (square, 1400 to 3000 px)")


@pytest.mark.skipif(not VALIDATOR.is_dir(), reason="the W3C validator is not checked out in "
                    ".feedvalidator/ (README, 'Test it')")
def test_the_w3c_validator_has_no_errors_or_recommendations(make_app, tmp_path):
    sys.path.insert(0, str(VALIDATOR))
    try:
        import feedvalidator
        from feedvalidator import compatibility
        from feedvalidator.formatter.text_plain import Formatter
    finally:
        sys.path.remove(str(VALIDATOR))
    items = tmp_path / "items"
    show(items)
    (items / "episodes/one/cover.jpg").write_bytes(b"\xff\xd8\xff")
    write(items, "2025-02-01-people.md", "---\ntitle: People\nimage: /img/a.png\nauthor: "
                                         "[Ada, Bo <bo@example.org>]\ncontributor: Cy\n---\nx\n")
    client = make_app(items, podcast=PODCAST).test_client()
    for path in ("/feed.rss", "/feed.atom", "/tags/episodes/feed.rss", "/items/one.atom"):
        events = feedvalidator.validateString(client.get(path).data, firstOccurrenceOnly=1,
                                              base=BASE_URL + path.lstrip("/"))["loggedEvents"]
        assert not compatibility.AA(events), (path, Formatter(compatibility.AA(events)))


OLD_SHOW = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel><title>Harbour Talk</title><link>https://old-host.example/harbour</link>
<description>Conversations</description>
<item><title>Episode 2</title><guid isPermaLink="false">old-host-ep-2</guid>
<pubDate>Sun, 12 Jan 2025 08:00:00 +0000</pubDate><description>Second.</description>
<enclosure url="https://media.old-host.example/2.mp3" length="2000" type="audio/mpeg"/>
<itunes:duration>00:30:00</itunes:duration><itunes:episode>2</itunes:episode>
<itunes:season>1</itunes:season><itunes:episodeType>full</itunes:episodeType></item>
<item><title>Trailer</title><guid isPermaLink="false">old-host-trailer</guid>
<pubDate>Sun, 05 Jan 2025 08:00:00 +0000</pubDate><description>Soon.</description>
<enclosure url="https://media.old-host.example/t.mp3" length="100" type="audio/mpeg"/>
<itunes:duration>95</itunes:duration><itunes:episodeType>trailer</itunes:episodeType></item>
</channel></rss>
"""


def test_a_show_moving_here_keeps_its_episodes(make_app, tmp_path):
    from click.testing import CliRunner

    from feedsvc.cli import main

    old = write(tmp_path, "old.rss", OLD_SHOW)
    items = tmp_path / "items"
    items.mkdir()
    result = CliRunner().invoke(main, ["import", "--feed", "--items", str(items), str(old)])
    assert result.exit_code == 0 and "2 imported" in result.output, result.output
    data = make_app(items, podcast=PODCAST).test_client().get("/feed.rss").data
    before = podcastparser.parse("https://old-host.example/feed", BytesIO(OLD_SHOW.encode()))
    after = podcastparser.parse(BASE_URL + "feed.rss", BytesIO(data))
    kept = ("guid", "title", "published", "total_time", "enclosures", "type", "season",
            "number")

    def episodes(show):
        return sorted(({key: e.get(key) for key in kept} for e in show["episodes"]),
                      key=lambda episode: episode["guid"])

    assert episodes(after) == episodes(before)
    assert [e["number"] for e in episodes(after)] == [2, None]
