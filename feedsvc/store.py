"""The in-memory index of the items folder, published as immutable `Snapshot`s.

The folder is scanned once at start; afterwards the operating system's file events (through
watchfiles) say which files changed, and a light periodic rescan (stat only) catches anything
the events missed. Only changed files are re-parsed. A new `Snapshot` replaces the old one in a
single assignment, so readers never wait and never see half an update.
"""

from __future__ import annotations

import gc
import logging
import os
import stat
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from . import cache
from .config import Settings
from .index import EMPTY, Index, NeedsRebuild, Problem, Snapshot  # noqa: F401 (re-exported)
from .items import Item, ItemError, read_item
from .layout import (BUNDLE_INDEXES, holds_bundle, is_item_name, is_jekyll_site, not_an_item,
                     walks_folder)

log = logging.getLogger("feedsvc")
# How often a torn read (the file changed while we read it) is retried before keeping the
# last good version.
READ_ATTEMPTS = 3
# Parse on every core when at least this many files need it (a cold start, not an edit).
PARALLEL_MIN = 2000
# Faults under which the snapshot served is the last good one (/healthz answers 503).
STALE = ("folder", "held")
PARALLEL_CHUNK = 1000


def _parse_chunk(settings: Settings, paths: list[str]) -> list[tuple]:
    """In a worker process: [(path, Item or ItemError, stat key after the read)]."""
    root = Path(settings.items_dir)
    results = []
    for relpath in paths:
        path = root / relpath
        try:
            result = read_item(path, root, settings, keep_body=False)
        except ItemError as error:
            result = error
        except Exception:  # left to the main process, which logs it properly
            continue
        results.append((relpath, result, _file_key(path)))
    return results


def _with_role(stat_key: tuple | None, reason: str) -> tuple | None:
    """A file's key: its stat key and why it is no item ("" if it may be one), so a file
    that becomes a bundle's resource (or stops being one) counts as changed."""
    return None if stat_key is None else (*stat_key, reason)


