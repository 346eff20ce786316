"""A selection of items -> Atom 1.0, RSS 2.0 and JSON Feed 1.1 bytes.

feedgen builds Atom and RSS. Its defaults are pinned down here: `updated`/`lastBuildDate` are
the newest item's update time, never "now", so unchanged items give byte-identical documents
(and stable ETags); entries are appended in our order; RSS gets its own `rel="self"`.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from importlib.metadata import version

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .config import Settings
from .content import content_html, summary_text
from .enclosures import add_enclosures, json_enclosures, load_extensions, needs_media_rss
from .items import Author, Item
from .text import clean_text
from . import podcast
from .selections import FeedSpec, Link
from .urls import document_url

ATOM_NS = "http://www.w3.org/2005/Atom"
FH_NS = "http://purl.org/syndication/history/1.0"
GENERATOR = ("feedsvc", version("feedsvc"), "https://pypi.org/project/feedsvc/")
MEDIA_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml",
               "json": "application/feed+json"}


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

    def _add(self, parent, link_tag: str):
        for link in self.links:
            element = etree.SubElement(parent, link_tag, href=link.href, rel=link.rel)
            if link.type:
                element.set("type", link.type)
        if self.archive:
            etree.SubElement(parent, f"{{{FH_NS}}}archive")

    def extend_atom(self, feed):
        # feedgen writes Atom with unqualified names under a literal xmlns attribute: a
        # qualified {Atom}link here would come out as <ns0:link>.
        self._add(feed, "link")
        return feed

    def extend_rss(self, feed):
        self._add(feed[0], f"{{{ATOM_NS}}}link")
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
    fg.link(href=spec.self_url, rel="self", type=MEDIA_TYPES[fmt])
    fg.link(href=spec.home_url, rel="alternate", type="text/html")
    fg.language(settings.language)
    fg.generator(*GENERATOR)
    fg.updated(feed_updated(spec, settings))
    return fg


def _add_entries(fg: FeedGenerator, spec: FeedSpec, settings: Settings, fmt: str) -> None:
    full = full_content(spec, settings)
    media_rss = needs_media_rss(spec.items, full)
    load_extensions(fg, fmt, media_rss)
    if fmt == "rss" and settings.podcast is not None:
        # An archive belongs to the show of its subscription feed (`current`).
        current = next((link.href for link in spec.links if link.rel == "current"),
                       spec.self_url)
        podcast.show(fg, settings.podcast, settings, current, spec.title, spec.home_url)
    for item in spec.items:
        _add_entry(fg, item, settings, fmt, full, media_rss)


def _add_entry(fg: FeedGenerator, item: Item, settings: Settings, fmt: str,
               full: bool, media_rss: bool) -> None:
    entry = fg.add_entry(order="append")
    entry.id(item.id)
    entry.guid(guid(item), permalink=False)
    entry.title(item.title)
    entry.link(href=item.url, rel="alternate", type="text/html")
    entry.published(item.published)
    entry.updated(item.updated)
    for tag in item.tags:
        entry.category(term=tag, label=tag)
    authors = _authors(item, settings)
    if fmt == "atom":
        entry.author([_author_dict(author) for author in authors])
        if item.contributors:
            entry.contributor([_author_dict(person) for person in item.contributors])
        # An entry with neither content nor summary leaves readers nothing to show: then
        # the title is the summary.
        summary = summary_text(item) or \
            ("" if full and content_html(item).strip() else item.title)
        if summary:
            entry.summary(summary)
    else:
        _rss_people(entry, authors, item.contributors)
        # <description> is HTML in practice: escape the plain-text summary.
        entry.description(html.escape(summary_text(item), quote=False))
    if full and content_html(item).strip():  # the alternate link stands in for none
        entry.content(content_html(item), type="html" if fmt == "atom" else None)
    add_enclosures(entry, item, fmt, full, media_rss)
    if fmt == "rss" and settings.podcast is not None:
        podcast.episode(entry, item, authors)


def _rss_people(entry, authors: tuple[Author, ...], contributors: tuple[Author, ...]) -> None:
    """RSS's <author> is one email address (`ada@example.org (Ada Brennan)`): a second one is
    invalid, a name alone no address. So one author with an email is <author>, as RSS 2.0
    has it; anything else is a dc:creator per name, as WordPress writes them and feedparser,
    NetNewsWire and newsboat show them. Contributors are dc:contributor."""
    if len(authors) == 1 and authors[0].email:
        entry.author(_author_dict(authors[0]))
    else:
        entry.dc.dc_creator([author.name for author in authors])
    if contributors:
        entry.dc.dc_contributor([person.name for person in contributors])


def full_content(spec: FeedSpec, settings: Settings) -> bool:
    """Whether entries carry the item's content: always in the subscription feeds, and in
    archives unless `archive_content = "summary"`. Full-content archives are most of a large
    site's export (each item is in the site's and each of its tags' archives, in three
    formats); a reader going back that far can open the page."""
    return not (spec.archive and settings.archive_content == "summary")


def atom_feed(spec: FeedSpec, settings: Settings) -> bytes:
    fg = _generator(spec, settings, "atom")
    _add_entries(fg, spec, settings, "atom")
    return fg.atom_str(pretty=True)


def rss_feed(spec: FeedSpec, settings: Settings) -> bytes:
    fg = _generator(spec, settings, "rss")
    fg.load_extension("dc", atom=False, rss=True)
    fg.description(spec.subtitle or spec.title)
    if spec.max_age:
        fg.ttl(max(1, spec.max_age // 60))
    _add_entries(fg, spec, settings, "rss")
    return fg.rss_str(pretty=True)


def json_feed(spec: FeedSpec, settings: Settings) -> bytes:
    """JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/)."""
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": spec.home_url,
        "feed_url": spec.self_url,
        "description": spec.subtitle or spec.title,
        "language": settings.language,
        "authors": [_json_author(Author(settings.author, settings.author_email,
                                        settings.author_uri))],
    }
    if settings.podcast is not None:
        document["icon"] = settings.podcast.image  # square, as JSON Feed's icon should be
    hubs = [{"type": "WebSub", "url": link.href} for link in spec.links if link.rel == "hub"]
    if hubs:
        document["hubs"] = hubs
    next_archive = [link.href for link in spec.links if link.rel == "prev-archive"]
    if next_archive:
        # JSON Feed's next_url pages toward older items, as prev-archive does in RFC 5005.
        document["next_url"] = next_archive[0]
    document.update(spec.extra)
    full = full_content(spec, settings)
    document["items"] = [json_item(item, settings, full) for item in spec.items]
    return json_bytes(document)


def json_bytes(document) -> bytes:
    """JSON with <, > and & escaped, so the bytes are inert even if something embeds or sniffs
    them as HTML; parsers read the same strings."""
    text = json.dumps(document, ensure_ascii=False, indent=2)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .encode("utf-8"))


def guid(item: Item) -> str:
    """RSS's guid and JSON Feed's id: the entry id, or the id an old feed gave the entry
    when it is no URI (front matter `guid`: `feedsvc import` keeps a Ghost post's there), so
    its readers know it again. Atom's id must be a URI: it has the `tag:` form."""
    value = item.extra.get("guid")
    return clean_text(value).strip() or item.id if isinstance(value, str) else item.id


def json_item(item: Item, settings: Settings, full: bool = True) -> dict:
    entry = {
        "id": guid(item),
        "url": item.url,
        "title": item.title,
        # JSON Feed requires content_html or content_text: without the content, the summary.
        **({"content_html": content_html(item)} if full else
           {"content_text": summary_text(item) or item.title}),
        "summary": summary_text(item),
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
        "authors": [_json_author(author) for author in _authors(item, settings)],
    }
    if item.tags:
        entry["tags"] = list(item.tags)
    if item.lang:
        entry["language"] = item.lang
    entry.update(json_enclosures(item, full))
    if item.contributors:
        # JSON Feed has authors only; others who worked on it go in an extension object
        # (section "Extensions": a key starting with _, which readers that do not know it
        # ignore), with name and URL as its authors have them.
        entry["_feedsvc"] = {"about": GENERATOR[2], "contributors": [
            _json_author(person) for person in item.contributors]}
    return entry


def _json_author(author: Author) -> dict:
    entry = {"name": author.name}
    if author.uri:
        entry["url"] = author.uri
    elif author.email:
        entry["url"] = "mailto:" + author.email
    return entry



def entry_document(item: Item, settings: Settings) -> bytes:
    """A standalone Atom Entry Document (RFC 4287 section 4.1.2) for one item."""
    self_url = document_url(item.url, "atom")
    spec = FeedSpec(id="urn:x-feedsvc:entry", title=item.title, subtitle="", home_url=item.url,
                    self_url=self_url, items=(item,))
    feed = etree.fromstring(atom_feed(spec, settings))
    entry = feed.find(f"{{{ATOM_NS}}}entry")
    entry.append(etree.Element(f"{{{ATOM_NS}}}link", href=self_url, rel="self",
                               type="application/atom+xml;type=entry"))
    entry.set("{http://www.w3.org/XML/1998/namespace}lang", item.lang or settings.language)
    root = etree.fromstring(etree.tostring(entry))  # re-rooted: xmlns moves onto <entry>
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def item_json_document(item: Item, settings: Settings) -> bytes:
    """A JSON Feed 1.1 document holding just this item. `expired` (JSON Feed 1.1) says it
    will never carry another item: it is no subscription."""
    spec = FeedSpec(id="", title=item.title, subtitle=summary_text(item), home_url=item.url,
                    self_url=document_url(item.url, "json"), items=(item,),
                    extra={"expired": True})
    return json_feed(spec, settings)
