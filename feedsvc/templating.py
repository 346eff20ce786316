"""What the old generator would have rendered in a post: Jekyll's Liquid (liquid.py), Hugo's
built-in shortcodes (shortcodes.py); Zola's shortcodes, always a site's own, are removed.

Readers must never see raw template code, so anything we cannot render is removed from the
text and `feedsvc check` names file, line and tag. Which generator a folder comes from is the
`templates` setting; `auto` tells by the folder: a Jekyll site has `_config.yml` or `_posts/`,
a Hugo or Zola `content/` folder has the site's config beside it (Zola's says `base_url`,
Hugo's `baseURL`).

Links to other posts (`{% post_url %}`, `{% link %}`, `{{< ref >}}`) resolve by reading the
target file's front matter; a post is re-read when it changes, not when its target does.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Callable
from urllib.parse import quote, urlsplit

import yaml

from . import liquid, shortcodes
from .config import Settings
from .frontmatter import ItemError, decode, split_front_matter
from .layout import (BUNDLE_INDEXES, ITEM_SUFFIXES, JEKYLL_EXCLUDES, POSTS, SECTION_FILES,
                     is_jekyll_site)
from .urls import SAFE

MAX_PAGE = 1_000_000  # bytes of a linked Jekyll page read for its permalink
MAX_SEARCH = 20_000  # files looked at to find a post by name: a bound, not a limit in practice


def engine(settings: Settings) -> str:
    """"jekyll", "hugo", "zola" or "" for the items folder, by the `templates` setting."""
    return _engine(str(settings.items_dir), settings.templates)


@lru_cache(maxsize=8)
def _engine(items_dir: str, templates: str) -> str:
    if templates != "auto":
        return "" if templates == "none" else templates
    root = Path(items_dir)
    if is_jekyll_site(items_dir) or (root / "_config.yml").is_file():
        return "jekyll"
    config = shortcodes.hugo_site_config(root.resolve())
    if config is None:
        return ""
    return "zola" if "base_url" in config else "hugo"


def _site(settings: Settings) -> dict:
    return _site_values(str(settings.items_dir), engine(settings), settings.base_url)


@lru_cache(maxsize=8)
def _site_values(items_dir: str, kind: str, base_url: str) -> dict:
    """Jekyll's `site.*`, or Hugo's `.Site.Params`: read once per process (a change to the
    site's config is seen at the next start, which also re-reads every post: `fingerprint`)."""
    root = Path(items_dir)
    if kind == "jekyll":
        site = dict(liquid.site_config(root))
        site.setdefault("data", _jekyll_data(root / "_data"))
        base = urlsplit(base_url)
        site.setdefault("url", f"{base.scheme}://{base.netloc}")
        site.setdefault("baseurl", base.path.rstrip("/"))
        return site
    if kind == "hugo":
        config = shortcodes.hugo_site_config(root.resolve()) or {}
        params = config.get("params") or config.get("Params") or {}
        return params if isinstance(params, dict) else {}
    return {}


# Jekyll's permalink styles (https://jekyllrb.com/docs/permalinks/#built-in-formats).
_JEKYLL_STYLES = {"date": "/:categories/:year/:month/:day/:title:output_ext",
                  "pretty": "/:categories/:year/:month/:day/:title/",
                  "none": "/:categories/:title:output_ext"}
# Where each generator's feed was, so its subscribers' old URL answers 301.
_OLD_FEEDS = {"jekyll": {"/feed.xml": "/feed.atom"}, "hugo": {"/index.xml": "/feed.rss"},
              "zola": {"/atom.xml": "/feed.atom", "/rss.xml": "/feed.rss"}}


def site_settings(items_dir: Path, templates: str = "auto") -> dict:
    """Defaults for a folder that comes from Jekyll, Hugo or Zola, read from that site's own
    config, so readers see the same URLs, ids and titles with no settings at all: its address,
    title, time zone, permalinks and entry ids, and its old feed URLs redirected. Settings the
    user gives win over these (config.py)."""
    kind = _engine(str(items_dir), templates)
    root = Path(items_dir)
    found: dict = {}
    if kind == "jekyll":
        config = liquid.site_config(root)
        style = _jekyll_permalink(config)
        permalink = _JEKYLL_STYLES.get(style, style)
        found = {"permalink": permalink, "permalink_dates": "timezone",
                 # jekyll-feed's <id> is the post's id: its URL without extension or final /
                 "entry_id": permalink.replace(":output_ext", "").rstrip("/") or "tag",
                 "timezone": config.get("timezone"), "title": config.get("title"),
                 "subtitle": config.get("description")}
        if isinstance(config.get("url"), str) and config["url"].startswith("http"):
            found["base_url"] = config["url"].rstrip("/") + "/" + \
                str(config.get("baseurl") or "").strip("/")
    elif kind in ("hugo", "zola"):
        config = shortcodes.hugo_site_config(root.resolve()) or {}
        found = {"permalink": "/:path/:slug/", "entry_id": "permalink",
                 "base_url": config.get("base_url" if kind == "zola" else "baseURL"),
                 "title": config.get("title"), "subtitle": config.get("description"),
                 "timezone": config.get("timeZone") or config.get("timezone")}
    if kind:
        found["redirects"] = _OLD_FEEDS[kind]
    return {name: value for name, value in found.items() if isinstance(value, (str, dict))
            and value}


def _jekyll_permalink(config: dict) -> str:
    """The posts' permalink, in Jekyll's order: front matter defaults for posts, the posts
    collection's, the site's, else the `date` style."""
    found = [config.get("permalink")]
    collections = config.get("collections")
    if isinstance(collections, dict) and isinstance(collections.get("posts"), dict):
        found.insert(0, collections["posts"].get("permalink"))
    defaults = config.get("defaults") if isinstance(config.get("defaults"), list) else []
    for default in defaults:
        scope = default.get("scope") if isinstance(default, dict) else None
        values = default.get("values") if isinstance(default, dict) else None
        if isinstance(scope, dict) and isinstance(values, dict) and (
                scope.get("type") == "posts" or scope.get("path") in ("", POSTS)):
            found.insert(0, values.get("permalink"))
    return next((value for value in found if isinstance(value, str) and value), "date")


def jekyll_excludes(settings: Settings) -> set[str]:
    """What a Jekyll site leaves out: its config's `exclude` and Jekyll's own list. Asked on
    requests, so from the config read once (`_site`), not read again each time."""
    excludes = _site(settings).get("exclude")
    return JEKYLL_EXCLUDES | {str(name).strip("/") for name in excludes or ()
                              if isinstance(name, (str, int))} \
        if isinstance(excludes, (list, type(None))) else set(JEKYLL_EXCLUDES)


MAX_DATA_BYTES = 5_000_000  # per file of `_data/`


def _jekyll_data(folder: Path) -> dict:
    """`site.data`: `_data/members.yml` is `site.data.members`, `_data/a/b.json` is
    `site.data.a.b` (https://jekyllrb.com/docs/datafiles/). YAML and JSON; CSV and TSV are
    left out. A file that cannot be read is left out too (its values render empty, and
    liquid.py warns where one is printed)."""
    data: dict = {}
    if not folder.is_dir():
        return data
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in (".yml", ".yaml", ".json") or not path.is_file() or \
                any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        try:
            if path.stat().st_size > MAX_DATA_BYTES:
                continue
            text = path.read_text(encoding="utf-8")
            value = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError):
            continue
        target = data
        for part in path.relative_to(folder).parent.parts:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                break
        else:
            target[path.stem] = value
    return data


