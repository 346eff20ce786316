"""Where every document lives: the one place that knows URLs, as Pelican's `{KIND}_URL`
settings are. Routes, feeds, pages, templates, the sitemap, WebSub and the export all ask here.

Fixed documents have fixed paths (the `RULES` below are Flask's routes for them). Item pages,
sections and their feeds live wherever the site's permalinks put them, so those are looked up
in the snapshot by URL (routes/items.py) after `collection_leaf` splits off a feed's name.

A blog that moves here keeps its URLs and entry ids, so both come from settings,
as Pelican's `{KIND}_URL` settings do: `permalink` is a pattern with Jekyll's placeholders
(default `/items/:title`), and per item Zola's `path`, Hugo's `url` and Jekyll's `permalink`
front matter win. `entry_id` is `tag` (RFC 4151, the default), `permalink` (the item's
absolute URL, as Hugo's and Zola's feeds use) or a pattern (jekyll-feed's ids are
`/:year/:month/:day/:title` paths made absolute, with no trailing slash).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from urllib.parse import quote, urlsplit

from .config import Settings
from .layout import BUNDLE_INDEXES, DATED_NAME, DRAFTS, POSTS, file_name
from .text import slugify, tag_slug

_PLACEHOLDER = re.compile(r":(short_year|year|i_month|month|i_day|day|hour|minute|second|"
                          r"title|slug|section|path|categories|output_ext)")
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
SAFE = "/-._~!$&'()*+,;=:@"  # what a path keeps unescaped (RFC 3986 pchar and /)


_NOT_PRETTY = re.compile(r"[^\w.~!$&'()+,;=@]+")


def jekyll_title(relpath: str, slug: str) -> str:
    """Jekyll's `:title`: the front matter slug or the file name (without its date), in
    Jekyll's "pretty" slugify, which keeps case and `.~!$&'()+,;=@`
    (`jekyll-sass-converter-3.0-released`), where our own slugs would not."""
    path = file_name(relpath)
    if path.name.lower() in BUNDLE_INDEXES and path.parent:
        name = path.parent
    else:
        dated = DATED_NAME.match(path.stem)
        name = dated.group(4) if dated else path.stem
    # (name == slug: no slugify needed to know the slug came from the name.)
    pretty = name if name == slug or slug == slugify(name) else slug
    return _NOT_PRETTY.sub("-", pretty).strip("-") or slug


def expand(pattern: str, relpath: str, slug: str, published: datetime,
           categories: tuple[str, ...]) -> str:
    """`pattern` with its placeholders filled in for one item (Jekyll's names and meaning:
    https://jekyllrb.com/docs/permalinks/#placeholders); `//` collapsed. `:slug` is the
    item's slug, lowercase as Hugo and Zola write URLs; `:title` is Jekyll's.

    Only the placeholders the pattern uses are worked out: this runs for every item of a cold
    start (100,000 of them), and `:title` alone costs a slugify."""
    values = {name: _placeholder(name, relpath, slug, published, categories)
              for name in _placeholders(pattern)}
    path = _PLACEHOLDER.sub(lambda match: values[match.group(1)], pattern)
    return _SLASHES.sub("/", path) if "//" in path else path


_SLASHES = re.compile(r"/{2,}")


@lru_cache(maxsize=64)
def _placeholders(pattern: str) -> frozenset[str]:
    return frozenset(_PLACEHOLDER.findall(pattern))


def _placeholder(name: str, relpath: str, slug: str, published: datetime,
                 categories: tuple[str, ...]) -> str:
    if name in _DATE_PARTS:
        return _DATE_PARTS[name](published)
    if name == "title":
        return jekyll_title(relpath, slug)
    if name == "slug":
        return slug
    if name == "categories":
        return "/".join(tag_slug(category) for category in categories)
    if name == "output_ext":
        return ".html"
    folders = _content_folders(relpath)
    if name == "section":
        return folders[0] if folders else ""
    return "/".join(folders)  # path


_DATE_PARTS = {
    "year": lambda d: f"{d.year:04d}", "short_year": lambda d: f"{d.year % 100:02d}",
    "month": lambda d: f"{d.month:02d}", "i_month": lambda d: str(d.month),
    "day": lambda d: f"{d.day:02d}", "i_day": lambda d: str(d.day),
    "hour": lambda d: f"{d.hour:02d}", "minute": lambda d: f"{d.minute:02d}",
    "second": lambda d: f"{d.second:02d}",
}


def _content_folders(relpath: str) -> tuple[str, ...]:
    """The folders an item sits in, as URL words: not Jekyll's `_posts`/`_drafts`, and not
    a bundle's own folder (its name is the item's slug)."""
    folder, _, name = relpath.rpartition("/")
    return _folder_words(folder, name.lower() in BUNDLE_INDEXES)


@lru_cache(maxsize=4096)  # per folder, not per item
def _folder_words(folder: str, bundle: bool) -> tuple[str, ...]:
    parts = folder.split("/") if folder else []
    if parts and bundle:
        parts.pop()
    return tuple(slugify(part) for part in parts if part not in (POSTS, DRAFTS))


def item_path(settings: Settings, relpath: str, slug: str, published: datetime,
              categories: tuple[str, ...], meta: dict) -> str:
    """The item page's path under `base_url` (no leading slash)."""
    override = _text(meta.get("path"))  # Zola: served at /<path>/
    if override:
        path = "/" + override.strip("/") + "/"
    elif _text(meta.get("url")):  # Hugo: as written
        path = _text(meta.get("url"))
    elif _text(meta.get("permalink")):  # Jekyll: as written, placeholders too
        path = expand(_text(meta.get("permalink")), relpath, slug, published, categories)
    else:
        path = expand(settings.permalink, relpath, slug, published, categories)
    return quote(path.lstrip("/"), safe=SAFE)


