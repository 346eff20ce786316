"""The on-disk item format: one file becomes one `Item`, or an `ItemError` naming file and line.

Front matter keys and their aliases follow Jekyll, Hugo and Zola (see DESIGN.md). Everything a
user can get wrong in a file ends here as an `ItemError`; nothing half-parsed travels on.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path, PurePosixPath

from .config import Settings
from .frontmatter import ItemError, decode, split_front_matter
from . import templating, urls
from .media import KEYS as MEDIA_KEYS, Media, Place, read_media
from .layout import (BUNDLE_INDEXES, DATED_NAME, ITEM_SUFFIXES, SECTION_FILES, FileName,
                     file_name, is_draft_path)
from .text import clean_text, slugify, tag_slug

# Bumped whenever the same file would parse into a different Item (2: tag URLs spell out
# symbols; 3: site layouts, stubs, lenient dates; 4: permalinks; 5: blank lines before
# front matter; 6: Zola's `2024-05-01_name`; 7: template code; 8: enclosures, pictures,
# contributors), so an older on-disk cache is never trusted.
PARSE_RULES = 8
FORMATS = ITEM_SUFFIXES
# Lines a scraper saves along with the article; they are page furniture, not text.
CHROME_LINES = {"top of page", "bottom of page", "back to top", "skip to content",
                "skip to main content"}
PATH_DATE = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})(?:/|$)")
MIN_YEAR, MAX_YEAR = 1900, 2999
MAX_TITLE_LENGTH = 500
MAX_RELOAD_BYTES = 64_000_000
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$")  # BCP 47, loosely

ALIASES = {
    "title": ("title",),
    "published": ("date", "published", "pubdate"),
    "updated": ("updated", "lastmod", "last_modified_at", "modified"),
    "id": ("id",),
    "slug": ("slug",),
    "authors": ("author", "authors"),
    "contributors": ("contributors", "contributor"),
    "tags": ("tags", "categories", "category", "keywords"),
    "summary": ("summary", "description", "excerpt"),
    "draft": ("draft",),
    "lang": ("lang", "language"),
}
KNOWN_KEYS = {key for keys in ALIASES.values() for key in keys} | {
    "path", "permalink", "url", "aliases", "redirect_from"} | MEDIA_KEYS


@dataclass(frozen=True)
class Author:
    name: str
    email: str = ""
    uri: str = ""


@dataclass(frozen=True, eq=False)
class Item:
    """One published (or scheduled, or draft) article. Identity is its version."""

    path: str  # relative to the items folder, POSIX separators
    slug: str
    id: str
    url: str  # absolute URL of the item's HTML page
    title: str
    published: datetime  # timezone-aware, UTC
    updated: datetime
    date_source: str  # "front matter", "file name", "path" or "mtime"
    authors: tuple[Author, ...]
    tags: tuple[str, ...]
    summary: str  # plain text; empty when the file gives none
    # The text after the front matter; None when the store dropped it to save memory, in
    # which case `body_of` reads it again from `source` when the item is first rendered.
    body: str | None
    format: str  # "markdown", "text" or "html"
    draft: bool = False
    lang: str = ""
    extra: dict = field(default_factory=dict)  # unknown front matter keys, kept as read
    warnings: tuple[tuple[int | None, str], ...] = ()  # (line or None, message)
    tag_keys: tuple[str, ...] = ()  # tag_slug(tag) for each tag: the tag's URL and index key
    source: str = ""  # absolute path of the file, when read from disk
    aliases: tuple[str, ...] = ()  # old paths under base_url that answer 301 (no leading /)
    bundle: bool = False  # a page bundle's index.md: the files beside it are its resources
    # Template code in the body was rendered (templating.py): `body` is kept, since the file's
    # text is not what gets published.
    expanded: bool = False
    contributors: tuple[Author, ...] = ()
    media: Media | None = None  # enclosures, picture, episode details (media.py); most have none


@dataclass(frozen=True)
class Section:
    """A folder described by an `_index.md` (Hugo, Zola): a page listing its items, with feeds."""

    path: str  # the `_index.md`, relative to the items folder
    folder: str  # the folder it describes, relative to the items folder
    title: str
    description: str  # plain text; may be empty
    url: str  # absolute URL of the section's page, ending in `/`


def read_item(path: Path, root: Path, settings: Settings, mtime: float | None = None,
              keep_body: bool = True, templates: bool = True) -> Item | Section:
    """Parse the file at `path` (inside `root`) into an `Item` (or, for an `_index.md`, a
    `Section`), or raise `ItemError`.

    With keep_body=False the item holds no body text (an index of 100,000 items would
    otherwise hold them all); `body_of` reads it back on first render."""
    return read_file(path.relative_to(root).as_posix(), str(path), settings, mtime,
                     keep_body, templates)


def read_file(relpath: str, source: str, settings: Settings, mtime: float | None = None,
              keep_body: bool = True, templates: bool = True) -> Item | Section:
    """`read_item` for the file `relpath` of the items folder, found at `source`: plain
    strings, as a cold start reads 100,000 of them (pathlib was a tenth of its time)."""
    try:
        # os.open, not open(): a buffered file object cost as much as the read (cold start).
        descriptor = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        try:
            status = os.fstat(descriptor)
            # Asking for max_item_bytes at once would allocate that much for every file; one
            # byte past it tells a file that is too large.
            data = _read(descriptor, min(status.st_size, settings.max_item_bytes + 1))
            mtime = mtime if mtime is not None else status.st_mtime
        finally:
            os.close(descriptor)
    except OSError as error:
        raise ItemError(relpath, None, f"cannot read: {error.strerror or error}") from None
    if len(data) > settings.max_item_bytes:
        raise ItemError(relpath, None,
                        f"larger than max_item_bytes ({settings.max_item_bytes} bytes)")
    if relpath.rpartition("/")[2].lower() in SECTION_FILES:
        return parse_section(relpath, data, settings)
    return parse_item(relpath, data, settings, mtime, templates, source=source,
                      keep_body=keep_body)


def _read(descriptor: int, size: int) -> bytes:
    """Up to `size` bytes (fewer at the end of the file): os.read may return fewer."""
    data = os.read(descriptor, size)
    while len(data) < size:
        more = os.read(descriptor, size - len(data))
        if not more:
            break
        data += more
    return data


def body_of(item: Item) -> str:
    """The item's body text, read again from its file if the index dropped it."""
    if item.body is not None:
        return item.body
    try:
        with open(item.source, "rb") as file:
            data = file.read(MAX_RELOAD_BYTES)
        meta, body, _ = split_front_matter(item.path, decode(item.path, data))
        title = meta.get("title") if isinstance(meta.get("title"), str) else ""
        return clean_text(_title_from_body(item.format, clean_text(title).strip(), body)[1])
    except (OSError, ItemError):
        return ""  # the file changed under us: the watcher publishes its new state shortly