def fingerprint(settings: Settings) -> str:
    """Changes when what expansion reads besides the post changes (the site's config), so the
    item cache is not trusted across it."""
    return hashlib.sha256(repr((engine(settings), _site(settings))).encode()).hexdigest()[:16]


def expand(relpath: str, body: str, first_line: int, meta: dict, url: str, settings: Settings,
           read: Callable[[Path], str | None],
           markdown: bool = True) -> tuple[str, list[tuple[int, str]]]:
    """The body with its template code rendered, and what could not be (line, message).

    `url`: the post's own URL; `read(path)`: the URL of the post or section in the file at
    `path`, None when it is none; `markdown`: the body is Markdown (else HTML)."""
    kind = engine(settings)
    if not kind:
        return body, []
    root = Path(settings.items_dir)
    if kind == "jekyll":
        page = {**meta, "url": urlsplit(url).path}
        includes = root / "_includes"
        return liquid.render(body, first_line, _site(settings), page,
                             lambda how, target: _jekyll_target(root, how, target, read,
                                                                settings),
                             includes=includes if includes.is_dir() else None,
                             markdown=markdown)
    if kind == "hugo":
        params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
        return shortcodes.render_hugo(body, first_line, {**meta, **params}, _site(settings),
                                      lambda target: _hugo_target(root, relpath, target, read))
    if kind == "zola":
        body, warnings = shortcodes.strip_zola(body, first_line)
        return _zola_links(body, first_line, root, read, warnings), warnings
    return body, []


# What each engine would run in a body, and its own way of saying "print this as written":
# Liquid's `{% raw %}`; Hugo's and Zola's `/* */` inside the delimiters
# (https://gohugo.io/content-management/shortcodes/#escaping,
# https://www.getzola.org/documentation/content/shortcodes/#shortcodes-without-arguments).
_ENDRAW = re.compile(r"\{%(?=-?\s*endraw\s*-?%\})")
_VERBATIM = {
    "hugo": (re.compile(r"\{\{<(?!/\*)(.*?)>\}\}", re.S), r"{{</*\1*/>}}",
             re.compile(r"\{\{%(?!/\*)(.*?)%\}\}", re.S), r"{{%/*\1*/%}}"),
    "zola": (re.compile(r"\{\{(?!/\*)(?=\s*\w+\()(.*?)\}\}", re.S), r"{{/*\1*/}}",
             re.compile(r"\{%(?!/\*)(?=\s*(?:\w+\(|end\s*%))(.*?)%\}", re.S), r"{%/*\1*/%}"),
}


