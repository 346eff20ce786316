"""Which files of a site folder are posts, in the layouts of Jekyll, Hugo and Zola.

A blog moves here as its folder is: a Jekyll site (posts in `_posts/`, drafts in `_drafts/`,
its templates, data and output in other `_` folders), or the `content/` folder of a Hugo or
Zola site (sections described by `_index.md`, page bundles: a folder whose `index.md` is the
page and whose other files are its resources). What is not a post is left out and `feedsvc
check` says why, per file.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import PurePosixPath
from typing import NamedTuple

ITEM_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html"}
SECTION_FILES = {"_index.md", "_index.markdown", "_index.html"}
BUNDLE_INDEXES = {"index.md", "index.markdown", "index.html"}
POSTS, DRAFTS = "_posts", "_drafts"
# A dated file name: Jekyll's `2024-05-01-name`, Zola's also `2024-05-01_name`.
DATED_NAME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[-_](.+)$")


class FileName(NamedTuple):
    """The parts of a relative POSIX path that name an item, as PurePosixPath would give
    them, at a fraction of its cost (worked out for each of 100,000 files at a cold start)."""

    parent: str  # the name of the folder it is in; "" at the top
    name: str
    stem: str
    suffix: str
    nested: bool  # in a folder, not at the top


def file_name(relpath: str) -> FileName:
    folder, _, name = relpath.rpartition("/")
    stem, suffix = posixpath.splitext(name)
    return FileName(folder.rpartition("/")[2], name, stem, suffix, bool(folder))


def is_item_name(name: str) -> bool:
    """Whether a file of this name may be an item (rather than an asset or a hidden file)."""
    # Not os.path.splitext: this runs for every file of every scan.
    return not name.startswith(".") and "." in name and \
        "." + name.rpartition(".")[2].lower() in ITEM_SUFFIXES


def walks_folder(name: str) -> bool:
    """Hidden folders and Jekyll's `_layouts`, `_includes`, `_data`, `_sass`, `_site` ... hold
    no posts (Jekyll reads no other `_` folder as content); `_posts` and `_drafts` do."""
    return not name.startswith((".", "_")) or name in (POSTS, DRAFTS)


def is_jekyll_site(root: str) -> bool:
    """A folder with `_posts/` is a Jekyll site: its posts are there and in `_drafts/`."""
    return os.path.isdir(os.path.join(root, POSTS))


def not_an_item(relpath: str, in_bundle: bool, jekyll: bool) -> str:
    """Why the item-like file at `relpath` is no post, or "" when it may be one (or, for a
    folder's `_index.md`, a section).

    `in_bundle`: its folder holds a bundle's `index.md`; `jekyll`: the root is a Jekyll site.
    """
    top, _, _ = relpath.partition("/")
    folder, _, name = relpath.rpartition("/")
    if jekyll and top not in (POSTS, DRAFTS):
        return "a page of the Jekyll site, not a post: posts are in _posts/ (and _drafts/)"
    if name.lower() in SECTION_FILES and not folder:
        return ("describes the home page (Hugo/Zola _index), not an item: the home page's title "
                "and subtitle are the settings `title` and `subtitle`")
    if in_bundle and name.lower() not in BUNDLE_INDEXES:
        return f"a resource of the page bundle {folder or '.'}/, not an item"
    return ""


def is_draft_path(relpath: str) -> bool:
    return relpath.partition("/")[0] == DRAFTS


def holds_bundle(names) -> bool:
    """Whether a folder with these entry names is a page bundle."""
    return any(name.lower() in BUNDLE_INDEXES for name in names)


# Jekyll leaves these out of a site even when its config does not say so
# (https://jekyllrb.com/docs/configuration/options/: `exclude`).
JEKYLL_EXCLUDES = {"Gemfile", "Gemfile.lock", "node_modules", "vendor", "feedsvc.toml"}
PAGE_SUFFIXES = {".md", ".markdown", ".html"}


def is_bundle_index(relpath: str) -> bool:
    """Whether the item-like file at `relpath` is a page bundle's own page (its folder's
    other files are its resources)."""
    folder, _, name = relpath.rpartition("/")
    return bool(folder) and name.lower() in BUNDLE_INDEXES


def is_public_file(name: str) -> bool:
    """Whether a file at this path (relative, `/`-separated) inside a served folder may be
    served: no hidden part, no way up."""
    parts = PurePosixPath(name).parts
    return bool(parts) and not any(part.startswith(".") or part == ".." for part in parts)


def is_bundle_resource(name: str, index_name: str) -> bool:
    """A file a page bundle serves: public, and not the bundle's own page."""
    return is_public_file(name) and name != index_name


def is_jekyll_static(relpath: str, excludes: set[str]) -> bool:
    """A static file of a Jekyll site, which Jekyll copies as it is (a picture in `img/`):
    outside `_` folders, no page, not excluded."""
    path = PurePosixPath(relpath)
    return is_public_file(relpath) and not any(part.startswith("_") for part in path.parts) \
        and path.suffix.lower() not in PAGE_SUFFIXES and path.parts[0] not in excludes
