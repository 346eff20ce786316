"""Which items each feed document shows, independent of its format: the site's, a tag's or
a section's selection (newest first), cut into RFC 5005 archive blocks, as a `FeedSpec` that
feeds.py renders in each format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Settings
from .items import Item
from . import urls


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
    self_url: str  # absolute URL of this document
    items: tuple[Item, ...]
    links: tuple[Link, ...] = ()  # hubs, RFC 5005 archive links, ...
    archive: bool = False  # RFC 5005 section 4: an archive document
    max_age: int = 0  # RSS <ttl>, in seconds
    extra: dict = field(default_factory=dict)  # more top-level JSON Feed keys



@dataclass(frozen=True)
class Selection:
    """The items one family of feeds shows: the site's, one tag's or one section's."""

    kind: str  # "site", "tag" or "section"
    key: str  # "" for the site, a tag's slug, a section's path (ending in `/`)
    name: str  # shown to people: "" for the site
    items: tuple[Item, ...]  # newest first
    description: str = ""

    def path(self, settings: Settings, leaf: str) -> str:
        return urls.collection(settings, self.kind, self.key, leaf)


def selection(snapshot, tag: str | None, settings: Settings) -> Selection | None:
    """The site's items (tag None), or one tag's by its slug; None for an unknown tag. With
    `site_feed = "root"` the site's are only those in no section."""
    if tag is None:
        items = snapshot.root_items if settings.site_feed == "root" else snapshot.items
        return Selection("site", "", "", items)
    if tag not in snapshot.by_tag:
        return None
    return Selection("tag", tag, snapshot.tag_names[tag], snapshot.by_tag[tag])


def section_selection(snapshot, url: str, settings: Settings) -> Selection | None:
    """The section whose page is at `url`, or None."""
    section = snapshot.sections.get(url)
    if section is None:
        return None
    return Selection("section", url[len(settings.base_url):], section.title,
                     snapshot.section_items[url], section.description)


def selections(snapshot, settings: Settings) -> list[Selection]:
    """Every feed family: the site's, each tag's, each section's."""
    return [selection(snapshot, key, settings) for key in (None, *snapshot.by_tag)] + \
        [section_selection(snapshot, url, settings) for url in snapshot.sections]


def archive_count(selection: Selection, settings: Settings) -> int:
    """RFC 5005 archives: full blocks of `feed_size` items counted from the oldest.

    Block k holds the items k*size-size .. k*size-1 in oldest-first order, so publishing a new
    item never changes an existing block. Items of the incomplete newest block are always in
    the subscription document, which holds the newest `feed_size`.
    """
    return len(selection.items) // settings.feed_size


def feed_spec(selection: Selection, settings: Settings, fmt: str, archive: int | None = None):
    """The spec of the subscription document (archive=None) or of archive block `archive`
    in format `fmt`; None when that block does not exist."""
    size = settings.feed_size
    count = archive_count(selection, settings)
    current = selection.path(settings, f"feed.{fmt}")
    hubs = tuple(Link(hub, "hub") for hub in settings.hubs)
    suffix = {"site": "", "tag": ":tags/", "section": ":sections/"}[selection.kind]
    feed_id = f"tag:{settings.authority},{settings.tag_date}:feed{suffix}{selection.key}"
    title = settings.title + (f": {selection.name}" if selection.name else "")
    subtitle = selection.description or settings.subtitle
    home = selection.path(settings, "")
    if archive is None:
        items, older = selection.items[:size], count
        if fmt == "json" and count:
            # JSON Feed has no archives, only next_url paging, which must never repeat an item
            # (the newest archive overlaps the newest `size` items). So this document reaches
            # back to where archive count-1 ends (size to 2*size-1 items) and pages on to it.
            older = count - 1
            items = selection.items[:len(selection.items) - older * size]
        links = hubs
        if older:
            links += (Link(archive_url(selection, settings, older, fmt), "prev-archive"),)
        return FeedSpec(id=feed_id, title=title, subtitle=subtitle, home_url=home,
                        self_url=current, items=items, links=links,
                        max_age=settings.feed_max_age)
    if not 1 <= archive <= count:
        return None
    oldest_first = selection.items[::-1]
    block = oldest_first[(archive - 1) * size: archive * size][::-1]
    # next-archive always names block k+1: linking it only once it exists would change this
    # document's bytes when the next block fills. Until then that URL redirects to `current`.
    links = (Link(current, "current"),
             Link(archive_url(selection, settings, archive + 1, fmt), "next-archive"))
    if archive > 1:
        links += (Link(archive_url(selection, settings, archive - 1, fmt), "prev-archive"),)
    return FeedSpec(id=f"{feed_id}:archive:{archive}", title=f"{title} (archive {archive})",
                    subtitle=subtitle, home_url=home,
                    self_url=archive_url(selection, settings, archive, fmt), items=block, links=links, archive=True, max_age=settings.archive_max_age)


def archive_url(selection: Selection, settings: Settings, number: int, fmt: str) -> str:
    return selection.path(settings, f"archive/{number}.{fmt}")