def _file_key(path: Path) -> tuple | None:
    """(mtime_ns, size, inode) of a regular file (through a link); None for anything else."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino) if stat.S_ISREG(st.st_mode) else None


# Filesystems whose changes made elsewhere raise no inotify events here.
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "afs",
                       "glusterfs", "ceph", "fuse.s3fs", "fuse.rclone", "virtiofs"}


def _network_filesystem(path: Path) -> bool:
    """Whether `path` is on a network filesystem (Linux: the longest matching mount)."""
    try:
        target, best, kind = str(path.resolve()), "", ""
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and (target == fields[1] or target.startswith(
                        fields[1].rstrip("/") + "/")) and len(fields[1]) >= len(best):
                    best, kind = fields[1], fields[2]
        return kind in NETWORK_FILESYSTEMS
    except OSError:
        return False


@dataclass(frozen=True)
class _FileState:
    key: tuple  # (mtime_ns, size, inode): unchanged key means unchanged file
    result: Item | ItemError


class Store:
    """Owns the index; `snapshot` is always a complete, consistent view."""

    def __init__(self, settings: Settings, clock=lambda: datetime.now(timezone.utc)):
        self.settings = settings
        self.root = Path(settings.items_dir)
        self.clock = clock
        self.parse_count = 0  # files parsed so far (tests use it to prove incremental work)
        # Called as listener(old, new) after each new snapshot, in the refreshing thread.
        self.listeners: list = []
        # What is wrong right now, by kind ("folder", "held", "listener", ...): logged once
        # when it starts and when it ends, and shown on /healthz. The STALE kinds mean the
        # snapshot served is the last good one, not what the folder holds.
        self.faults: dict[str, str] = {}
        self._cache_dirty = False
        self._index: Index | None = None  # None: rebuild it on the next refresh
        self._jekyll = is_jekyll_site(str(self.root))  # looked at again on every full scan
        # Changes are in the index but wait for the next clock second to be published; and
        # whether the index was rebuilt since the last snapshot (publish from EMPTY, then).
        self._unpublished = False
        self._rebuilt = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.snapshot = EMPTY
        started = time.perf_counter()
        # Indexing creates about ten objects per item and frees almost none: the cyclic
        # collector would walk them all again and again for nothing. Paused, then frozen.
        gc.disable()
        try:
            self._files: dict[str, _FileState] = {
                relpath: _FileState(*entry) for relpath, entry in cache.load(settings).items()}
            self.refresh()
        finally:
            gc.enable()
            gc.freeze()
        log.info("indexed %d files in %s in %.1f s (%d parsed, the rest from the cache): "
                 "%d published, %d left out (feedsvc check lists them)", len(self._files),
                 self.root, time.perf_counter() - started, self.parse_count,
                 len(self.snapshot.items), len(self.snapshot.errors))
        self.save_cache()

    def save_cache(self) -> None:
        """Write the on-disk cache if anything was parsed or removed since it was read."""
        with self._lock:
            if not self._cache_dirty:
                return
            entries = {relpath: (state.key, state.result) for relpath, state in self._files.items()}
            self._cache_dirty = False
        cache.save(self.settings, entries)

    # -- scanning ----------------------------------------------------------------------------

    def refresh(self, paths: Iterable[str] | None = None) -> bool:
        """Re-read what changed (all files, or just `paths`); publish a new snapshot if the
        visible content changed. Returns whether it did."""
        with self._lock:
            if self._folder_fault():
                return False  # a folder that cannot be read is not a folder with no items
            if paths is None:
                found = dict(self._scan())
                gone = set(self._files) - set(found)
            else:
                # Each path once: a file deleted and re-created between two events must be
                # seen as one change from its old state, or the index would keep both.
                found, gone = {}, set()
                for relpath in set(paths):
                    key = self._stat_key(self.root / relpath)
                    if key is not None:
                        found[relpath] = key
                    elif relpath in self._files:
                        gone.add(relpath)
            changes: dict[str, tuple] = {}  # path -> (old result or None, new state or None)
            for relpath in gone:
                changes[relpath] = (self._files.pop(relpath).result, None)

            stale = {relpath: key for relpath, key in found.items()
                     if relpath not in self._files or self._files[relpath].key != key}
            to_parse = {relpath: key for relpath, key in stale.items() if not key[-1]}
            parsed = self._parse_in_parallel(to_parse) if len(to_parse) >= PARALLEL_MIN else {}
            for relpath, key in stale.items():
                state = self._files.get(relpath)
                fresh = parsed.get(relpath)
                self._files[relpath] = fresh or self._read(relpath, key, state)
                changes[relpath] = (state and state.result, self._files[relpath])
            self._cache_dirty |= bool(changes)
            lost = sum(1 for old, new in changes.values()
                       if isinstance(old, Item) and not (new and isinstance(new.result, Item)))
            return self._update_index(changes, lost)

    def _folder_fault(self) -> str:
        """Why the items folder cannot be read right now (and so why the snapshot stays as it
        was), or ""; recorded in `faults` and logged once."""
        root = str(self.root)
        try:
            with os.scandir(root):
                reason = ""
        except FileNotFoundError:
            reason = f"items folder {root} does not exist"
        except NotADirectoryError:
            reason = f"items folder {root} is not a folder"
        except OSError as error:
            reason = f"items folder {root} cannot be read: {error.strerror or error}"
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
            if not self._index.promote_due(now) and not changes and not self._unpublished:
                return False
        except NeedsRebuild:
            self._index, self._rebuilt = Index(), True
            self._index.start_rebuild()
            for relpath in sorted(self._files):
                state = self._files[relpath]
                self._index.apply(relpath, None, state.result, now, rebuilding=True)
                self._index.record(relpath, state.key)
            self._index.finish_rebuild()
        stamp = now.replace(microsecond=0)
        if stamp == self.snapshot.stamp:
            # At most one snapshot per clock second: Last-Modified has whole seconds, and a
            # poller holding this second's document must see the next one as newer, or
            # libcurl drops it as "not new enough". The watcher publishes it next second.
            self._unpublished = True
            return False
        snapshot = self._index.publish(EMPTY if self._rebuilt else self.snapshot, stamp)
        self._unpublished = self._rebuilt = False
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

    def _scan(self):
        """Yield (relative path, stat key) for every item file; never leaves the folder.

        Plain strings and DirEntry's cached stat: at 100,000 files, pathlib's overhead was
        most of the start-up scan."""
        root = str(self.root)
        if not os.path.isdir(root):
            return  # refresh() has said why
        self._jekyll = is_jekyll_site(root)
        prefix = len(root.rstrip(os.sep)) + 1
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError as error:
                log.warning("cannot list %s: %s", folder, error.strerror)
                continue
            bundle = folder != root and holds_bundle(entry.name for entry in entries)
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if walks_folder(entry.name):
                            stack.append(entry.path)
                    elif is_item_name(entry.name):
                        relpath = entry.path[prefix:].replace(os.sep, "/")
                        if entry.is_symlink():
                            key = self._stat_key(Path(entry.path))
                        else:
                            st = entry.stat(follow_symlinks=False)
                            key = _with_role((st.st_mtime_ns, st.st_size, st.st_ino),
                                             not_an_item(relpath, bundle, self._jekyll))
                        if key is not None:
                            yield relpath, key
                except OSError:
                    continue

    def _stat_key(self, path: Path) -> tuple | None:
        if path.is_symlink():
            # A symlink is served only if it stays inside the items folder.
            try:
                path.resolve(strict=True).relative_to(self.root.resolve())
            except (OSError, ValueError, RuntimeError):
                return ("outside", "") if path.exists() else None
        relpath = path.relative_to(self.root).as_posix()
        bundle = path.parent != self.root and any(
            (path.parent / name).is_file() for name in BUNDLE_INDEXES)
        return _with_role(_file_key(path), not_an_item(relpath, bundle, self._jekyll))

    def _parse_in_parallel(self, stale: dict[str, tuple]) -> dict[str, _FileState]:
        """Parse many files on every core (a cold start of 100,000 items). Files that changed
        while read, or anything a worker could not do, are left to `_read`."""
        workers = os.cpu_count() or 1
        if workers < 2:
            return {}
        paths = sorted(stale)
        chunks = [paths[n:n + PARALLEL_CHUNK] for n in range(0, len(paths), PARALLEL_CHUNK)]
        parsed: dict[str, _FileState] = {}
        try:
            # spawn, not fork: the server's threads must not be copied mid-flight.
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                for results in pool.map(_parse_chunk, [self.settings] * len(chunks), chunks):
                    for relpath, result, key in results:
                        if key == stale[relpath][:-1]:
                            key = stale[relpath]
                            parsed[relpath] = self._report(relpath, _FileState(key, result))
        except (OSError, BrokenProcessPool) as error:
            log.warning("parsing in parallel failed (%s); parsing in this process", error)
        self.parse_count += len(parsed)
        return parsed

    def _read(self, relpath: str, key: tuple, previous: _FileState | None) -> _FileState:
        if key == ("outside", ""):
            error = ItemError(relpath, None, "symbolic link points outside the items folder")
            return self._report(relpath, _FileState(key, error))
        if key[-1]:  # not an item, by where it is: nothing to read
            return self._report(relpath, _FileState(key, ItemError(relpath, None, key[-1],
                                                                   skipped=True)))
        path = self.root / relpath
        for _ in range(READ_ATTEMPTS):
            self.parse_count += 1
            try:
                result = read_item(path, self.root, self.settings, mtime=key[0] / 1e9,
                                   keep_body=False)
            except ItemError as error:
                result = error
            except Exception as error:  # a bug of ours must not take the other items down
                log.exception("%s: unexpected error while parsing", relpath)
                result = ItemError(relpath, None, f"could not be parsed ({error!r}); "
                                   "please report this as a feedsvc bug")
            after = self._stat_key(path)
            if after == key:
                return self._report(relpath, _FileState(key, result))
            if after is None:
                return _FileState(key, ItemError(relpath, None, "file vanished while read"))
            key = after  # the file changed while we read it: read it again
        log.warning("%s: still changing after %d reads; keeping the last good version",
                    relpath, READ_ATTEMPTS)
        if previous is not None and isinstance(previous.result, Item):
            return previous
        return _FileState(key, ItemError(relpath, None, "file kept changing while read"))

    def _report(self, relpath: str, state: _FileState) -> _FileState:
        if isinstance(state.result, ItemError) and not state.result.skipped:
            log.warning("%s (left out)", state.result)
        return state

    def parsed_items(self) -> list[Item]:
        """Every item that parsed, published or not, in path order."""
        with self._lock:
            states = sorted(self._files.items())
        return [state.result for _, state in states if isinstance(state.result, Item)]

    # -- watching ----------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the folder in a background thread until `stop()`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="feedsvc-watch",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        import watchfiles

        last_rescan = time.monotonic()
        first = True
        while not self._stop.is_set():
            # The folder as it is now: behind `--items current`, a deploy swaps the link
            # (`ln -sfn releases/2 tmp && mv -T tmp current`) and the watch must follow.
            root = self.root.resolve()
            try:
                # A batch ends after `step` ms without events (at most `debounce`): a git
                # checkout of thousands of files arrives as one batch, one snapshot.
                for changes in watchfiles.watch(root, stop_event=self._stop, debounce=3000,
                                                step=200, rust_timeout=1000,
                                                yield_on_timeout=True, raise_interrupt=False,
                                                force_polling=self._polling()):
                    if self.root.resolve() != root:
                        first = True  # rescan all, and watch the new target
                        break
                    paths = self._changed_paths(root, changes)
                    due = self.snapshot.next_change
                    if first or time.monotonic() - last_rescan >= self.settings.rescan_interval:
                        # The first pass also catches what changed while the watch was set up.
                        first = False
                        last_rescan = time.monotonic()
                        self.refresh()
                        self.save_cache()
                    elif paths is None or (due is not None and due <= self.clock()):
                        self.refresh()
                    elif paths or self._unpublished:
                        self.refresh(paths)
                    if "folder" in self.faults:
                        # The watch saw the folder go; watches hold on to what they watched
                        # (a folder renamed away), so a new one is set up once it is back.
                        raise FileNotFoundError(self.faults["folder"])
            except Exception as error:  # the folder vanished, too many watches, ...
                log.warning("file watcher stopped (%s); rescanning every second until it "
                            "can watch again", error)
                while not self._stop.wait(1.0):
                    self.refresh()
                    if self.root.is_dir():
                        first = True
                        break

    def _polling(self) -> bool | None:
        """Whether to poll rather than wait for events: the `watch` setting, or (auto) where
        events do not arrive: network and FUSE filesystems."""
        if self.settings.watch != "auto":
            return self.settings.watch == "poll"
        return _network_filesystem(self.root) or None  # None: watchfiles' own guess (Docker)

    def _changed_paths(self, root: Path, changes) -> list[str] | None:
        """Relative item paths from watcher events; None when only a full rescan will do
        (a folder was renamed or removed)."""
        paths = []
        for _, changed in changes:
            try:
                relative = Path(changed).relative_to(root)
            except ValueError:
                continue
            if relative.name.startswith(".") or \
                    not all(walks_folder(part) for part in relative.parts[:-1]):
                continue
            if relative.name.lower() in BUNDLE_INDEXES:
                return None  # its siblings may have become (or stopped being) resources
            if is_item_name(relative.name) and not Path(changed).is_dir():
                paths.append(relative.as_posix())
            elif not Path(changed).is_file():
                return None  # a folder came, went or was renamed: rescan everything
        return paths
