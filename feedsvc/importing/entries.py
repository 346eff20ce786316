"""An existing feed -> one `Article` per entry, keeping what its readers know it by.

Atom and RSS (every platform's export: WordPress, Ghost, Substack, Medium, Blogger) are read
by feedparser; JSON Feed 1.0/1.1, which feedparser does not read, by its spec with the
standard library. An entry keeps its own id (readers recognise an entry by it, so no reader
sees a moved post twice), its link, dates as written (zone included), authors, tags and
content, kept as HTML: the file is an `.html` item, whose body our sanitizer reads exactly as
the feed gave it (Markdown with raw HTML would turn text after a blank line into Markdown).
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit
from xml.sax import SAXParseException

from ..content import sanitize, text_to_html
from ..items import LANGUAGE_TAG, Author, parse_date
from ..text import clean_text, slugify
from .article import Article, SourceError, content_id, plain_summary, title_from_text, url_slug
from .sources import Source

JSON_FEED_VERSION = re.compile(r"^https?://jsonfeed\.org/version/1(\.\d+)?/?$")
_TAG = re.compile(r"<[^>]*>")
_BLOCK_TAG = re.compile(r"</?(?:p|div|li|ul|ol|h[1-6]|br|blockquote|pre|table|tr|td|th|"
                        r"figure|figcaption|hr|dl|dt|dd|section|article|aside)\b[^>]*>", re.I)


def read_feed(source: Source) -> list[Article]:
    if source.data.lstrip()[:1] == b"{":
        return _json_feed(source)
    return _xml_feed(source)


def _plain(markup: str) -> str:
    """The words of an HTML fragment: block elements part them, inline ones do not."""
    return html.unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", markup)))


# -- Atom and RSS ---------------------------------------------------------------------------

def _xml_feed(source: Source) -> list[Article]:
    import feedparser

    headers = {"content-location": source.url} if source.url else {}
    # Not sanitized here: the body is sanitized, with our allow-list, each time it is
    # rendered (feedparser's would drop what ours keeps: srcset, <picture>, footnote ids).
    parsed = feedparser.parse(source.data, response_headers=headers, sanitize_html=False)
    error = parsed.get("bozo_exception")
    if isinstance(error, SAXParseException):
        # feedparser reads on past the break; a truncated export would import in part.
        raise SourceError(source.name, f"not a feed: not well-formed XML at line "
                                       f"{error.getLineNumber()} ({error.getMessage()}): a "
                                       "cut-off download or a broken export; fetch it again")
    if not parsed.entries and not parsed.version:
        raise SourceError(source.name, "not a feed: no Atom, RSS or JSON Feed document")
    feed = parsed.feed
    fallback_authors = _xml_authors(feed)
    lang = _lang(feed.get("language", ""))
    home = feed.get("link", "") or source.url
    return [_xml_entry(entry, source, fallback_authors, lang, home) for entry in parsed.entries]


def _xml_entry(entry, source: Source, fallback_authors, lang: str, home: str) -> Article:
    link = entry.get("link", "")
    body = _resolved(_xml_content(entry), link or home)
    title = _xml_title(entry) or title_from_text(_plain(body))
    published = _date(entry, "published") or _date(entry, "updated")
    updated = _date(entry, "updated")
    summary_detail = entry.get("summary_detail")
    summary = ""
    if summary_detail and entry.get("content"):  # a summary besides the content
        summary = plain_summary(_plain(summary_detail.value)
                                if "html" in summary_detail.type else summary_detail.value)
    tags = _tag_names(entry.get("tags", ()))
    return _article(
        title=title, body=body, entry_id=entry.get("id", ""), link=link, source=source,
        published=published, updated=updated if updated and updated != published else None,
        authors=_xml_authors(entry) or fallback_authors, tags=tags, summary=summary,
        lang=_lang(_content_lang(entry)) or lang,
        media=_xml_media(entry))


def _xml_title(entry) -> str:
    detail = entry.get("title_detail")
    if not detail:
        return ""
    title = _plain(detail.value) if "html" in detail.type else detail.value
    return " ".join(clean_text(title).split())


def _xml_content(entry) -> str:
    """The entry's content as HTML: its fullest form (RSS content:encoded, Atom content),
    else its summary."""
    candidates = list(entry.get("content", ()))
    if entry.get("summary_detail"):
        candidates.append(entry.summary_detail)
    for detail in sorted(candidates, key=lambda d: "html" not in d.get("type", "")):
        value = detail.get("value", "")
        if value.strip():
            return value if "html" in detail.get("type", "") else text_to_html(value)
    return ""


def _content_lang(entry) -> str:
    for detail in entry.get("content", ()):
        if detail.get("language"):
            return detail["language"]
    return ""


def _xml_authors(node) -> tuple[Author, ...]:
    authors = []
    for author in node.get("authors", ()) or ():
        name = " ".join(clean_text(author.get("name") or "").split())
        email = (author.get("email") or "").strip()
        if name or email:
            authors.append(Author(name=name or email, email=email,
                                  uri=(author.get("href") or "").strip()))
    return tuple(dict.fromkeys(authors))


def _tag_names(tags) -> tuple[str, ...]:
    names = (" ".join(clean_text(tag.get("label") or tag.get("term") or "").split())
             for tag in tags)
    return tuple(dict.fromkeys(name for name in names if name))


def _date(entry, key: str) -> datetime | None:
    """The entry's date as written, with its zone (a `/:year/:month/:day/` permalink takes
    the day as written); feedparser's own reading, in UTC, when we cannot read it."""
    # dict.get: feedparser's own `get("updated")` answers the published date when there is
    # no updated one (its issue 310), and an entry would look edited when it never was.
    raw = (dict.get(entry, key) or "").strip()
    if raw:
        try:
            value = parsedate_to_datetime(raw)  # RSS: RFC 822
        except (TypeError, ValueError, IndexError):
            value = parse_date(raw)  # Atom: RFC 3339
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.replace(microsecond=0)
    parsed = dict.get(entry, f"{key}_parsed")
    if parsed:
        return datetime(*parsed[:6], tzinfo=timezone.utc)
    return None