def parse_item(relpath: str, data: bytes, settings: Settings, mtime: float,
               templates: bool = True, source: str = "", keep_body: bool = True) -> Item:
    """`keep_body=False`: the item holds no body (None) unless template code changed it."""
    text = decode(relpath, data)
    meta, body, body_line = split_front_matter(relpath, text)
    return _build_item(relpath, meta, body, body_line, settings, mtime, templates, source,
                       keep_body)


def _url_of(path: Path, settings: Settings) -> str | None:
    """The URL of the post or section in the file at `path` (a link's target), or None."""
    try:
        target = read_item(path, Path(settings.items_dir), settings, keep_body=False,
                           templates=False)
    except (ItemError, ValueError):
        return None
    return target.url


def parse_section(relpath: str, data: bytes, settings: Settings) -> Section:
    meta, _, _ = split_front_matter(relpath, decode(relpath, data))
    folder = PurePosixPath(relpath).parent.as_posix()
    title, description = (meta.get(key) for key in ("title", "description"))
    title = clean_text(title).strip() if isinstance(title, str) else ""
    description = clean_text(description).strip() if isinstance(description, str) else ""
    return Section(path=relpath, folder=folder,
                   title=" ".join(title.split()) or _humanize(PurePosixPath(folder).name),
                   description=description, url=settings.url(urls.section_path(folder, meta)))


def _pick(meta: dict, name: str):
    for key in ALIASES[name]:
        if key in meta and meta[key] is not None:
            return key, meta[key]
    return None, None


