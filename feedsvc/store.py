"""The in-memory index of the items folder, published as immutable `Snapshot`s.

The store decides; its parts each own one job and one kind of failure: `folder.Folder` lists
the files and says when the folder cannot be read, `parsing.Parser` turns files into items
(on every core at a cold start), `cache` keeps parsed items across restarts, and
`watcher.Watcher` says when to look again. Only changed files are re-parsed. A new `Snapshot`
replaces the old one in a single assignment, so readers never wait and never see half an
update; a loss the store cannot explain is never published (`faults`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from . import cache
from .config import Settings
from .folder import OUTSIDE, Folder
from .index import EMPTY, Index, NeedsRebuild, Problem, Snapshot  # noqa: F401 (re-exported)
from .index import file_digest
from .items import Item
from .parsing import FileState, Parser
from .watcher import Watcher

log = logging.getLogger("feedsvc")
# Parse on every core when at least this many files need it (a cold start, not an edit).
PARALLEL_MIN = 2000
# A start that found the cache and re-read fewer files than this leaves the cache as it is:
# writing all of it (1.6 s at 100,000 items) would cost more than re-reading those few files
# at the next start. (`feedsvc build` after one edit, 6.4 s -> 4.8 s at 100,000 items.)
SAVE_AT_START = 100
# Faults under which the snapshot served is the last good one (/healthz answers 503).
STALE = ("folder", "held")


class Store:
    """Owns the index; `snapshot` is always a complete, consistent view."""

    def __init__(self, settings: Settings, clock=lambda: datetime.now(timezone.utc)):
        self.settings = settings
        self.root = Path(settings.items_dir)
        self.clock = clock
        self.folder = Folder(self.root)
        self.parser = Parser(settings, self.folder)
        # Called as listener(old, new) after each new snapshot, in the refreshing thread.
        self.listeners: list = []
        # What is wrong right now, by kind ("folder", "held", "listener", ...): logged once
        # when it starts and when it ends, and shown on /healthz. The STALE kinds mean the
        # snapshot served is the last good one, not what the folder holds.
        self.faults: dict[str, str] = {}
        self._cache_dirty = False
        self._changed = 0  # files parsed or gone since the cache was written
        self._index: Index | None = None  # None: rebuild it on the next refresh
        # Changes are in the index but wait for the next clock second to be published; and
        # whether the index was rebuilt since the last snapshot (publish from EMPTY, then).
        self.unpublished = False
        self._rebuilt = False
        self._lock = threading.Lock()
        self._watcher = Watcher(self)
        self.snapshot = EMPTY
        started = time.perf_counter()
        # Indexing creates about ten objects per item and frees almost none: the cyclic
        # collector would walk them all again and again for nothing. Paused, then frozen.
        gc.disable()
        try:
            self._files: dict[str, FileState] = {
                relpath: FileState(*entry) for relpath, entry in cache.load(settings).items()}
            cached = bool(self._files)
            self.refresh()
        finally:
            gc.enable()
            gc.freeze()
        log.info("indexed %d files in %s in %.1f s (%d parsed, the rest from the cache): "
                 "%d published, %d left out (feedsvc check lists them)", len(self._files),
                 self.root, time.perf_counter() - started, self.parse_count,
                 len(self.snapshot.items), len(self.snapshot.errors))
        if not cached or self._changed >= SAVE_AT_START:
            self.save_cache()
        self.parser.encoded = {}  # 55 MB of text at 100,000 items: not kept past the start

    def save_cache(self) -> None:
        """Write the on-disk cache if anything was parsed or removed since it was read."""
        with self._lock:
            encoded, self.parser.encoded = self.parser.encoded, {}
            if not self._cache_dirty:
                return
            # The entries the parse workers wrote, for files whose state is still the one
            # they parsed; the others encoded here.
            texts, entries = {}, {}
            for relpath, state in self._files.items():
                written = encoded.get(relpath)
                if written is not None and written[0] is state:
                    texts[relpath] = written[1]
                else:
                    entries[relpath] = (state.key, state.result)
            self._cache_dirty, self._changed = False, 0
        failure = cache.save(self.settings, entries, texts)  # logged there, once
        if failure:
            self.faults["cache"] = failure
        else:
            self.faults.pop("cache", None)

    # -- scanning ----------------------------------------------------------------------------

    def refresh(self, paths: Iterable[str] | None = None) -> bool:
        """Re-read what changed (all files, or just `paths`); publish a new snapshot if the
        visible content changed. Returns whether it did."""
        with self._lock:
            if self._folder_fault():
                return False  # a folder that cannot be read is not a folder with no items
            parsed: dict[str, FileState] | None = None
            if paths is None and not self._files:
                # Nothing known yet (a cold start): the workers parse what the scan finds
                # while it goes on.
                found = {}
                scanned = self._scanned(found)
                parsed = self.parser.in_parallel(scanned, at_least=PARALLEL_MIN)
                for _ in scanned:
                    pass  # the rest of the scan, should the workers have failed midway
                gone = set()
            elif paths is None:
                found = dict(self.folder.scan())
                gone = set(self._files) - set(found)
            else:
                # Each path once: a file deleted and re-created between two events must be
                # seen as one change from its old state, or the index would keep both.
                found, gone = {}, set()
                for relpath in set(paths):
                    key = self.folder.key(self.root / relpath)
                    if key is not None:
                        found[relpath] = key
                    elif relpath in self._files:
                        gone.add(relpath)
            changes: dict[str, tuple] = {}  # path -> (old result or None, new state or None)
            for relpath in gone:
                changes[relpath] = (self._files.pop(relpath).result, None)

            stale = {relpath: key for relpath, key in found.items()
                     if relpath not in self._files or self._files[relpath].key != key}
            if parsed is None:
                to_parse = [(relpath, key) for relpath, key in stale.items()
                            if not key[-1] and key != OUTSIDE]
                parsed = self.parser.in_parallel(to_parse) \
                    if len(to_parse) >= PARALLEL_MIN else {}
            for relpath, key in stale.items():
                state = self._files.get(relpath)
                fresh = parsed.get(relpath)
                self._files[relpath] = fresh or self.parser.read(relpath, key, state)
                changes[relpath] = (state and state.result, self._files[relpath])
            self._cache_dirty |= bool(changes)
            self._changed += len(changes)
            lost = sum(1 for old, new in changes.values()
                       if isinstance(old, Item) and not (new and isinstance(new.result, Item)))
            try:
                return self._update_index(changes, lost)
            finally:
                self.parser.digests = {}  # for a rebuild from this parse only

    def _scanned(self, found: dict[str, tuple]):
        """The files the scan finds that are to be read, each noted in `found` too."""
        for relpath, key in self.folder.scan():
            found[relpath] = key
            if not key[-1] and key != OUTSIDE:  # not a page, a resource or a link out
                yield relpath, key

    def _folder_fault(self) -> str:
        """Why the items folder cannot be read now (so the snapshot stays as it was), or ""."""
        reason = self.folder.fault()
        self._set_fault("folder", reason)
        return reason

    def _set_fault(self, kind: str, reason: str) -> None:
        if reason and self.faults.get(kind) != reason:
            log.error("%s; keeping the last good snapshot" if kind in STALE else "%s", reason)
        elif not reason and kind in self.faults:
            log.warning("recovered: %s", self.faults[kind])
        if reason:
            self.faults[kind] = reason
        else:
            self.faults.pop(kind, None)

    def _update_index(self, changes: dict, lost: int = 0) -> bool:
        now = self.clock()
        try:
            if self._index is None:
                raise NeedsRebuild
            for relpath in sorted(changes):
                old, new = changes[relpath]
                self._index.apply(relpath, old, new and new.result, now)
                self._index.record(relpath, new and new.key)
            if not self._index.promote_due(now) and not changes and not self.unpublished:
                return False
        except NeedsRebuild:
            self._index, self._rebuilt = Index(), True
            self._index.rebuild(sorted(self._files.items()), now, self.parser.digests)
        stamp = now.replace(microsecond=0)
        if stamp == self.snapshot.stamp:
            # At most one snapshot per clock second: Last-Modified has whole seconds, and a
            # poller holding this second's document must see the next one as newer, or
            # libcurl drops it as "not new enough". The watcher publishes it next second.
            self.unpublished = True
            return False
        snapshot = self._index.publish(EMPTY if self._rebuilt else self.snapshot, stamp)
        self.unpublished = self._rebuilt = False
        if self.snapshot.items and not snapshot.items and lost > 1:
            # Everything gone in one go: an unmounted share, a deploy that moved the folder.
            # Never announce that loss; the next change rebuilds from what the files say.
            self._set_fault("held", f"all {lost} items vanished at once from {self.root}")
            self._index = None
            return False
        self._set_fault("held", "")
        if snapshot.version == self.snapshot.version:
            return False
        old, self.snapshot = self.snapshot, snapshot
        for listener in self.listeners:
            # One failing listener (a hub publisher, say) must not stop the others, nor the
            # watcher that called it.
            name = f"listener {getattr(listener, '__qualname__', repr(listener))}"
            try:
                listener(old, snapshot)
            except Exception as error:
                self._set_fault(name, f"{name} failed: {error!r}")
            else:
                self._set_fault(name, "")
        return True

    def file_keys(self) -> dict[str, tuple]:
        """Each file's key as last read (workers.Follower compares the folder with them)."""
        with self._lock:
            return {relpath: state.key for relpath, state in self._files.items()}

    def file_digest(self, relpath: str) -> bytes:
        """`index.file_digest` of a file as last read (the index hashed it already)."""
        digest = self._index and self._index.digest_of(relpath)
        return digest or file_digest(relpath, self._files[relpath].key)

    def parsed_items(self) -> list[Item]:
        """Every item that parsed, published or not, in path order."""
        with self._lock:
            states = sorted(self._files.items())
        return [state.result for _, state in states if isinstance(state.result, Item)]

    # -- watching ----------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the folder in a background thread until `stop()`."""
        self._watcher.start()

    def stop(self) -> None:
        self._watcher.stop()

    @property
    def parse_count(self) -> int:
        """Files parsed so far (tests use it to prove incremental work)."""
        return self.parser.count
