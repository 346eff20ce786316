"""A selection of items -> Atom 1.0, RSS 2.0 and JSON Feed 1.1 bytes.

feedgen builds Atom and RSS. Its defaults are pinned down here: `updated`/`lastBuildDate` are
the newest item's update time, never "now", so unchanged items give byte-identical documents
(and stable ETags); entries are appended in our order; RSS gets its own `rel="self"`.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .config import Settings
from .content import content_html, summary_text
from .items import Author, Item

ATOM_NS = "http://www.w3.org/2005/Atom"
FH_NS = "http://purl.org/syndication/history/1.0"
GENERATOR = ("feedsvc", version("feedsvc"), "https://pypi.org/project/feedsvc/")
MEDIA_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml",
               "json": "application/feed+json"}


@dataclass(frozen=True)
class Link:
    href: str
    rel: str
    type: str = ""


@dataclass(frozen=True)
class FeedSpec:
    """What one feed document shows, independent of its format."""

    id: str  # the feed's own id (RFC 4151 tag: URI)
    title: str
    subtitle: str
    home_url: str  # rel="alternate": the HTML page this feed mirrors
    self_urls: dict  # format -> absolute URL of that document
    items: tuple[Item, ...]
    links: tuple[Link, ...] = ()  # hubs, RFC 5005 archive links, ...
    archive: bool = False  # RFC 5005 section 4: an archive document
    max_age: int = 0  # RSS <ttl>, in seconds
    extra: dict = field(default_factory=dict)


def feed_updated(spec: FeedSpec, settings: Settings) -> datetime:
    """Newest update among the items; a fixed date for an empty feed (never "now")."""
    if spec.items:
        return max(item.updated for item in spec.items)
    return datetime.fromisoformat(settings.tag_date).replace(tzinfo=timezone.utc)


def render(fmt: str, spec: FeedSpec, settings: Settings) -> bytes:
    if fmt == "atom":
        return atom_feed(spec, settings)
    if fmt == "rss":
        return rss_feed(spec, settings)
    return json_feed(spec, settings)


def _authors(item: Item, settings: Settings) -> tuple[Author, ...]:
    return item.authors or (Author(settings.author, settings.author_email, settings.author_uri),)


def _author_dict(author: Author) -> dict:
    return {key: value for key, value in
            (("name", author.name), ("email", author.email), ("uri", author.uri)) if value}


class _ExtraLinks(BaseExtension):
    """atom:link elements feedgen will not write itself (hub and archive links in RSS) and
    the RFC 5005 `fh:archive` marker."""

    def __init__(self):
        self.links: tuple[Link, ...] = ()
        self.archive = False
        self.rss = False

    def extend_ns(self):
        namespaces = {"atom": ATOM_NS} if self.rss else {}
        if self.archive:
            namespaces["fh"] = FH_NS
        return namespaces

    def _add(self, parent):
        for link in self.links:
            element = etree.SubElement(parent, f"{{{ATOM_NS}}}link", href=link.href, rel=link.rel)
            if link.type:
                element.set("type", link.type)
        if self.archive:
            etree.SubElement(parent, f"{{{FH_NS}}}archive")

    def extend_atom(self, feed):
        self._add(feed)
        return feed

    def extend_rss(self, feed):
        self._add(feed[0])
        return feed


def _generator(spec: FeedSpec, settings: Settings, fmt: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension("extralinks", _ExtraLinks, _ExtraLinks, atom=True, rss=True)
    fg.extralinks.links = spec.links
    fg.extralinks.archive = spec.archive
    fg.extralinks.rss = fmt == "rss"
    fg.id(spec.id)
    fg.title(spec.title)
    fg.subtitle(spec.subtitle or spec.title)
    fg.author(_author_dict(Author(settings.author, settings.author_email, settings.author_uri)))
    # feedgen's RSS takes its channel <link> from the last rel="alternate" and its atom:link
    # rel="self" from the first rel="self": self first, the HTML home page last.
    fg.link(href=spec.self_urls[fmt], rel="self", type=MEDIA_TYPES[fmt])
    fg.link(href=spec.home_url, rel="alternate", type="text/html")
    fg.language(settings.language)
    fg.generator(*GENERATOR)
    fg.updated(feed_updated(spec, settings))
    return fg


def _add_entry(fg: FeedGenerator, item: Item, settings: Settings, fmt: str) -> None:
    entry = fg.add_entry(order="append")
    entry.id(item.id)
    entry.guid(item.id, permalink=False)
    entry.title(item.title)
    entry.link(href=item.url, rel="alternate", type="text/html")
    entry.published(item.published)
    entry.updated(item.updated)
    for tag in item.tags:
        entry.category(term=tag, label=tag)
    authors = _authors(item, settings)
    if fmt == "atom":
        entry.author([_author_dict(author) for author in authors])
        entry.summary(summary_text(item))
    else:
        # RSS <author> must be an email address; names alone go to dc:creator.
        if all(author.email for author in authors):
            entry.author([_author_dict(author) for author in authors])
        else:
            entry.dc.dc_creator([author.name for author in authors])
        # <description> is HTML in practice: escape the plain-text summary.
        entry.description(html.escape(summary_text(item), quote=False))
    entry.content(content_html(item), type="html" if fmt == "atom" else None)


def atom_feed(spec: FeedSpec, settings: Settings) -> bytes:
    fg = _generator(spec, settings, "atom")
    for item in spec.items:
        _add_entry(fg, item, settings, "atom")
    return fg.atom_str(pretty=True)


def rss_feed(spec: FeedSpec, settings: Settings) -> bytes:
    fg = _generator(spec, settings, "rss")
    fg.load_extension("dc", atom=False, rss=True)
    fg.description(spec.subtitle or spec.title)
    if spec.max_age:
        fg.ttl(max(1, spec.max_age // 60))
    for item in spec.items:
        _add_entry(fg, item, settings, "rss")
    return fg.rss_str(pretty=True)


def json_feed(spec: FeedSpec, settings: Settings) -> bytes:
    """JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/)."""
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": spec.home_url,
        "feed_url": spec.self_urls["json"],
        "description": spec.subtitle or spec.title,
        "language": settings.language,
        "authors": [_json_author(Author(settings.author, settings.author_email,
                                        settings.author_uri))],
    }
    hubs = [{"type": "WebSub", "url": link.href} for link in spec.links if link.rel == "hub"]
    if hubs:
        document["hubs"] = hubs
    next_archive = [link.href for link in spec.links if link.rel == "prev-archive"]
    if next_archive:
        # JSON Feed's next_url pages toward older items, as prev-archive does in RFC 5005.
        document["next_url"] = next_archive[0]
    document["items"] = [json_item(item, settings) for item in spec.items]
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def json_item(item: Item, settings: Settings) -> dict:
    entry = {
        "id": item.id,
        "url": item.url,
        "title": item.title,
        "content_html": content_html(item),
        "summary": summary_text(item),
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
        "authors": [_json_author(author) for author in _authors(item, settings)],
    }
    if item.tags:
        entry["tags"] = list(item.tags)
    if item.lang:
        entry["language"] = item.lang
    return entry


def _json_author(author: Author) -> dict:
    entry = {"name": author.name}
    if author.uri:
        entry["url"] = author.uri
    elif author.email:
        entry["url"] = "mailto:" + author.email
    return entry


def subscription_spec(snapshot, settings: Settings) -> FeedSpec:
    """The main feed: the newest `feed_size` published items."""
    return FeedSpec(
        id=f"tag:{settings.authority},{settings.tag_date}:feed",
        title=settings.title,
        subtitle=settings.subtitle,
        home_url=settings.url(),
        self_urls={fmt: settings.url(f"feed.{fmt}") for fmt in MEDIA_TYPES},
        items=snapshot.items[: settings.feed_size],
        links=tuple(Link(hub, "hub") for hub in settings.hubs),
        max_age=settings.feed_max_age,
    )