def _build_item(relpath: str, meta: dict, body: str, body_line: int, settings: Settings,
                mtime: float, templates: bool = True, source: str = "",
                keep_body: bool = True) -> Item:
    path = file_name(relpath)
    fmt = FORMATS[path.suffix.lower()]
    warnings = []

    def text_field(name: str) -> str:
        key, value = _pick(meta, name)
        if value is None:
            return ""
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return clean_text(str(value)).strip()
        raise ItemError(relpath, _key_line(meta, key), f"{key!r} must be text, "
                        f"not {type(value).__name__}")

    title = text_field("title")
    lines = body.count("\n")
    title, body = _title_from_body(fmt, title, body)
    body_line += lines - body.count("\n")  # a title line taken from the body
    title = " ".join(title.split())  # a title is one line of text
    if not body.strip() and not meta:
        raise ItemError(relpath, body_line, "no content")
    if not title and not body.strip():
        raise ItemError(relpath, None, "neither a title nor a body: not an item "
                        "(a template stub or a placeholder)", skipped=True)
    if not title:
        title = _humanize(_stem_slug(path))
        warnings.append("no title: using the file name")
    if len(title) > MAX_TITLE_LENGTH:
        title = title[:MAX_TITLE_LENGTH].rstrip() + "…"
        warnings.append(f"title longer than {MAX_TITLE_LENGTH} characters: shortened")

    slug = slugify(text_field("slug") or _stem_slug(path))
    if not slug:
        raise ItemError(relpath, _key_line(meta, "slug"),
                        "slug is empty after removing characters URLs cannot carry")

    zone = settings.zone
    published, date_source = _published(relpath, meta, path, mtime, zone, warnings)
    try:
        updated = _date_field(relpath, meta, "updated", zone, warnings) or published
    except ItemError as error:
        warnings.append(f"{error.message}: using the published date")
        updated = published
    if date_source == "mtime":
        warnings.append("no date in front matter or file name: using the file's mtime, "
                        "which changes on every checkout")

    tags = _tags(relpath, meta)
    # Jekyll's :categories are the `categories`/`category` keys alone, not tags.
    categories = _tags(relpath, {k: meta[k] for k in ("categories", "category") if k in meta}) \
        if "categories" in meta or "category" in meta else ()
    # Permalinks take the date as written (Hugo, Zola), or in the site's zone (Jekyll).
    written = published.astimezone(zone) if settings.permalink_dates == "timezone" else published
    published = published.astimezone(timezone.utc)
    updated = updated.astimezone(timezone.utc)
    url = settings.url(urls.item_path(settings, relpath, slug, written, categories, meta))
    notes: list[tuple[int, str]] = []
    expanded = body
    if templates:
        expanded, notes = templating.expand(relpath, body, body_line, meta, url, settings,
                                            lambda target: _url_of(target, settings),
                                            markdown=fmt == "markdown")
    keep_body = keep_body or expanded != body
    bundle = path.name.lower() in BUNDLE_INDEXES and path.nested
    media = None
    if not MEDIA_KEYS.isdisjoint(meta):
        media = _media(relpath, meta, url, bundle, source, settings, warnings)
    return Item(
        path=relpath,
        slug=slug,
        id=urls.entry_id(settings, url, relpath, slug, written, categories, text_field("id")),
        url=url,
        title=title,
        published=published,
        updated=max(updated, published),
        date_source=date_source,
        authors=_authors(relpath, meta),
        tags=tags,
        summary=text_field("summary"),
        body=clean_text(expanded) if keep_body else None,
        format=fmt,
        draft=_draft(relpath, meta),
        lang=_lang(relpath, meta, text_field("lang"), warnings),
        extra={k: v for k, v in meta.items() if k not in KNOWN_KEYS},
        warnings=tuple((None, warning) for warning in warnings) + tuple(notes),
        tag_keys=tuple(tag_slug(tag) for tag in tags),
        aliases=urls.alias_paths(meta),
        bundle=bundle,
        expanded=expanded != body,
        source=source,
        contributors=_authors(relpath, meta, "contributors"),
        media=media,
    )


