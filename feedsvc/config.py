"""Settings: defaults, then `feedsvc.toml`, then `FEEDSVC_*` environment variables.

Every setting has a default, so `feedsvc serve` works with no configuration at all.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONFIG_FILE = "feedsvc.toml"
MIN_TOKEN = 16  # characters of `stats_token`: no guessing it over HTTP
ENV_PREFIX = "FEEDSVC_"


class ConfigError(Exception):
    """A setting the user gave cannot be used; the message says which and why."""


# Apple Podcasts' categories and their subcategories (podcasters.apple.com, "Apple Podcasts
# categories"; the W3C validator checks against the same list, but for Religion).
PODCAST_CATEGORIES = {
    "Arts": ("Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"),
    "Business": ("Careers", "Entrepreneurship", "Investing", "Management", "Marketing",
                 "Non-Profit"),
    "Comedy": ("Comedy Interviews", "Improv", "Stand-Up"),
    "Education": ("Courses", "How To", "Language Learning", "Self-Improvement"),
    "Fiction": ("Comedy Fiction", "Drama", "Science Fiction"),
    "Government": (), "History": (),
    "Health & Fitness": ("Alternative Health", "Fitness", "Medicine", "Mental Health",
                         "Nutrition", "Sexuality"),
    "Kids & Family": ("Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"),
    "Leisure": ("Animation & Manga", "Automotive", "Aviation", "Crafts", "Games", "Hobbies",
                "Home & Garden", "Video Games"),
    "Music": ("Music Commentary", "Music History", "Music Interviews"),
    "News": ("Business News", "Daily News", "Entertainment News", "News Commentary", "Politics",
             "Sports News", "Tech News"),
    "Religion & Spirituality": ("Buddhism", "Christianity", "Hinduism", "Islam", "Judaism",
                                "Religion", "Spirituality"),
    "Science": ("Astronomy", "Chemistry", "Earth Sciences", "Life Sciences", "Mathematics",
                "Natural Sciences", "Nature", "Physics", "Social Sciences"),
    "Society & Culture": ("Documentary", "Personal Journals", "Philosophy", "Places & Travel",
                          "Relationships"),
    "Sports": ("Baseball", "Basketball", "Cricket", "Fantasy Sports", "Football", "Golf",
               "Hockey", "Rugby", "Running", "Soccer", "Swimming", "Tennis", "Volleyball",
               "Wilderness", "Wrestling"),
    "Technology": (), "True Crime": (),
    "TV & Film": ("After Shows", "Film History", "Film Interviews", "Film Reviews",
                  "TV Reviews"),
}
PODCAST_KEYS = ("owner", "author", "category", "explicit", "image", "type", "guid", "locked",
                "complete")


@dataclass(frozen=True)
class Podcast:
    """The `[podcast]` table: what makes every RSS feed a podcast (podcast.py)."""

    owner_name: str
    owner_email: str  # Apple Podcasts writes to it; podcast:locked names it
    categories: tuple[tuple[str, str], ...]  # (category, subcategory or "")
    image: str  # absolute URL of the cover art: square, 1400 to 3000 px, .jpg or .png
    explicit: bool = False
    type: str = "episodic"  # or "serial"
    author: str = ""  # itunes:author; "": the `author` setting
    guid: str = ""  # podcast:guid; "": made from the feed's URL, as Podcasting 2.0 says
    locked: bool = False  # podcast:locked: other platforms may not import the feed
    complete: bool = False  # itunes:complete: no more episodes will come


@dataclass(frozen=True)
class Settings:
    title: str = "feedsvc"
    subtitle: str = "Articles published with feedsvc"
    author: str = "feedsvc"
    author_email: str = ""
    author_uri: str = ""
    base_url: str = "http://127.0.0.1:8000/"
    items_dir: Path = Path("items")
    feed_size: int = 20
    page_size: int = 20
    language: str = "en"
    # RFC 4151 tag: URIs are `tag:<authority>,<date>:<specific>`. The authority defaults to the
    # base URL's host; the date must be one on which the site owned it. Set both once and never
    # change them: every entry id is built from them.
    tag_authority: str = ""
    tag_date: str = "2026-01-01"
    # Where items live and what their entry ids are (urls.py): Jekyll's placeholders.
    permalink: str = "/items/:title"
    entry_id: str = "tag"  # "tag", "permalink", or a pattern like permalink's
    # Dates written without a zone are in this zone (IANA name, as Jekyll's and Hugo's
    # `timezone`). Permalink dates are the date as written (Hugo, Zola), or with
    # `permalink_dates = "timezone"` the date in this zone (Jekyll).
    timezone: str = "UTC"
    permalink_dates: str = "written"
    # Folders with an `_index.md` are sections with their own page and feeds; the site's feed
    # and home page show every item ("all") or only those in no section ("root").
    site_feed: str = "all"
    # A Jekyll, Hugo or Zola folder's own config gives the defaults of base_url, title,
    # timezone, permalink, entry_id... (templating.site_settings); settings given here win.
    site_defaults: bool = True
    # Template code in posts (templating.py): "auto" (by the folder), "jekyll" (Liquid),
    # "hugo" (shortcodes), "zola" (shortcodes removed) or "none" (published as written).
    templates: str = "auto"
    # Old paths a moved site still gets asked for (its feeds: /feed.xml, /index.xml,
    # /atom.xml) -> the path they now live at; answered with a 301.
    redirects: dict = field(default_factory=dict)
    hubs: tuple[str, ...] = ()
    feed_max_age: int = 300
    page_max_age: int = 300
    archive_max_age: int = 86400
    max_item_bytes: int = 5_000_000
    rescan_interval: float = 30.0
    # The items folder is watched (inotify and friends) or, where events do not arrive (NFS,
    # SMB, some container mounts), polled: "auto", "watch" or "poll".
    watch: str = "auto"
    # Connections (`feedsvc serve`): how many one worker holds at once (idle keep-alive ones
    # included), and how long a client may take to send its request headers, which is also
    # how long an idle keep-alive connection is kept.
    max_connections: int = 16384
    header_timeout: float = 10.0
    # Server processes; 0 picks what measured best (benchmarks/README.md). They share one
    # parsed index: it is built before they are forked.
    workers: int = 0
    # One line per request (nginx's "combined" format) on standard error, written in batches
    # by a background thread, never on the request path.
    access_log: bool = True
    # How many proxies in front of feedsvc set X-Forwarded-For/-Proto/-Host: those hops are
    # believed (werkzeug's ProxyFix), e.g. for the address in the access log. 0: none are.
    # Absolute URLs in documents always come from base_url, never from these headers.
    trust_forwarded: int = 0
    # What RFC 5005 archive documents carry: "full" content, as the live feed does, or
    # "summary" (title, link, summary) to keep a large site's archives and export small.
    archive_content: str = "full"
    # Parsed items are kept in <cache_dir>/feedsvc/ (default: $XDG_CACHE_HOME or ~/.cache)
    # so a restart with unchanged files parses nothing.
    cache: bool = True
    cache_dir: str = ""
    # The `[podcast]` table (owner, category, image, ...): every RSS feed becomes a podcast.
    podcast: Podcast | None = None
    # Subscriber counts (stats.py): what aggregators report and distinct direct readers per
    # feed, kept in SQLite (default: $XDG_DATA_HOME/feedsvc/<folder>.stats.sqlite) for
    # `stats_retention` days; shown by `feedsvc stats` and, to `Authorization: Bearer
    # <stats_token>` only, at /stats (no token: no page).
    stats: bool = True
    stats_db: str = ""
    stats_token: str = ""
    stats_retention: int = 400

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def authority(self) -> str:
        return _authority(self.tag_authority, self.base_url)

    def url(self, path: str = "") -> str:
        """An absolute URL under the configured base URL (never the request's Host)."""
        return self.base_url + path.lstrip("/")


@lru_cache(maxsize=8)  # asked for every entry id of a cold start
def _authority(tag_authority: str, base_url: str) -> str:
    return tag_authority or urlsplit(base_url).hostname or "localhost"


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_KINDS = {"int": "a whole number", "float": "a number", "bool": "true or false",
          "str": "a string", "Path": "a folder path", "dict": "a table of paths",
          "tuple[str, ...]": "a list of strings"}


def _coerce(name: str, value):
    kind = _FIELDS[name].type
    try:
        if kind in ("int", "float") and not isinstance(value, str) and (
                isinstance(value, bool) or not isinstance(value, (int, float))
                or (kind == "int" and not float(value).is_integer())):
            raise TypeError(f"expected {_KINDS[kind]}, got {value!r}")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, str):
                if value.strip().lower() not in ("1", "0", "true", "false", "yes", "no", "on",
                                                 "off"):
                    raise ValueError(f"expected true or false, got {value!r}")
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind == "Path":
            return Path(value)
        if kind == "dict":
            if isinstance(value, str):  # FEEDSVC_REDIRECTS="/feed.xml=/feed.atom, /a=/b"
                value = dict(pair.split("=", 1) for pair in value.replace(",", " ").split())
            if not isinstance(value, dict):
                raise TypeError(f"expected a table of paths, got {type(value).__name__}")
            return {"/" + str(old).lstrip("/"): str(new) for old, new in value.items()}
        if kind == "Podcast | None":
            if not isinstance(value, (dict, Podcast)):
                raise TypeError("is a table: write it as [podcast] in feedsvc.toml")
            return value  # read by podcast_settings once base_url is known
        if kind == "tuple[str, ...]":
            if isinstance(value, str):
                value = [part for part in value.replace(",", " ").split() if part]
            return tuple(str(part) for part in value)
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return value
    except (TypeError, ValueError) as error:
        if isinstance(error, ValueError) and kind in ("int", "float"):
            error = f"expected {_KINDS[kind]}, got {value!r}"
        raise ConfigError(f"setting {name!r}: {error}") from None