def entry_id(settings: Settings, url: str, relpath: str, slug: str, published: datetime,
             categories: tuple[str, ...], explicit: str) -> str:
    """The item's entry id: front matter `id`, else what the `entry_id` setting says."""
    if explicit and _ABSOLUTE.match(explicit):
        return explicit
    if explicit or settings.entry_id == "tag":
        specific = quote(explicit or slug, safe=SAFE)
        return f"tag:{settings.authority},{settings.tag_date}:{specific}"
    if settings.entry_id == "permalink":
        return url
    path = expand(settings.entry_id, relpath, slug, published, categories)
    return path if _ABSOLUTE.match(path) else settings.url(quote(path, safe=SAFE))


def alias_paths(meta: dict) -> tuple[str, ...]:
    """Hugo's and Zola's `aliases`, Jekyll's `redirect_from`: old paths of this item."""
    found = []
    for key in ("aliases", "redirect_from"):
        value = meta.get(key)
        values = value if isinstance(value, list) else [value]
        for alias in values:
            alias = _text(alias)
            if alias:
                alias = urlsplit(alias).path if _ABSOLUTE.match(alias) else alias
                found.append(quote(alias.lstrip("/"), safe=SAFE))
    return tuple(dict.fromkeys(found))


def document_url(item_url: str, fmt: str) -> str:
    """The Atom entry or JSON document of an item: `<url>.atom`, or `<url>index.atom` for a
    URL that ends in `/`."""
    return item_url + ("index." if item_url.endswith("/") else ".") + fmt


def resource_base(item_url: str) -> str:
    """What a bundle's resources (and relative links in its content) resolve against:
    `/2021/08/03/name/picture.png` for the page `/2021/08/03/name/` or `/items/name`."""
    return item_url if item_url.endswith("/") else item_url + "/"


def section_path(folder: str, meta: dict) -> str:
    """A section's page (no leading slash): Hugo's `url` front matter, else its folders as
    `:path` writes them, so `/:path/:slug/` items sit under their section's URL."""
    override = _text(meta.get("url"))
    if override:
        return quote(override.strip("/") + "/", safe=SAFE).lstrip("/")
    return quote("".join(slugify(part) + "/" for part in folder.split("/")), safe=SAFE)


# -- collections: the site, a tag, a section; each with a page, feeds and archives ----------

FORMAT = "<any(atom, rss, json):fmt>"
RULES = {
    "feed": f"/feed.{FORMAT}",
    "archive": f"/archive/<int:number>.{FORMAT}",
    "tags": "/tags/",
    "tag": "/tags/<tag>",
    "tag_feed": f"/tags/<tag>/feed.{FORMAT}",
    "tag_archive": f"/tags/<tag>/archive/<int:number>.{FORMAT}",
    "robots": "/robots.txt",
    "sitemap": "/sitemap.xml",
    "sitemap_part": "/sitemaps/<int:part>.xml",
}
_LEAF = re.compile(r"^(?P<base>(?:.*/)?)(?:feed\.(?P<fmt>atom|rss|json)|"
                   r"archive/(?P<number>\d{1,9})\.(?P<afmt>atom|rss|json))$")


def collection(settings: Settings, kind: str, key: str, leaf: str = "") -> str:
    """The absolute URL of `leaf` ("" for the page, `feed.atom`, `archive/3.rss`) of the site
    (kind "site"), a tag (key: its slug) or a section (key: its path, ending in `/`)."""
    if kind == "tag":
        return settings.url(f"tags/{quote(key)}" + (f"/{leaf}" if leaf else ""))
    return settings.url((key if kind == "section" else "") + leaf)


def feed(settings: Settings, kind: str, key: str, fmt: str) -> str:
    return collection(settings, kind, key, f"feed.{fmt}")


def archive(settings: Settings, kind: str, key: str, number: int, fmt: str) -> str:
    return collection(settings, kind, key, f"archive/{number}.{fmt}")


def collection_leaf(path: str) -> tuple[str, str, int | None] | None:
    """`blog/feed.atom` -> ("blog/", "atom", None); `blog/archive/2.rss` -> ("blog/", "rss",
    2); anything else None. The way back from `feed` and `archive`."""
    match = _LEAF.match(path)
    if match is None:
        return None
    if match["fmt"]:
        return match["base"], match["fmt"], None
    return match["base"], match["afmt"], int(match["number"])


def tag(settings: Settings, name: str) -> str:
    """The page of the tag spelled `name`."""
    return collection(settings, "tag", tag_slug(name))


def page(base: str, number: int) -> str:
    """Page `number` of a paged listing at `base`."""
    return base if number == 1 else f"{base}?page={number}"


def sitemap(settings: Settings, part: int | None = None) -> str:
    return settings.url("sitemap.xml" if part is None else f"sitemaps/{part}.xml")


class Links:
    """The functions above bound to the settings, for templates: `links.feed('atom')`,
    `links.tag(name)`, `links.collection(kind, key)`."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def home(self, number: int = 1) -> str:
        return page(self.settings.url(), number)

    def page(self, base: str, number: int) -> str:
        return page(base, number)

    def tags(self) -> str:
        return self.settings.url("tags/")

    def tag(self, name: str) -> str:
        return tag(self.settings, name)

    def collection(self, kind: str, key: str, leaf: str = "") -> str:
        return collection(self.settings, kind, key, leaf)

    def feed(self, fmt: str, kind: str = "site", key: str = "") -> str:
        return feed(self.settings, kind, key, fmt)

    def document(self, item, fmt: str) -> str:
        return document_url(item.url, fmt)


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""
