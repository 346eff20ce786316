"""A saved web page -> an `Article` with a Markdown body.

HTML goes through trafilatura, which keeps the article (title, author, date, text, images,
links) and drops navigation, cookie banners, "most read" boxes and footers
(`benchmarks/extractors.py` measures it against readability-lxml and goose3). A `.txt` page,
as scrapers save them, is read by the item format's own rules (items.py: chrome lines such
as `top of page` dropped, the title on the first real line), and its paragraphs become
Markdown paragraphs whose text renders exactly as written.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ..config import Settings
from ..frontmatter import ItemError, decode, split_front_matter
from ..items import LANGUAGE_TAG, Author, parse_date, parse_item
from ..text import clean_text, slugify
from .article import Article, SourceError, content_id, plain_summary, url_slug
from .sources import Source, is_url

# htmldate, as trafilatura calls it: the page's own publication date, with its time and zone
# when the page gives them. No `extensive_search`: that guesses a date from any number in
# the text (a table's "2023" became 2023-01-01), and no date is better than a wrong one.
DATE_SEARCH = {"outputformat": "%Y-%m-%dT%H:%M:%S%z", "original_date": True,
               "extensive_search": False}
_FEED_START = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:rss|feed|rdf:RDF)\b",
                         re.S)


def read_page(source: Source, settings: Settings) -> Article:
    kind = source.kind or _sniff(source.data)
    if kind == "html":
        return html_article(source)
    if kind == "text":
        return text_article(source, settings)
    if kind == "feed":
        raise SourceError(source.name, "is a feed, not a page: import it with --feed")
    raise SourceError(source.name, "not a saved page: import reads HTML and plain-text "
                                   "pages (.html, .htm, .txt), and feeds with --feed")


def _sniff(data: bytes) -> str:
    head = data[:2048]
    if _FEED_START.match(head) or head.lstrip().startswith(b"{"):
        return "feed"
    if re.search(rb"<(?:!doctype html|html|body)\b", head, re.I):
        return "html"
    return ""


# -- HTML ----------------------------------------------------------------------------------

def html_article(source: Source) -> Article:
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # its notes are not ours
    page = _decoded(source)
    # Readers' comments are not the article (trafilatura keeps them unless told).
    found = trafilatura.bare_extraction(page, url=source.url or None, with_metadata=True,
                                        include_comments=False,
                                        date_extraction_params=DATE_SEARCH)
    if found is None or not (found.text or "").strip():
        raise SourceError(source.name, "no article found in the page (is it the page itself, "
                                       "not a frame or a redirect?)")
    canonical = _canonical(found.url, source)
    # Relative links and pictures resolve as they did in the browser: against the page's own
    # address, else (a saved file) the address it names as canonical.
    markdown = trafilatura.extract(page, url=source.url or canonical or None,
                                   output_format="markdown", include_images=True,
                                   include_links=True, include_formatting=True,
                                   include_tables=True, include_comments=False,
                                   with_metadata=False) or ""
    title = " ".join(clean_text(found.title or "").split()) or _title_from_name(source)
    text = _without_title(clean_text(found.text), title)
    origin = [("source_url", source.url) if source.url else ("source_file", source.path)]
    if canonical:
        origin.append(("canonical_url", canonical))
    return Article(
        title=title,
        body=_without_title(clean_text(markdown), title),
        format="markdown",
        id=canonical or content_id(title, text),
        slug=url_slug(canonical) or slugify(title) or slugify(Path(source.name).stem),
        published=_page_date(found.date),
        authors=tuple(Author(name=name.strip()) for name in (found.author or "").split(";")
                      if name.strip()),
        tags=tuple(dict.fromkeys(tag for tag in [*(found.categories or []),
                                                 *(found.tags or [])] if tag.strip())),
        summary=plain_summary(found.description or "") or plain_summary(text),
        lang=_language(page),
        origin=tuple(origin),
        media=_picture(found.image, source.url or canonical),
    )


def _picture(image: str | None, base: str) -> tuple[tuple[str, str], ...]:
    """The page's own picture (`og:image`) as front matter `image`, when it is a web URL."""
    url = urljoin(base, image) if image else ""
    return (("image", url),) if urlsplit(url).scheme in ("http", "https") else ()


def _decoded(source: Source):
    """The page as text when the server said its charset; else bytes, for trafilatura to
    read the charset from the page itself."""
    if source.charset:
        try:
            return source.data.decode(source.charset, errors="replace")
        except LookupError:
            pass  # a charset Python does not know: let the page say
    return source.data