def _normalize_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"setting 'base_url': {url!r} is not an absolute http(s) URL")
    return url if url.endswith("/") else url + "/"


def load_settings(config_file: Path | None = None, env=None, **overrides) -> Settings:
    """Defaults < `feedsvc.toml` (or `config_file`) < `FEEDSVC_*` env vars < `overrides`."""
    env = os.environ if env is None else env
    values: dict = {}
    path = Path(config_file or env.get(ENV_PREFIX + "CONFIG") or CONFIG_FILE)
    if path.is_file():
        try:
            found = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: {error}") from None
        _check_names(found, str(path))
        values.update(found)
    elif config_file is not None:
        raise ConfigError(f"{path}: no such configuration file")
    variables = {key[len(ENV_PREFIX):].lower(): value for key, value in env.items()
                 if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG"}
    for name in variables:
        if name not in _FIELDS:
            raise ConfigError(_unknown(name, f"environment variable {ENV_PREFIX}{name.upper()}"))
    values.update(variables)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    _check_names(overrides, "settings")
    values.update(overrides)

    if _coerce("site_defaults", values.get("site_defaults", True)):
        from .templating import site_settings  # reads the items folder's own site config

        for name, value in site_settings(Path(values.get("items_dir", "items")),
                                         str(values.get("templates", "auto"))).items():
            values.setdefault(name, value)
    settings = {name: _coerce(name, value) for name, value in values.items()}
    if "base_url" in settings:
        settings["base_url"] = _normalize_base_url(settings["base_url"])
    if isinstance(settings.get("podcast"), dict):
        settings["podcast"] = podcast_settings(
            settings["podcast"], settings.get("base_url", Settings.base_url),
            settings.get("author", Settings.author), settings.get("author_email", ""))
    for name in ("workers", "trust_forwarded"):
        if name in settings and settings[name] < 0:
            raise ConfigError(f"setting {name!r} cannot be negative")
    if settings.get("stats_retention", 2) < 2:
        raise ConfigError("setting 'stats_retention' must be at least 2 (days: today's and "
                          "yesterday's readers make the count)")
    token = settings.get("stats_token", "")
    if token and (len(token) < MIN_TOKEN or token != token.strip() or not token.isprintable()):
        raise ConfigError(f"setting 'stats_token' must be at least {MIN_TOKEN} printable "
                          "characters without surrounding spaces (make one with: python3 -c "
                          "'import secrets; print(secrets.token_urlsafe())')")
    if settings.get("archive_content", "full") not in ("full", "summary"):
        raise ConfigError("setting 'archive_content' must be \"full\" or \"summary\"")
    for name in ("feed_size", "page_size", "max_item_bytes"):
        if name in settings and settings[name] < 1:
            raise ConfigError(f"setting {name!r} must be at least 1")
    if "timezone" in settings:
        try:
            ZoneInfo(settings["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"setting 'timezone': {settings['timezone']!r} is not an IANA "
                              "time zone such as Europe/Berlin or UTC") from None
    if settings.get("permalink_dates", "written") not in ("written", "timezone"):
        raise ConfigError("setting 'permalink_dates' must be \"written\" (Hugo, Zola) or "
                          "\"timezone\" (Jekyll)")
    if settings.get("templates", "auto") not in ("auto", "jekyll", "hugo", "zola", "none"):
        raise ConfigError("setting 'templates' must be one of auto, jekyll, hugo, zola, none")
    if settings.get("watch", "auto") not in ("auto", "watch", "poll"):
        raise ConfigError("setting 'watch' must be auto, watch or poll")
    if settings.get("site_feed", "all") not in ("all", "root"):
        raise ConfigError("setting 'site_feed' must be \"all\" (every section's items) or "
                          "\"root\" (only items in no section)")
    return Settings(**settings)


def _check_names(values: dict, where: str) -> None:
    for name in values:
        if name not in _FIELDS:
            raise ConfigError(_unknown(name, where))


def _unknown(name: str, where: str) -> str:
    """`feed_szie` -> "... unknown setting 'feed_szie' (did you mean 'feed_size'?)"."""
    near = difflib.get_close_matches(name.lower(), _FIELDS, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}?" if near else "see the settings table in README.md"
    return f"{where}: unknown setting {name!r} ({hint})"


def podcast_settings(table: dict, base_url: str, author: str, author_email: str) -> Podcast:
    """The `[podcast]` table, checked: what Apple Podcasts requires, or an error naming it."""
    def fail(message: str):
        raise ConfigError(f"[podcast] {message}")

    for key in table:
        if key not in PODCAST_KEYS:
            near = difflib.get_close_matches(key, PODCAST_KEYS, n=1)
            fail(f"unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else
                                           f"; the keys are {', '.join(PODCAST_KEYS)}"))
    name, email = _owner(table.get("owner"), author, author_email, fail)
    image = _text_value(table, "image", fail)
    if not image:
        fail("needs image = \"https://.../cover.jpg\": Apple Podcasts lists no show without "
             "its cover art (square, 1400 to 3000 px)")
    image = image if urlsplit(image).scheme else base_url + image.lstrip("/")
    if urlsplit(image).scheme not in ("http", "https") or \
            not urlsplit(image).path.endswith((".jpg", ".png")):
        fail(f"image {image!r} must be an http(s) URL ending in .jpg or .png (Apple's rule)")
    kind = _text_value(table, "type", fail) or "episodic"
    if kind not in ("episodic", "serial"):
        fail(f"type {kind!r} must be \"episodic\" (newest first) or \"serial\" (in order)")
    flags = {}
    for key in ("explicit", "locked", "complete"):
        value = table.get(key, False)
        if not isinstance(value, bool):
            fail(f"{key} must be true or false, not {value!r}")
        flags[key] = value
    return Podcast(owner_name=name, owner_email=email,
                   categories=_categories(table.get("category"), fail), image=image,
                   type=kind, author=_text_value(table, "author", fail),
                   guid=_text_value(table, "guid", fail), **flags)


def _owner(value, author: str, author_email: str, fail) -> tuple[str, str]:
    """`owner = "Ada Brennan <ada@example.org>"`, or a table with name and email; by default
    the site's author."""
    if isinstance(value, dict):
        name, email = str(value.get("name") or ""), str(value.get("email") or "")
    elif isinstance(value, str):
        name, _, email = value.partition("<")
        name, email = name.strip(), email.rstrip("> ").strip()
        if "@" in name and not email:
            name, email = "", name
    elif value is None:
        name, email = author, author_email
    else:
        fail("owner must be \"Name <email>\" or a table with name and email")
    if "@" not in email:
        fail("needs the owner's email: owner = \"Ada Brennan <ada@example.org>\" (Apple "
             "Podcasts writes there to confirm the show is yours), or set author_email")
    return name or author, email


def _categories(value, fail) -> tuple[tuple[str, str], ...]:
    """`"Technology"`, `"News > Tech News"`, or a list of those, in Apple's spelling."""
    values = value if isinstance(value, list) else [value] if value else []
    if not values:
        fail("needs a category, e.g. category = \"Technology\" or \"News > Tech News\" "
             "(Apple Podcasts' list: " + ", ".join(PODCAST_CATEGORIES) + ")")
    found = []
    for entry in values:
        if not isinstance(entry, str):
            fail(f"category {entry!r} must be a name such as \"Technology\"")
        main, _, sub = (part.strip() for part in entry.partition(">"))
        known = {name.casefold(): name for name in PODCAST_CATEGORIES}
        if main.casefold() not in known:
            near = difflib.get_close_matches(main, PODCAST_CATEGORIES, n=1, cutoff=0.5)
            fail(f"category {main!r} is not one of Apple Podcasts'" +
                 (f" (did you mean {near[0]!r}?)" if near else ""))
        main = known[main.casefold()]
        subs = {name.casefold(): name for name in PODCAST_CATEGORIES[main]}
        if sub and sub.casefold() not in subs:
            fail(f"{main!r} has no subcategory {sub!r}: "
                 f"{', '.join(PODCAST_CATEGORIES[main]) or 'it has none'}")
        found.append((main, subs.get(sub.casefold(), "")))
    return tuple(found)


def _text_value(table: dict, key: str, fail) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        fail(f"{key} must be a string, not {value!r}")
    return value.strip()
