"""An item's enclosures and picture (media.py) in each feed format.

- Atom: every enclosure is a `link rel="enclosure"` with its length and type (RFC 4287
  section 4.2.7.2); the picture is no enclosure, so it is a Media RSS `media:thumbnail`.
- RSS: one `<enclosure>` per item, as RSS 2.0 allows (the W3C validator warns of a second, and
  podcast apps play the first): the first one. Any others are Media RSS `media:content`, which
  feedparser, Feedly and Inoreader read; the picture is `media:thumbnail`.
- JSON Feed 1.1: `attachments` (mime_type, size_in_bytes, duration_in_seconds) and `image`.
"""

from __future__ import annotations

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

from .content import picture
from .items import Item
from .media import Enclosure


def item_picture(item: Item, full: bool) -> str:
    """The picture a feed shows for an item. Without the content (`archive_content =
    "summary"`), only one its front matter names: a picture found in the content would cost
    rendering the content that document leaves out."""
    if full:
        return picture(item)
    return item.media.image if item.media is not None else ""


def needs_media_rss(items, full: bool) -> bool:
    """Whether any entry will carry a Media RSS element (feedgen's media extension is loaded
    only then: feeds without pictures keep their bytes)."""
    return any(item_picture(item, full) or (item.media and len(item.media.enclosures) > 1)
               for item in items)


class _AtomEnclosures(BaseEntryExtension):
    """Atom's enclosure links. feedgen's own entry links lose their rel and type (its
    atom_entry reads them back from the element it just made), and a link without rel is
    rel="alternate": an episode's audio would become the entry's web page."""

    def __init__(self):
        self.enclosures: tuple[Enclosure, ...] = ()

    def extend_atom(self, entry):
        # Unqualified, as feedgen writes Atom: under its literal xmlns attribute.
        for enclosure in self.enclosures:
            etree.SubElement(entry, "link", _atom_link(enclosure))
        return entry


def load_extensions(fg, fmt: str, media_rss: bool) -> None:
    """The feedgen extensions entries will need: before the first entry is added."""
    if fmt == "atom":
        fg.register_extension("enclosures", BaseExtension, _AtomEnclosures, atom=True,
                              rss=False)
    if media_rss:
        fg.load_extension("media", atom=True, rss=True)


def add_enclosures(entry, item: Item, fmt: str, full: bool, media_rss: bool) -> None:
    """`item`'s enclosures and picture on the feedgen entry `entry` (Atom or RSS)."""
    enclosures = item.media.enclosures if item.media is not None else ()
    if fmt == "atom":
        entry.enclosures.enclosures = enclosures
    elif enclosures:
        first = enclosures[0]
        entry.enclosure(first.url, str(first.length), first.type)
        for other in enclosures[1:]:
            entry.media.content(_media_content(other), group=None)
    image = item_picture(item, full) if media_rss else ""
    if image:
        entry.media.thumbnail({"url": image}, group=None)


def _atom_link(enclosure: Enclosure) -> dict:
    link = {"rel": "enclosure", "href": enclosure.url, "type": enclosure.type}
    if enclosure.length:
        link["length"] = str(enclosure.length)
    if enclosure.title:
        link["title"] = enclosure.title
    return link


def _media_content(enclosure: Enclosure) -> dict:
    content = {"url": enclosure.url, "type": enclosure.type}
    if enclosure.length:
        content["fileSize"] = str(enclosure.length)
    if enclosure.duration:
        content["duration"] = str(enclosure.duration)
    return content


def json_enclosures(item: Item, full: bool) -> dict:
    """The JSON Feed item's `image` and `attachments`, when it has them."""
    found = {}
    image = item_picture(item, full)
    if image:
        found["image"] = image
    if item.media is not None and item.media.enclosures:
        found["attachments"] = [_attachment(enclosure) for enclosure in item.media.enclosures]
    return found


def _attachment(enclosure: Enclosure) -> dict:
    attachment = {"url": enclosure.url, "mime_type": enclosure.type}
    if enclosure.title:
        attachment["title"] = enclosure.title
    if enclosure.length:
        attachment["size_in_bytes"] = enclosure.length
    if enclosure.duration:
        attachment["duration_in_seconds"] = enclosure.duration
    return attachment
