"""What an importer reads out of a page or a feed entry, before it is a file."""

from __future__ import annotations

import re
import uuid
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit
from dataclasses import dataclass
from datetime import datetime

from ..items import Author
from ..text import clean_text, slugify

# A fixed namespace for content ids: the same text always gets the same id, on any machine,
# whatever the site's settings (a `tag:` id would bake in a base_url not yet configured).
CONTENT_NAMESPACE = uuid.UUID("5c1d2f0e-7a4b-4c55-9f1e-6b0f3e2a9d41")
TITLE_LENGTH = 70  # a title made from the text, for entries that have none (microblogs)
SUMMARY_LENGTH = 280  # as listings cut the text (content.SUMMARY_LENGTH)


class SourceError(Exception):
    """A source that cannot be imported: `source: message`, the message saying what to do."""

    def __init__(self, source: str, message: str):
        super().__init__(f"{source}: {message}")
        self.source, self.message = source, message


@dataclass(frozen=True)
class Article:
    """One page or feed entry, as it will be written: front matter values and a body."""

    title: str
    body: str  # Markdown (format "markdown") or an HTML fragment (format "html")
    format: str
    id: str  # the entry id readers know it by: an entry's own, a canonical URL, a content id
    slug: str  # the file name's, before any `-2` that keeps it unique
    published: datetime | None  # None: the page gives no date of its own
    updated: datetime | None = None
    authors: tuple[Author, ...] = ()
    tags: tuple[str, ...] = ()
    summary: str = ""  # plain text
    lang: str = ""
    # Where it came from, as front matter keys in this order: source_file or source_url,
    # source_feed, canonical_url, link. Kept so a later import knows it.
    origin: tuple[tuple[str, str], ...] = ()
    # Other front matter passed on as read: `image`, `enclosure`.
    media: tuple[tuple[str, object], ...] = ()


def content_id(title: str, text: str) -> str:
    """A URI naming the text itself: a re-saved copy of the same article, whatever the page
    around it, gets the same id (a name-based UUID, RFC 9562, over title and words)."""
    words = " ".join(f"{title}\n{text}".split()).casefold()
    return uuid.uuid5(CONTENT_NAMESPACE, words).urn


def plain_summary(text: str) -> str:
    """The start of `text` as one line, cut at a word, as listings show it."""
    text = " ".join(clean_text(text).split())
    if len(text) <= SUMMARY_LENGTH:
        return text
    return text[:SUMMARY_LENGTH].rsplit(" ", 1)[0].rstrip(",;:.-") + "…"


def title_from_text(text: str) -> str:
    """A title for an entry that has none: its first words, as readers show such entries."""
    text = " ".join(clean_text(text).split())
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    if len(first) <= TITLE_LENGTH:
        return first
    return first[:TITLE_LENGTH].rsplit(" ", 1)[0].rstrip(",;:.-") + "…"


def url_slug(url: str) -> str:
    """The slug an article had where it was published: the last word of its URL's path
    (`/2024/05/hello-world/` and `/p/hello-world.html` give `hello-world`), or ""."""
    if not url:
        return ""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    stem = name.rsplit(".", 1)[0] if re.search(r"\.[A-Za-z0-9]{1,5}$", name) else name
    slug = slugify(stem)
    return "" if slug in ("", "index", "default") or slug.isdigit() else slug
