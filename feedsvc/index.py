"""The published view of the items, kept up to date one file at a time.

`Index` holds mutable, sorted structures that a file change updates in O(log n) plus the
size of the touched tags; `publish()` turns them into an immutable `Snapshot`. When a change
touches a slug or id conflict, it asks for a rebuild from scratch, which resolves conflicts the
same way every time: the first path in sort order wins.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from datetime import datetime
from types import MappingProxyType
from typing import Mapping

from .items import Item, ItemError, Section
from .text import slugify


@dataclass(frozen=True)
class Problem:
    """One thing `feedsvc check` reports: `path:line: severity: message`."""

    path: str
    line: int | None
    severity: str  # "error", "warning", or "skipped" (no item, rightly left out)
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line or 1}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Snapshot:
    items: tuple[Item, ...]  # published items, newest first
    by_url: Mapping[str, Item]  # the item at each page URL (urls.py)
    aliases: Mapping[str, Item]  # old paths under base_url (no leading /) -> item
    by_tag: Mapping[str, tuple[Item, ...]]  # slugified tag -> its items, newest first
    tag_names: Mapping[str, str]  # slugified tag -> the spelling shown to people
    order: tuple[tuple, ...]  # sort keys of `items`, oldest first (for `position`)
    updated: datetime | None  # the newest update time among `items`
    problems: tuple[Problem, ...]
    version: str
    next_change: datetime | None  # when a scheduled item becomes due
    # When this snapshot was published, in whole seconds; later for every later snapshot
    # (store.py), so documents built from it can date their bytes (history.py).
    stamp: datetime | None = None
    sections: Mapping[str, Section] = field(  # page URL -> section
        default_factory=lambda: MappingProxyType({}))

    @cached_property
    def section_items(self) -> Mapping[str, tuple[Item, ...]]:
        """Section URL -> the published items in its folder, subfolders included, newest
        first. Built on first use after a change: O(items x folder depth)."""
        at_folder = {section.folder: url for url, section in self.sections.items()}
        found: dict[str, list[Item]] = {url: [] for url in self.sections}
        for item in self.items:
            folder = item.path
            while "/" in folder:
                folder = folder.rpartition("/")[0]
                if folder in at_folder:
                    found[at_folder[folder]].append(item)
        return MappingProxyType({url: tuple(items) for url, items in found.items()})

    @cached_property
    def root_items(self) -> tuple[Item, ...]:
        """The published items in no section, newest first (the `site_feed = "root"` feed)."""
        folders = {section.folder + "/" for section in self.sections.values()}
        return tuple(item for item in self.items
                     if not any(item.path.startswith(folder) for folder in folders))

    @cached_property
    def by_slug(self) -> Mapping[str, Item]:
        """The oldest published item with each slug (URLs go by `by_url`; slugs may repeat
        under date permalinks)."""
        found: dict[str, Item] = {}
        for item in reversed(self.items):
            found.setdefault(item.slug, item)
        return MappingProxyType(found)

    @cached_property
    def legacy_tags(self) -> Mapping[str, str]:
        """Tag URLs from before symbols were spelled out (C++ was `/tags/c`) -> the tag's
        key now, where that old URL names no tag today and only one tag had it."""
        old: dict[str, list[str]] = {}
        for key, name in self.tag_names.items():
            old.setdefault(slugify(name), []).append(key)
        return {slug: keys[0] for slug, keys in old.items()
                if len(keys) == 1 and slug not in self.by_tag}

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    def position(self, item: Item) -> int:
        """Index of a published item in `items`, in O(log n)."""
        return len(self.order) - 1 - bisect.bisect_left(self.order, sort_key(item))


EMPTY = Snapshot(items=(), by_url=MappingProxyType({}),
                 aliases=MappingProxyType({}), by_tag=MappingProxyType({}),
                 tag_names=MappingProxyType({}), order=(), updated=None, problems=(), version="",
                 next_change=None)


# (published, slug): where an item sorts. An attrgetter, not a function: it runs in C, and
# a rebuild calls it for every item.
sort_key = attrgetter("published", "slug")


ID_CONFLICT = ("give one a `slug` of its own, or set entry_id = \"permalink\" so ids follow "
               "URLs")
URL_CONFLICT = ("give one a `slug` of its own, or a permalink that tells them apart, such as "
                "/:path/:slug/")


def file_digest(path: str, key: tuple) -> bytes:
    """16 bytes that change whenever the file at `path` does (its stat key, hashed): the
    snapshot version folds them together, and the export's fingerprints start from them."""
    return hashlib.blake2b(f"{path}\0{key}".encode(), digest_size=16).digest()


