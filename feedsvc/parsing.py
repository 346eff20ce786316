"""Files -> `Item`s (or `ItemError`s), one at a time or on every core, never a torn read.

A file that changes while it is read is read again; one that keeps changing keeps its last
good version. A worker process that fails leaves its files to this process.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from .config import Settings
from .folder import OUTSIDE, Folder, file_key
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


def _parse_chunk(settings: Settings, paths: list[str]) -> list[tuple]:
    """In a worker process: [(path, Item or ItemError, stat key after the read)]."""
    root = str(settings.items_dir)
    results = []
    for relpath in paths:
        path = os.path.join(root, relpath)
        try:
            result = read_file(relpath, path, settings, keep_body=False)
        except ItemError as error:
            result = error
        except Exception:  # left to the main process, which logs it properly
            continue
        results.append((relpath, result, file_key(path, is_bundle_index(relpath))))
    return results


class Parser:
    def __init__(self, settings: Settings, folder: Folder):
        self.settings = settings
        self.folder = folder
        self.count = 0  # files parsed so far (tests use it to prove incremental work)

    def in_parallel(self, stale: dict[str, tuple]) -> dict[str, FileState]:
        """Parse many files on every core (a cold start of 100,000 items). Files that changed
        while read, or anything a worker could not do, are left to `read`."""
        workers = os.cpu_count() or 1
        if workers < 2:
            return {}
        paths = sorted(stale)
        chunks = [paths[n:n + PARALLEL_CHUNK] for n in range(0, len(paths), PARALLEL_CHUNK)]
        parsed: dict[str, FileState] = {}
        try:
            # spawn, not fork: the server's threads must not be copied mid-flight.
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                for results in pool.map(_parse_chunk, [self.settings] * len(chunks), chunks):
                    for relpath, result, key in results:
                        if key == stale[relpath][:-1]:
                            parsed[relpath] = _report(relpath, FileState(stale[relpath], result))
        except (OSError, BrokenProcessPool) as error:
            log.warning("parsing in parallel failed (%s); parsing in this process", error)
        self.count += len(parsed)
        return parsed

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
