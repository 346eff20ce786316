"""Files -> `Item`s (or `ItemError`s), one at a time or on every core, never a torn read.

A file that changes while it is read is read again; one that keeps changing keeps its last
good version. A worker process that fails leaves its files to this process.
"""

from __future__ import annotations

import logging
import marshal
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from typing import Iterable

from . import cache
from .config import Settings
from .folder import OUTSIDE, Folder, file_key
from .index import file_digest
from .items import Item, ItemError, read_file, read_item
from .layout import is_bundle_index

log = logging.getLogger("feedsvc")
# How often a torn read (the file changed while we read it) is retried before keeping the
# last good version.
READ_ATTEMPTS = 3
PARALLEL_CHUNK = 1000


@dataclass(frozen=True)
class FileState:
    key: tuple  # (mtime_ns, size, inode, role): unchanged key means unchanged file
    result: Item | ItemError


def _parse_chunk(settings: Settings, paths: list[str]) -> tuple[list[tuple], bytes]:
    """In a worker process: [(path, stat key after the read, its cache entry as text or None,
    the result itself when it has no such entry, `file_digest` of the key)], and the
    entries marshalled (`cache.entry_and_text`), in the same order. The main process builds
    its items from the entries and writes the cache file from the texts; the digests, which
    the index would otherwise make one by one, travel along."""
    root = str(settings.items_dir)
    results, entries = [], []
    for relpath in paths:
        path = os.path.join(root, relpath)
        try:
            result = read_file(relpath, path, settings, keep_body=False)
        except ItemError as error:
            result = error
        except Exception:  # left to the main process, which logs it properly
            continue
        key = file_key(path, is_bundle_index(relpath))
        # Files to parse are no resource or page: their role is "".
        encoded = cache.entry_and_text(relpath, (*key, ""), result) if key else None
        digest = file_digest(relpath, (*key, "")) if key else None
        if encoded:
            entries.append(encoded[0])
        results.append((relpath, key, encoded and encoded[1], None if encoded else result,
                        digest))
    return results, marshal.dumps(entries)


def _pool_context():
    """fork when this process runs no other thread (a cold start: no copy of the imports,
    ~0.6 s of CPU per worker); else spawn, as a forked thread's locks could be held."""
    if threading.active_count() == 1 and "fork" in get_all_start_methods():
        return get_context("fork")
    return get_context("spawn")


class Parser:
    def __init__(self, settings: Settings, folder: Folder):
        self.settings = settings
        self.folder = folder
        self.count = 0  # files parsed so far (tests use it to prove incremental work)
        # What `in_parallel` parsed, as cache entries: relpath -> (its FileState, text); and
        # the `index.file_digest` of each parsed state's key, by relpath, for the index
        # rebuilt in the same refresh (the store drops them after it).
        self.encoded: dict[str, tuple[FileState, str]] = {}
        self.digests: dict[str, bytes] = {}

    def in_parallel(self, files: Iterable[tuple[str, tuple]],
                    at_least: int = 0) -> dict[str, FileState]:
        """Parse many files on every core (a cold start of 100,000 items): `files` are
        (relative path, key) pairs, handed to the workers in chunks as they come, so a scan
        that yields them goes on while the first chunks are parsed. Fewer than `at_least`
        files are not worth a pool: then nothing is parsed here. Files that changed while
        read, or anything a worker could not do, are left to `read`."""
        workers = os.cpu_count() or 1
        if workers < 2:
            return {}
        stale: dict[str, tuple] = {}
        parsed: dict[str, FileState] = {}
        pool, pending = None, []
        waiting: list[str] = []  # paths not handed out yet
        try:
            for relpath, key in files:
                stale[relpath] = key
                waiting.append(relpath)
                if len(waiting) >= PARALLEL_CHUNK and len(stale) >= at_least:
                    pool = pool or ProcessPoolExecutor(workers, mp_context=_pool_context())
                    pending += self._hand_out(pool, waiting)
                    waiting = []
            if pool is None and len(stale) < max(at_least, 1):
                return {}
            pool = pool or ProcessPoolExecutor(workers, mp_context=_pool_context())
            pending += self._hand_out(pool, waiting)
            for future in pending:
                self._take(future.result(), stale, parsed)
        except (OSError, BrokenProcessPool) as error:
            log.warning("parsing in parallel failed (%s); parsing in this process", error)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        self.count += len(parsed)
        return parsed

    def _hand_out(self, pool: ProcessPoolExecutor, paths: list[str]) -> list:
        return [pool.submit(_parse_chunk, self.settings, paths[n:n + PARALLEL_CHUNK])
                for n in range(0, len(paths), PARALLEL_CHUNK)]

    def _take(self, chunk: tuple[list[tuple], bytes], stale: dict[str, tuple],
              parsed: dict[str, FileState]) -> None:
        results, entries = chunk
        decoded = cache.entries_from_values(marshal.loads(entries),
                                            str(self.settings.items_dir))
        for relpath, key, text, result, digest in results:
            if key is None or key != stale[relpath][:-1]:
                continue  # changed while read: `read` reads it again
            if text is not None:
                result = decoded[relpath][1]
            state = parsed[relpath] = _report(relpath, FileState(stale[relpath], result))
            self.digests[relpath] = digest
            if text is not None:
                self.encoded[relpath] = (state, text)

    def read(self, relpath: str, key: tuple, previous: FileState | None) -> FileState:
        if key == OUTSIDE:
            error = ItemError(relpath, None, "symbolic link points outside the items folder")
            return _report(relpath, FileState(key, error))
        if key[-1]:  # not an item, by where it is: nothing to read
            return _report(relpath, FileState(key, ItemError(relpath, None, key[-1],
                                                             skipped=True)))
        root = self.folder.root
        path = root / relpath
        for _ in range(READ_ATTEMPTS):
            self.count += 1
            try:
                result = read_item(path, root, self.settings, mtime=key[0] / 1e9,
                                   keep_body=False)
            except ItemError as error:
                result = error
            except Exception as error:  # a bug of ours must not take the other items down
                log.exception("%s: unexpected error while parsing", relpath)
                result = ItemError(relpath, None, f"could not be parsed ({error!r}); "
                                   "please report this as a feedsvc bug")
            after = self.folder.key(path)
            if after == key:
                return _report(relpath, FileState(key, result))
            if after is None:
                return FileState(key, ItemError(relpath, None, "file vanished while read"))
            key = after  # the file changed while we read it: read it again
        log.warning("%s: still changing after %d reads; keeping the last good version",
                    relpath, READ_ATTEMPTS)
        if previous is not None and isinstance(previous.result, Item):
            return previous
        return FileState(key, ItemError(relpath, None, "file kept changing while read"))


def _report(relpath: str, state: FileState) -> FileState:
    if isinstance(state.result, ItemError) and not state.result.skipped:
        log.warning("%s (left out)", state.result)
    return state