def _folded(digest: bytes | None) -> int:
    return int.from_bytes(digest[:8], "big") if digest else 0


class NeedsRebuild(Exception):
    """An incremental change touched a slug or id conflict."""


class Index:
    def __init__(self):
        # url -> owning path, id -> owning path
        self._owner: dict[str, dict[str, str]] = {"url": {}, "id": {}}
        self._candidates: dict[str, Item] = {}  # path -> item owning its slug and id
        self._losers: dict[str, Item] = {}  # path -> item left out by a conflict
        self._problems: dict[str, list[Problem]] = {}  # only paths that have some
        self._order: list[tuple] = []  # sort keys, oldest first
        self._published: list[Item] = []  # parallel to _order
        self._by_url: dict[str, Item] = {}
        self._aliases: dict[str, Item] = {}
        self._by_tag: dict[str, list[Item]] = {}  # oldest first
        self._dirty_tags: set[str] = set()
        self._scheduled: dict[str, Item] = {}
        self._sections: dict[str, Section] = {}  # path of its _index.md -> section
        self._updated: list[datetime] = []  # update times of published items, sorted
        self._file_digests: dict[str, bytes] = {}  # path -> 16 bytes of its stat key
        self._digest = 0  # XOR of per-file digests: order-free, updated per file
        self._bulk: list[Item] | None = None

    def start_rebuild(self) -> None:
        """Collect published items unsorted until `finish_rebuild`: one sort beats 100,000
        bisect insertions."""
        self._bulk = []

    def rebuild(self, states, now: datetime, digests: dict) -> None:
        """Index every (path, state) of `states`, in path order, from scratch; `digests`
        has the `file_digest` of some states' keys, by path. The common
        file (an item with no warnings and no conflict, published) is taken here in a few
        steps: at 100,000 files, `apply` and `record` one by one took a second."""
        self.start_rebuild()
        owners, ids = self._owner["url"], self._owner["id"]
        candidates, bulk, file_digests = self._candidates, self._bulk, self._file_digests
        folded = 0
        for path, state in states:
            new = state.result
            if type(new) is Item and not new.warnings and not new.draft and \
                    new.published <= now and new.url not in owners and new.id not in ids:
                candidates[path] = new
                owners[new.url] = ids[new.id] = path
                bulk.append(new)
            else:
                self._add(path, new, now, rebuilding=True)
            digest = file_digests[path] = digests.get(path) or file_digest(path, state.key)
            folded ^= _folded(digest)
        self._digest ^= folded
        self.finish_rebuild()

    def finish_rebuild(self) -> None:
        items, self._bulk = sorted(self._bulk or (), key=sort_key), None
        self._published = items
        self._order = list(map(sort_key, items))
        self._updated = sorted(item.updated for item in items)
        self._by_url = {item.url: item for item in items}
        self._aliases = {alias: item for item in items for alias in item.aliases}
        for item in items:  # oldest first, so each tag's list comes out sorted
            for tag in item.tag_keys:
                self._by_tag.setdefault(tag, []).append(item)
        self._dirty_tags.update(self._by_tag)

    # -- changes ---------------------------------------------------------------------------

    def apply(self, path: str, old, new, now: datetime,
              rebuilding: bool = False) -> None:
        """File `path` went from result `old` to `new` (None: absent). During a rebuild, paths
        arrive in sort order and conflicts are resolved; otherwise they raise NeedsRebuild."""
        if old is not None:
            self._remove(path, old)
        if new is not None:
            self._add(path, new, now, rebuilding)

    def _remove(self, path: str, old) -> None:
        self._problems.pop(path, None)
        self._digest ^= _folded(self._file_digests.pop(path, None))
        if path in self._losers:
            del self._losers[path]
            return
        self._sections.pop(path, None)
        if not isinstance(old, Item):
            return
        if any(loser.url == old.url or loser.id == old.id for loser in self._losers.values()):
            raise NeedsRebuild  # a file that lost to this one may now win
        del self._candidates[path]
        del self._owner["url"][old.url], self._owner["id"][old.id]
        if self._scheduled.pop(path, None) is None and not old.draft:
            self._unpublish(old)

    def _add(self, path: str, new, now: datetime, rebuilding: bool) -> None:
        if isinstance(new, ItemError):
            severity = "skipped" if new.skipped else "error"
            self._problems[path] = [Problem(new.path, new.line, severity, new.message)]
            return
        if isinstance(new, Section):
            self._sections[path] = new
            return
        problems = [Problem(path, line, "warning", message) for line, message in new.warnings]
        for kind, value in (("url", new.url), ("id", new.id)):
            owner = self._owner[kind].get(value)
            if owner is not None and owner != path:
                if not rebuilding:
                    raise NeedsRebuild
                fix = ID_CONFLICT if kind == "id" else URL_CONFLICT
                problems.append(Problem(path, None, "error", f"{kind} {value!r} already used "
                                        f"by {owner}; this file is left out ({fix})"))
                self._problems[path] = problems
                self._losers[path] = new
                return
        if problems:
            self._problems[path] = problems
        self._candidates[path] = new
        self._owner["url"][new.url] = self._owner["id"][new.id] = path
        if new.draft:
            return
        if new.published > now:
            self._scheduled[path] = new
        else:
            self._publish_item(new)

    def promote_due(self, now: datetime) -> bool:
        """Publish scheduled items whose time has come."""
        due = [path for path, item in self._scheduled.items() if item.published <= now]
        for path in due:
            self._publish_item(self._scheduled.pop(path))
        return bool(due)

    def _publish_item(self, item: Item) -> None:
        if self._bulk is not None:
            self._bulk.append(item)  # sorted once in finish_rebuild
            return
        key = sort_key(item)
        at = bisect.bisect_left(self._order, key)
        self._order.insert(at, key)
        self._published.insert(at, item)
        bisect.insort(self._updated, item.updated)
        self._by_url[item.url] = item
        self._aliases.update((alias, item) for alias in item.aliases)
        for tag in item.tag_keys:
            items = self._by_tag.setdefault(tag, [])
            items.insert(bisect.bisect_left(items, key, key=sort_key), item)
            self._dirty_tags.add(tag)

    def _unpublish(self, item: Item) -> None:
        at = bisect.bisect_left(self._order, sort_key(item))
        while self._published[at] is not item:
            at += 1
        del self._order[at], self._published[at]
        del self._updated[bisect.bisect_left(self._updated, item.updated)]
        if any(self._aliases.get(alias) is not item for alias in item.aliases):
            raise NeedsRebuild  # it shared an alias with another item
        del self._by_url[item.url]
        for alias in item.aliases:
            del self._aliases[alias]
        for tag in item.tag_keys:
            self._by_tag[tag].remove(item)
            if not self._by_tag[tag]:
                del self._by_tag[tag]
            self._dirty_tags.add(tag)

    # -- versions and snapshots ------------------------------------------------------------

    def record(self, path: str, key: tuple | None) -> None:
        """Fold a file's stat key into the version (called after `apply`)."""
        if key is None:
            return
        digest = self._file_digests[path] = file_digest(path, key)
        self._digest ^= _folded(digest)

    def digest_of(self, path: str) -> bytes | None:
        """`file_digest` of the file at `path` as last recorded."""
        return self._file_digests.get(path)

    def publish(self, previous: Snapshot, stamp: datetime | None = None) -> Snapshot:
        by_tag = dict(previous.by_tag)
        tag_names = dict(previous.tag_names)
        for tag in self._dirty_tags:
            items = self._by_tag.get(tag)
            if items:
                by_tag[tag] = tuple(reversed(items))
                newest = by_tag[tag][0]
                tag_names[tag] = newest.tags[newest.tag_keys.index(tag)]
            else:
                by_tag.pop(tag, None)
                tag_names.pop(tag, None)
        self._dirty_tags.clear()
        problems = tuple(sorted((p for ps in self._problems.values() for p in ps),
                                key=lambda p: (p.path, p.line or 0, p.message)))
        scheduled = [item.published for item in self._scheduled.values()]
        return Snapshot(
            items=tuple(reversed(self._published)),
            by_url=MappingProxyType(dict(self._by_url)),
            aliases=MappingProxyType(dict(self._aliases)),
            by_tag=MappingProxyType(by_tag),
            tag_names=MappingProxyType(tag_names),
            order=tuple(self._order),
            updated=self._updated[-1] if self._updated else None,
            problems=problems,
            version=f"{self._digest:016x}-{len(self._published)}-{len(problems)}",
            next_change=min(scheduled, default=None),
            stamp=stamp,
            sections=MappingProxyType({s.url: s for _, s in sorted(self._sections.items())}),
        )