def _media(relpath: str, meta: dict, url: str, bundle: bool, source: str,
           settings: Settings, warnings: list[str]) -> Media | None:
    """Enclosures and pictures resolve against the bundle's folder, or base_url."""
    root = str(settings.items_dir)
    folder = os.path.dirname(source or os.path.join(root, relpath)) if bundle else ""
    place = Place(relpath, urls.resource_base(url) if bundle else url, folder, root,
                  settings.base_url)
    return read_media(relpath, meta, place, warnings)


def _key_line(meta: dict, key) -> int:
    # Front matter starts on line 2; dicts keep file order, so this is close enough to point at.
    try:
        return list(meta).index(key) + 2
    except ValueError:
        return 1


def _stem_slug(path: FileName) -> str:
    stem = path.stem
    if stem.lower() in ("index", "_index") and path.parent:
        stem = path.parent
    match = DATED_NAME.match(stem)
    return match.group(4) if match else stem


def _humanize(slug: str) -> str:
    return re.sub(r"[-_]+", " ", slug).strip().capitalize() or slug


def _title_from_body(fmt: str, title: str, body: str) -> tuple[str, str]:
    """Plain text and Markdown carry their title in the first line when front matter doesn't."""
    if fmt == "text":
        lines = [line for line in body.split("\n")
                 if line.strip().lower() not in CHROME_LINES]
        body = "\n".join(lines).strip("\n")
        first, _, rest = body.partition("\n")
        if not title or clean_text(first).strip() == title:
            return title or clean_text(first).strip(), rest.strip("\n")
        return title, body
    if fmt == "markdown" and not title:
        stripped = body.lstrip("\n")
        match = re.match(r"#[ \t]+(.+?)[ \t#]*(?:\n|$)", stripped)
        if match:
            return clean_text(match.group(1)).strip(), stripped[match.end():]
    if fmt == "html" and not title:
        match = re.search(r"<h1\b[^>]*>(.*?)</h1\s*>", body, re.S | re.I)
        if match:
            text = re.sub(r"<[^>]*>", "", match.group(1))
            return clean_text(html.unescape(text)).strip(), body[: match.start()] + body[match.end():]
    return title, body


def _published(relpath: str, meta: dict, path: FileName, mtime: float, zone: tzinfo,
               warnings: list[str]):
    try:
        value = _date_field(relpath, meta, "published", zone, warnings)
    except ItemError as error:
        # A date the old generator took and we cannot: the file name or path still says it.
        value, source = _date_from_path(relpath, meta, path, zone)
        if value is None:
            raise
        warnings.append(f"{error.message}: using the date in the {source} instead")
        return value, source
    if value:
        return value, "front matter"
    value, source = _date_from_path(relpath, meta, path, zone)
    if value is not None:
        return value, source
    return datetime.fromtimestamp(int(mtime), timezone.utc), "mtime"


def _date_from_path(relpath: str, meta: dict, path: FileName, zone: tzinfo):
    """(midnight of the day in a `YYYY-MM-DD-` file name, or in a `YYYY/MM/DD` path or
    permalink key, and which it was), or (None, "")."""
    match = DATED_NAME.match(path.stem) or DATED_NAME.match(path.parent)
    if match:
        return _checked(relpath, 1, _to_datetime(date(*map(int, match.groups()[:3])), zone)), \
            "file name"
    for key in ("path", "permalink"):
        value = meta.get(key)
        match = PATH_DATE.search(value) if isinstance(value, str) else None
        if match:
            try:
                day = date(*map(int, match.groups()))
            except ValueError:
                continue
            return _checked(relpath, _key_line(meta, key), _to_datetime(day, zone)), "path"
    return None, ""


def _date_field(relpath: str, meta: dict, name: str, zone: tzinfo,
                warnings: list[str]) -> datetime | None:
    key, value = _pick(meta, name)
    if value is None:
        return None
    line = _key_line(meta, key)
    if isinstance(value, str):
        parsed = parse_date(value.strip())
        if parsed is None:
            parsed = parse_date_leniently(value.strip())
            if parsed is None:
                raise ItemError(relpath, line, f"{key!r}: cannot read {value[:40]!r} as a "
                                "date (use e.g. 2024-05-01 or 2024-05-01T09:30:00+02:00)")
            warnings.append(f"{key!r}: read {value[:40]!r} as {parsed.isoformat()}, as "
                            "Jekyll does; better write 2024-05-01T09:30:00+02:00")
        value = parsed
    if not isinstance(value, (date, datetime)):
        raise ItemError(relpath, line, f"{key!r} must be a date, not {type(value).__name__}")
    return _checked(relpath, line, _to_datetime(value, zone))


