"""An `Article` -> a new item file in the items folder, unless the folder already holds it.

What the folder holds is read from the folder itself (every item's id, URL and the source
keys an earlier import wrote), never from a side database that could drift from it: delete
an imported file and the next import brings it back; edit it and it stays yours.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ..config import Settings
from ..content import content_warnings
from ..frontmatter import ItemError
from ..items import Item, parse_item
from ..layout import POSTS, is_jekyll_site
from ..templating import verbatim
from ..urls import entry_id
from .article import Article

# Front matter keys naming where an article came from: a later import skips what they name.
ORIGIN_KEYS = ("source_url", "canonical_url", "link")
ABSOLUTE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")  # a URI, as urls.entry_id tells
MAX_SAME_SLUG = 1000


@dataclass(frozen=True)
class Imported:
    path: str  # the new file, relative to the items folder
    warnings: tuple[str, ...] = ()  # what `feedsvc check` will say about it


@dataclass(frozen=True)
class Skipped:
    path: str  # the file that already holds it, relative to the items folder
    reason: str  # what they share: "same id ...", "same canonical_url ..."


class Importer:
    """Knows what the items folder holds, and adds articles to it one file at a time."""

    def __init__(self, settings: Settings, clock=lambda: datetime.now(timezone.utc)):
        from ..store import Store

        self.settings = settings
        self.root = Path(settings.items_dir)
        # A Jekyll site publishes only what is in `_posts/`.
        self.folder = self.root / POSTS if is_jekyll_site(str(self.root)) else self.root
        self.clock = clock
        self.known: dict[str, str] = {}  # id, URL or source -> the file that has it
        self.urls: set[str] = set()
        self.titles: dict[str, str] = {}
        for item in Store(settings).parsed_items():
            self._remember(item)

    def add(self, article: Article) -> Imported | Skipped:
        for key in self._keys(article.id, dict(article.origin)):
            if key in self.known:
                return Skipped(self.known[key], f"same {_what(key, article)}")
        now = self.clock().replace(microsecond=0)
        meta = front_matter(article, now, self._same_site_path(article))
        item, text, relpath = self._place(article, meta, now)
        warnings = [message for _, message in item.warnings] + content_warnings(item)
        if item.title.casefold() in self.titles:
            warnings.append(f"same title as {self.titles[item.title.casefold()]}: readers "
                            "cannot tell them apart")
        _write_new(self.root / relpath, text)
        self._remember(item)
        return Imported(relpath, tuple(warnings))

    def _place(self, article: Article, meta: dict, now: datetime) -> tuple[Item, str, str]:
        """The item as it will be read, its text, and a file name whose URL no other item
        has (`name-2.md` after `name.md`)."""
        day = article.published or now
        suffix = ".md" if article.format == "markdown" else ".html"
        prefix = self.folder.relative_to(self.root).as_posix()
        body = verbatim(article.body, self.settings)  # prose about templates stays prose
        for number in range(1, MAX_SAME_SLUG + 1):
            slug = article.slug if number == 1 else f"{article.slug}-{number}"
            name = f"{day:%Y-%m-%d}-{slug}{suffix}"
            relpath = name if prefix == "." else f"{prefix}/{name}"
            if number == 2 and "url" in meta:
                del meta["url"]  # its old address is taken: it gets a new one here
            text = render(meta, body)
            try:
                item = parse_item(relpath, text.encode("utf-8"), self.settings, now.timestamp())
            except ItemError as error:  # what we write must read back: a bug if not
                raise AssertionError(f"import wrote an unreadable item: {error}") from None
            if item.url not in self.urls and not (self.root / relpath).exists():
                return item, text, relpath
        raise AssertionError(f"no free file name for {article.slug}")

    def _keys(self, explicit_id: str, origin: dict) -> list[str]:
        # A non-URI id (a Ghost RSS guid) is read as a `tag:` id: compare it in that form.
        keys = [entry_id(self.settings, "", "", "", None, (), explicit_id), explicit_id]
        return keys + [value for key, value in origin.items()
                       if key in ORIGIN_KEYS and isinstance(value, str) and value]

    def _remember(self, item: Item) -> None:
        keys = [item.id, item.url] + [item.extra.get(key) for key in (*ORIGIN_KEYS, "guid")]
        for key in keys:
            if isinstance(key, str) and key:
                self.known.setdefault(key, item.path)
        self.urls.add(item.url)
        self.titles.setdefault(item.title.casefold(), item.path)

    def _same_site_path(self, article: Article) -> str:
        """For an article first published under this site's base_url (a blog moving to
        feedsvc on its own domain): its old path, so its URL stays what readers have."""
        base = urlsplit(self.settings.base_url)
        for key, value in article.origin:
            if key not in ("link", "canonical_url"):
                continue
            url = urlsplit(value)
            if (url.scheme, url.netloc) == (base.scheme, base.netloc) and \
                    url.path.startswith(base.path) and url.path != base.path and not url.query:
                return "/" + url.path[len(base.path):]
        return ""


def _what(key: str, article: Article) -> str:
    if key in dict(article.origin).values():
        return next(name for name, value in article.origin if value == key) + " " + key
    return f"id {key}"


def front_matter(article: Article, now: datetime, old_path: str = "") -> dict:
    """The keys an imported item carries, in the order a person reads them."""
    meta: dict = {"title": article.title, "date": article.published or now}
    if article.updated:
        meta["updated"] = article.updated
    if len(article.authors) == 1 and not (article.authors[0].email or article.authors[0].uri):
        meta["author"] = article.authors[0].name
    elif article.authors:
        meta["authors"] = [{key: value for key, value in
                            (("name", a.name), ("email", a.email), ("uri", a.uri)) if value}
                           for a in article.authors]
    if article.tags:
        meta["tags"] = list(article.tags)
    meta["summary"] = article.summary
    if article.lang:
        meta["lang"] = article.lang
    meta["id"] = article.id
    if not ABSOLUTE_ID.match(article.id):
        # Atom makes it a `tag:` URI; RSS and JSON Feed readers know it as written.
        meta["guid"] = article.id
    if old_path:
        meta["url"] = old_path
    meta.update(article.origin)
    meta["imported"] = now
    meta.update(article.media)
    return meta


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True  # `imported: *id001` for a date written twice is no way to write by hand


def _timestamp(dumper: yaml.SafeDumper, value: datetime):
    # RFC 3339 as `new` writes it (`2024-05-01T09:30:00+02:00`), the zone as the source had it.
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", value.isoformat())


_Dumper.add_representer(datetime, _timestamp)
_Dumper.add_representer(date, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:timestamp", value.isoformat()))


def render(meta: dict, body: str) -> str:
    front = yaml.dump(meta, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                      width=10_000, default_flow_style=False)
    return f"---\n{front}---\n\n{body}"


def _write_new(path: Path, text: str) -> None:
    """Write `path`, which must not exist yet: under a hidden name (the store ignores it),
    then linked into place, so a running `serve` reads the whole file or none of it, and an
    existing file is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.import-tmp")
    temporary.write_text(text, encoding="utf-8")
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links (some network shares)
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