def verbatim(body: str, settings: Settings) -> str:
    """The body escaped so that the site's template engine shows it as written: text brought
    in from elsewhere (`feedsvc import`) that talks about `{{ page.title }}` or
    `{{< figure >}}` is prose, not template code."""
    kind = engine(settings)
    if kind == "jekyll":
        if "{{" not in body and "{%" not in body:
            return body
        body = _ENDRAW.sub('{% endraw %}{{ "{%" }}{% raw %}', body)
        return f"{{% raw %}}\n{body}\n{{% endraw %}}\n"
    if kind in _VERBATIM:
        outputs, output, blocks, block = _VERBATIM[kind]
        return blocks.sub(block, outputs.sub(output, body))
    return body


# Zola's internal links: `[text](@/blog/post.md#anchor)` and `[text]: @/blog/post.md`, a
# content file's path standing for its page's URL
# (https://www.getzola.org/documentation/content/linking/#internal-links).
_ZOLA_LINK = re.compile(r"(\]\(\s*|^[ ]{0,3}\[[^\]\n]+\]:[ \t]*)@/([^\s)#]+)(#[^\s)]*)?",
                        re.M)


def _zola_links(body: str, first_line: int, root: Path, read,
                warnings: list[tuple[int, str]]) -> str:
    def link(match: re.Match) -> str:
        path = _inside(root, root, match[2])
        url = read(path) if path is not None else None
        if url is None:
            line = first_line + body.count("\n", 0, match.start())
            warnings.append((line, f"@/{match[2]}: no such page to link to: the link is left "
                                   "empty"))
            return match[1]
        return match[1] + url + (match[3] or "")

    return _ZOLA_LINK.sub(link, body) if "@/" in body else body


def _jekyll_target(root: Path, how: str, target: str, read, settings: Settings) -> str | None:
    """`{% post_url 2010-07-21-name %}` (a post by its file name, in any folder of _posts) or
    `{% link path/file.md %}` (any file by its path from the site's root)."""
    # Jekyll takes both `subdir/2010-07-21-name` and `/subdir/2010-07-21-name`.
    target = target.strip().strip("\"'").lstrip("/")
    if how == "post_url":
        name = PurePosixPath(target)
        for suffix in ITEM_SUFFIXES:
            found = _inside(root, root / POSTS / name.parent, f"{name.name}{suffix}", deep=True)
            if found:
                return read(found)
        return None
    path = _inside(root, root, target)
    if path is None:
        return None
    if PurePosixPath(target).parts[0] == POSTS:
        return read(path)
    # A page of the Jekyll site: not published here, but its old address is where it was:
    # its `permalink`, else its path as .html (https://jekyllrb.com/docs/permalinks/).
    try:
        meta, _, _ = split_front_matter(target, decode(target, path.read_bytes()[:MAX_PAGE]))
    except (OSError, ItemError):
        meta = {}
    if isinstance(meta.get("permalink"), str):
        return settings.url(quote(meta["permalink"].lstrip("/"), safe=SAFE))
    page = PurePosixPath(target)
    if page.name.lower() in BUNDLE_INDEXES:
        return settings.url(quote(str(page.parent) + "/", safe=SAFE))
    return settings.url(quote(str(page.with_suffix(".html")), safe=SAFE))


def _hugo_target(root: Path, relpath: str, target: str, read) -> str | None:
    """Hugo's ref/relref lookup (https://gohugo.io/methods/page/ref/): a path from the content
    root, or relative to the page's folder, with or without its extension, or a bundle's or
    section's folder; else a page by its unique file name."""
    target = target.strip()
    folder = PurePosixPath(relpath).parent
    bases = [PurePosixPath(target.lstrip("/"))]
    if not target.startswith("/"):
        bases.insert(0, folder / target)
    for base in bases:
        names = [str(base)] + [str(base) + suffix for suffix in ITEM_SUFFIXES] + \
            [str(base / name) for name in (*BUNDLE_INDEXES, *SECTION_FILES)]
        for name in names:
            path = _inside(root, root, name)
            if path is not None:
                return read(path)
    stem = PurePosixPath(target).stem
    matches = []
    for count, path in enumerate(root.rglob(f"{stem}.*")):
        if count > MAX_SEARCH:
            break
        if path.suffix.lower() in ITEM_SUFFIXES and path.is_file():
            matches.append(path)
    return read(matches[0]) if len(matches) == 1 else None


def _inside(root: Path, folder: Path, name: str, deep: bool = False) -> Path | None:
    """The file `name` in `folder` (or, deep, in any folder below it) when it is a regular
    file inside `root`; else None. Never anything outside the items folder."""
    try:
        candidates = folder.rglob(glob.escape(name)) if deep else [folder / name]
        for count, path in enumerate(candidates):
            if count > MAX_SEARCH:
                break
            resolved = path.resolve()
            if resolved.is_file() and resolved.is_relative_to(root.resolve()):
                return path
    except (OSError, ValueError):
        pass
    return None