def _canonical(url: str | None, source: Source) -> str:
    """The page's canonical URL, absolute, when it names one (trafilatura reads
    `<link rel="canonical">` and `og:url`, and else gives back the address we passed)."""
    if not url or not _NAMES_CANONICAL.search(source.data[:500_000]):
        return ""
    absolute = urljoin(source.url, url) if source.url else url
    parts = urlsplit(absolute)
    return absolute if parts.scheme in ("http", "https") and parts.netloc else ""


_NAMES_CANONICAL = re.compile(rb"""rel=["']?canonical|property=["']og:url""", re.I)


def _without_title(markdown: str, title: str) -> str:
    """The body without a leading heading (or line) that repeats the title: the page shows
    the title already."""
    match = re.match(r"\s*(?:#{1,2}[ \t]+)?(.+?)[ \t#]*\n", markdown + "\n")
    if match and " ".join(match.group(1).split()) == title:
        markdown = markdown[match.end():]
    return markdown.strip() + "\n"


def _page_date(value: str | None) -> datetime | date | None:
    if not value:
        return None
    parsed = parse_date(value)
    if isinstance(parsed, datetime) and parsed.tzinfo is None and \
            (parsed.hour, parsed.minute, parsed.second) == (0, 0, 0):
        return parsed.date()  # the page gave a day, not a time
    return parsed


def _language(page) -> str:
    head = page[:4000] if isinstance(page, bytes) else page[:4000].encode("utf-8", "replace")
    match = re.search(rb"""<html\b[^>]*?\blang=["']?([A-Za-z0-9-]{2,20})""", head, re.I)
    lang = match.group(1).decode("ascii") if match else ""
    return lang if LANGUAGE_TAG.match(lang) else ""


def _title_from_name(source: Source) -> str:
    stem = Path(urlsplit(source.name).path if source.url else source.name).stem
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or "Untitled"


# -- plain text ----------------------------------------------------------------------------

def text_article(source: Source, settings: Settings) -> Article:
    name = Path(urlsplit(source.name).path).name if source.url else Path(source.name).name
    relpath = name if name.lower().endswith(".txt") else f"{name or 'page'}.txt"
    try:
        if source.charset and source.charset.lower() not in ("utf-8", "utf8", "us-ascii"):
            data = source.data.decode(source.charset, errors="replace").encode("utf-8")
        else:
            data = source.data
        item = parse_item(relpath, data, settings, mtime=0)
        meta, _, _ = split_front_matter(relpath, decode(relpath, data))
    except (ItemError, LookupError) as error:
        message = getattr(error, "message", str(error))
        raise SourceError(source.name, message) from None
    if not item.body.strip():
        raise SourceError(source.name, "no text after the title")
    canonical = meta.get("canonical_url")
    canonical = canonical if isinstance(canonical, str) and is_url(canonical) else ""
    explicit = meta.get("id") if isinstance(meta.get("id"), str) else ""
    origin = [("source_url", source.url) if source.url else ("source_file", source.path)]
    if canonical:
        origin.append(("canonical_url", canonical))
    return Article(
        title=item.title,
        body=markdown_paragraphs(item.body),
        format="markdown",
        id=explicit or canonical or content_id(item.title, item.body),
        slug=item.slug,
        # A date of its own: front matter or a dated file name; a file's mtime is when it was
        # saved, not when the article was published.
        published=None if item.date_source == "mtime" else item.published,
        updated=item.updated if item.date_source != "mtime" and item.updated != item.published
        else None,
        authors=item.authors,
        tags=item.tags,
        summary=item.summary or plain_summary(item.body),
        lang=item.lang,
        origin=tuple(origin),
    )


# Characters that are Markdown syntax anywhere in a line, and at the start of one.
_INLINE_SYNTAX = re.compile(r"([\\`*_\[\]<~|])|&(?=#?\w+;)")
_LINE_START_SYNTAX = re.compile(r"^([#>+=-]|\d{1,9}(?=[.)]))")


def markdown_paragraphs(text: str) -> str:
    """Plain text whose blank-line separated blocks are paragraphs, as Markdown that renders
    to exactly those words: syntax characters are escaped, lines within a block stay lines
    (a hard break), and indentation, which Markdown reads as code, is dropped."""
    blocks = [block for block in re.split(r"\n\s*\n", text) if block.strip()]
    return "\n\n".join("\\\n".join(_escaped(line.strip()) for line in block.split("\n")
                                    if line.strip()) for block in blocks) + "\n"


def _escaped(line: str) -> str:
    line = _INLINE_SYNTAX.sub(lambda m: "\\" + (m.group(1) or "&"), line)
    match = _LINE_START_SYNTAX.match(line)
    if match is None:
        return line
    if match.group(1)[0].isdigit():  # `1.` starts a list: escape the dot or parenthesis
        end = match.end()
        return line[:end] + "\\" + line[end:]
    return "\\" + line
