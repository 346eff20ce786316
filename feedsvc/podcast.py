"""RSS feeds as podcasts, when `feedsvc.toml` has a `[podcast]` table (config.Podcast).

Apple Podcasts' `itunes:*` tags come from feedgen's podcast extension. Two things it does not
do are done by the small extension here: `itunes:explicit` as Apple now spells it (`true` or
`false`; feedgen writes the old `yes`/`clean`, which the W3C validator rejects), and the
Podcasting 2.0 namespace (podcast:guid, podcast:locked, podcast:transcript), which feedgen
has no extension for. Every RSS document of the site is a podcast feed then: the site's and
each tag's and section's, so a blog whose episodes are tagged `episodes` can hand podcast
apps `/tags/episodes/feed.rss`.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

from .config import Podcast, Settings
from .items import Author, Item

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
# Podcasting 2.0's podcast:guid is this namespace's UUIDv5 of the feed's URL without its
# scheme and trailing slashes (podcast-namespace docs/1.0.md, "guid").
GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def podcast_guid(feed_url: str) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, _SCHEME.sub("", feed_url).rstrip("/")))


class _Show(BaseExtension):
    """The channel's `itunes:explicit`, `podcast:guid` and `podcast:locked`."""

    def __init__(self):
        self.explicit = False
        self.guid = ""
        self.locked_by = ""  # the owner's email, when the show is locked

    def extend_ns(self):
        return {"podcast": PODCAST_NS}

    def extend_rss(self, feed):
        channel = feed[0]
        _element(channel, ITUNES_NS, "explicit", "true" if self.explicit else "false")
        _element(channel, PODCAST_NS, "guid", self.guid)
        if self.locked_by:
            _element(channel, PODCAST_NS, "locked", "yes", owner=self.locked_by)
        return feed


class _Episode(BaseEntryExtension):
    """An item's `itunes:explicit` and `podcast:transcript`s."""

    def __init__(self):
        self.explicit: bool | None = None
        self.transcripts = ()

    def extend_rss(self, item):
        if self.explicit is not None:
            _element(item, ITUNES_NS, "explicit", "true" if self.explicit else "false")
        for transcript in self.transcripts:
            attributes = {"url": transcript.url, "type": transcript.type}
            if transcript.language:
                attributes["language"] = transcript.language
            if transcript.rel:
                attributes["rel"] = transcript.rel
            _element(item, PODCAST_NS, "transcript", None, **attributes)
        return item


def _element(parent, namespace: str, name: str, text: str | None, **attributes):
    element = etree.SubElement(parent, f"{{{namespace}}}{name}", **attributes)
    element.text = text


def show(fg, podcast: Podcast, settings: Settings, feed_url: str, title: str,
         home_url: str) -> None:
    """Make the RSS channel `fg` a podcast: `feed_url` is the subscription feed it belongs to
    (an archive's is its `current`), whose URL names the show for podcast:guid."""
    fg.load_extension("podcast", atom=False, rss=True)
    fg.register_extension("show", _Show, _Episode, atom=False, rss=True)
    fg.podcast.itunes_author(podcast.author or settings.author)
    fg.podcast.itunes_owner(name=podcast.owner_name, email=podcast.owner_email)
    fg.podcast.itunes_category([{"cat": main, **({"sub": sub} if sub else {})}
                                for main, sub in podcast.categories])
    fg.podcast.itunes_image(podcast.image)
    fg.podcast.itunes_type(podcast.type)
    if podcast.complete:
        fg.podcast.itunes_complete("yes")
    # RSS's own <image>, for readers that show a feed's picture; the validator wants its
    # title and link to be the channel's.
    fg.image(url=podcast.image, title=title, link=home_url)
    fg.show.explicit = podcast.explicit
    fg.show.guid = podcast.guid or podcast_guid(feed_url)
    fg.show.locked_by = podcast.owner_email if podcast.locked else ""


def episode(entry, item: Item, authors: tuple[Author, ...]) -> None:
    """An item's episode tags: who made it, and from its front matter (media.py) its length,
    numbers, type, picture, rating and transcripts."""
    entry.podcast.itunes_author(", ".join(author.name for author in authors))
    media = item.media
    if media is None:
        return
    if media.duration:
        entry.podcast.itunes_duration(media.duration)  # seconds, as Apple recommends
    if media.season:
        entry.podcast.itunes_season(media.season)
    if media.episode:
        entry.podcast.itunes_episode(media.episode)
    if media.episode_type:
        entry.podcast.itunes_episode_type(media.episode_type)
    if urlsplit(media.image).path.endswith((".jpg", ".png")):  # Apple takes no other
        entry.podcast.itunes_image(media.image)
    entry.show.explicit = media.explicit
    entry.show.transcripts = media.transcripts