def _xml_media(entry) -> tuple[tuple[str, object], ...]:
    """Enclosures (podcast episodes) and the entry's picture, as front matter."""
    enclosures = []
    for enclosure in entry.get("enclosures", ()):
        url = enclosure.get("href") or enclosure.get("url")
        if url:
            found = {"url": url}
            if str(enclosure.get("length", "")).isdigit() and int(enclosure["length"]) > 0:
                found["length"] = int(enclosure["length"])
            if enclosure.get("type"):
                found["type"] = enclosure["type"]
            enclosures.append(found)
    media = []
    if enclosures:
        media.append(("enclosure", enclosures[0] if len(enclosures) == 1 else enclosures))
    thumbnails = entry.get("media_thumbnail") or entry.get("media_content") or ()
    image = next((t.get("url") for t in thumbnails
                  if t.get("url") and t.get("medium", "image") == "image"), "")
    if image:
        media.append(("image", image))
    return tuple(media) + (_episode(entry) if enclosures else ())


def _episode(entry) -> tuple[tuple[str, object], ...]:
    """An episode's itunes details, so a show moving here keeps them (media.py reads them)."""
    found = []
    duration = str(entry.get("itunes_duration") or "").strip()
    if duration:
        found.append(("duration", int(duration) if duration.isdigit() else duration))
    for key, name in (("itunes_season", "season"), ("itunes_episode", "episode")):
        if str(entry.get(key) or "").strip().isdigit():
            found.append((name, int(entry[key])))
    if str(entry.get("itunes_episodetype") or "").strip() in ("full", "trailer", "bonus"):
        found.append(("episode_type", entry["itunes_episodetype"].strip()))
    if entry.get("itunes_explicit") is True:  # feedparser knows only "yes" for explicit
        found.append(("explicit", True))
    return tuple(found)


# -- JSON Feed ------------------------------------------------------------------------------