def parse_date(text: str) -> datetime | date | None:
    """ISO 8601 / RFC 3339, or Jekyll's `2024-01-05 10:00:00 +0100`."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        pass
    for pattern in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


# What Ruby's Time.parse (Jekyll) makes of a date with words or a stray year in it, such as
# `2023-01-29 18:30:22 2023 -0800`: the day, the time, and a zone at the very end.
_LENIENT_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
                           r"\b.*?(?:\s([+-])(\d{2}):?(\d{2}))?$")


def parse_date_leniently(text: str) -> datetime | None:
    match = _LENIENT_DATE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    zone = None
    if sign:
        offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                        int(second or 0), tzinfo=zone)
    except ValueError:
        return None


def _to_datetime(value: date | datetime, zone: tzinfo) -> datetime:
    """Dates without a time are midnight, and without a zone are in the `timezone` setting's
    (documented). The zone as written is kept: permalinks may take their date from it."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.replace(microsecond=0)


def _checked(relpath: str, line: int, value: datetime) -> datetime:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ItemError(relpath, line, f"date {value.date()} is out of range "
                        f"({MIN_YEAR}–{MAX_YEAR})")
    return value


def _authors(relpath: str, meta: dict, name: str = "authors") -> tuple[Author, ...]:
    key, value = _pick(meta, name)
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    authors = []
    for entry in values:
        if isinstance(entry, str):
            name, email = _split_email(entry)
            authors.append(Author(name=name, email=email))
        elif isinstance(entry, dict) and isinstance(entry.get("name", ""), str):
            name = clean_text(str(entry.get("name") or "")).strip()
            email = clean_text(str(entry.get("email") or "")).strip()
            uri = clean_text(str(entry.get("uri") or entry.get("url") or "")).strip()
            if name or email:
                authors.append(Author(name=name or email, email=email, uri=uri))
        else:
            raise ItemError(relpath, _key_line(meta, key), f"{key!r} must be a name, a list "
                            "of names, or mappings with name/email/uri")
    return tuple(author for author in authors if author.name)


_NAME_AND_EMAIL = re.compile(r"^(.*?)\s*<([^<>\s]+@[^<>\s]+)>$")


def _split_email(text: str) -> tuple[str, str]:
    """`Jane Doe <jane@example.com>` -> (name, email)."""
    text = clean_text(text).strip()
    match = _NAME_AND_EMAIL.match(text)
    if match:
        return match.group(1) or match.group(2), match.group(2)
    return text, ""


def _tags(relpath: str, meta: dict) -> tuple[str, ...]:
    tags: dict[str, str] = {}
    for key in ALIASES["tags"]:
        value = meta.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            # Jekyll splits a string on spaces; comma lists are the other common spelling.
            parts = value.split(",") if "," in value else value.split()
        elif isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            parts = [str(v) for v in value]
        else:
            raise ItemError(relpath, _key_line(meta, key),
                            f"{key!r} must be a list of names or a comma-separated string")
        for part in parts:
            tag = " ".join(clean_text(part).split())
            key = tag_slug(tag) if tag else ""
            if key:
                tags.setdefault(key, tag)
    return tuple(tags.values())


def _lang(relpath: str, meta: dict, value: str, warnings: list[str]) -> str:
    if value and not LANGUAGE_TAG.match(value):
        warnings.append(f"lang {value[:40]!r} is not a language tag such as en or pt-BR: ignored")
        return ""
    return value


def _draft(relpath: str, meta: dict) -> bool:
    if is_draft_path(relpath):  # Jekyll's _drafts/ are never published
        return True
    value = meta.get("draft", False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no", ""):
        return value.strip().lower() in ("true", "yes")
    raise ItemError(relpath, _key_line(meta, "draft"), "'draft' must be true or false")