def _json_feed(source: Source) -> list[Article]:
    try:
        document = json.loads(source.data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SourceError(source.name, f"not a JSON Feed: not JSON ({error})") from None
    if not isinstance(document, dict) or not JSON_FEED_VERSION.match(
            str(document.get("version", ""))) or not isinstance(document.get("items"), list):
        raise SourceError(source.name, "not a JSON Feed: no jsonfeed.org `version` and "
                                       "`items`")
    fallback_authors = _json_authors(document)
    lang = _lang(str(document.get("language") or ""))
    home = document.get("home_page_url") if isinstance(document.get("home_page_url"), str) \
        else source.url
    return [_json_item(item, source, fallback_authors, lang, home)
            for item in document["items"] if isinstance(item, dict)]


def _json_item(item: dict, source: Source, fallback_authors, lang: str, home: str) -> Article:
    def text(key: str) -> str:
        value = item.get(key)
        return value if isinstance(value, str) else ""

    body = text("content_html") or (text_to_html(text("content_text"))
                                    if text("content_text") else "")
    body = _resolved(body, text("url") or home)
    title = " ".join(clean_text(text("title")).split()) or title_from_text(_plain(body))
    published = _json_date(text("date_published")) or _json_date(text("date_modified"))
    updated = _json_date(text("date_modified"))
    media = []
    attachments = [a for a in item.get("attachments") or () if isinstance(a, dict) and
                   isinstance(a.get("url"), str)]
    enclosures = [{"url": a["url"], **({"length": a["size_in_bytes"]}
                                       if isinstance(a.get("size_in_bytes"), int) else {}),
                   **({"type": a["mime_type"]} if isinstance(a.get("mime_type"), str) else {}),
                   **({"duration": int(a["duration_in_seconds"])}
                      if isinstance(a.get("duration_in_seconds"), (int, float)) else {})}
                  for a in attachments]
    if enclosures:
        media.append(("enclosure", enclosures[0] if len(enclosures) == 1 else enclosures))
    if text("image"):
        media.append(("image", text("image")))
    tags = item.get("tags") if isinstance(item.get("tags"), list) else []
    return _article(
        title=title, body=body, entry_id=str(item.get("id") or ""), link=text("url"),
        source=source, published=published,
        updated=updated if updated and updated != published else None,
        authors=_json_authors(item) or fallback_authors,
        tags=tuple(dict.fromkeys(" ".join(clean_text(str(t)).split()) for t in tags
                                 if isinstance(t, (str, int)) and str(t).strip())),
        summary=plain_summary(text("summary")), lang=_lang(text("language")) or lang,
        media=tuple(media))


def _json_authors(node: dict) -> tuple[Author, ...]:
    # 1.1's `authors`, 1.0's `author`
    values = node.get("authors") if isinstance(node.get("authors"), list) else \
        [node.get("author")] if isinstance(node.get("author"), dict) else []
    authors = []
    for value in values:
        if isinstance(value, dict) and isinstance(value.get("name"), str) and \
                value["name"].strip():
            uri = value.get("url") if isinstance(value.get("url"), str) else ""
            authors.append(Author(name=" ".join(clean_text(value["name"]).split()), uri=uri))
    return tuple(authors)


def _json_date(value: str) -> datetime | None:
    parsed = parse_date(value.strip()) if value.strip() else None
    if isinstance(parsed, datetime) and parsed.tzinfo is not None:
        return parsed.replace(microsecond=0)
    return None


# -- both -----------------------------------------------------------------------------------

def _resolved(fragment: str, base: str) -> str:
    """The content as our sanitizer publishes it, with relative links and pictures made
    absolute against the entry's own page (rendering again changes nothing: the allow-list
    keeps what it kept). Without an absolute base, as the feed gave it."""
    if not fragment.strip() or urlsplit(base).scheme not in ("http", "https"):
        return fragment
    return sanitize(fragment, base)


def _article(*, title: str, body: str, entry_id: str, link: str, source: Source,
             published, updated, authors, tags, summary: str, lang: str, media) -> Article:
    text = _plain(body)
    if not body.strip() and link:
        # A link post, or an entry with a title alone: readers showed the title and its link.
        body = f'<p><a href="{html.escape(link)}">{html.escape(title or link)}</a></p>'
    origin = [("source_feed", source.url or source.path)]
    if link:
        origin.append(("link", link))
    return Article(
        title=title or "Untitled",
        body=clean_text(body.strip()) + "\n",
        format="html",
        # An entry without an id (RSS allows it) is known to readers by its link.
        id=clean_text(entry_id.strip()) or link or content_id(title, text),
        slug=url_slug(link) or slugify(title) or "entry",
        published=published,
        updated=updated,
        authors=authors,
        tags=tags,
        summary=summary or plain_summary(text),
        lang=lang,
        origin=tuple(origin),
        media=media,
    )


def _lang(value: str) -> str:
    value = value.strip()
    return value if LANGUAGE_TAG.match(value) else ""
