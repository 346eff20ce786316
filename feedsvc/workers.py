"""Several server processes on one index: parsed once, shared, followed by one watcher.

`feedsvc serve` builds the app in its main process and granian forks the workers from it,
so they share the parsed index copy-on-write instead of each parsing and holding its own.
Sharing lasts only while nobody writes to those pages, and in CPython reading an object
writes to it (its reference count): a worker that rescanned the folder every 30 s would soon
hold a private copy of every page the scan touched (~100 MB at 100,000 items, measured). So:

- Only the main process watches the folder (`Follower`, with `watcher.Watcher`'s rules), and
  compares what it finds with a map of its own (path -> hash of the file's key), built before
  the fork, never with the shared index.
- It hands the paths that changed to the workers through `Changes`, a ring of anonymous shared
  memory made before the fork; each worker re-reads just those files into its own index
  (`follow`), a few objects per change.
- A worker forked later (granian replaces one that died) starts from the index as it was
  built: it first applies every path that changed since (`Changes.since_build`).
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
import time
from pathlib import Path

from .folder import Folder
from .watcher import Watcher

log = logging.getLogger("feedsvc")
RING_BYTES = 4 << 20  # a checkout of ~60,000 files; past that, workers rescan everything
POLL_INTERVAL = 0.05  # seconds between a worker's looks at the ring: the added latency
_TOTAL = struct.Struct("Q")  # bytes ever written, at the start of the shared memory
_SLOT = struct.Struct("QQ")  # a worker's pid and how far it has applied, after the count
SLOTS = 64  # workers alive at once (a dead one's slot is given to the next)
_RING = _TOTAL.size + SLOTS * _SLOT.size  # where the records start
RESCAN = b""  # an empty path: "rescan everything" (the folder was replaced, or came back)


class Changes:
    """Relative paths that changed, from the main process to every worker: records of
    `path\\0` (file names cannot hold NUL) in a ring of shared memory, behind a count of the
    bytes ever written. Each process keeps its own read position; a reader that fell a
    whole ring behind rescans everything. Each worker also has a slot saying how far it has
    applied them, so a hub is told of a change only once every worker serves it
    (`wait_for_workers`)."""

    def __init__(self, size: int = RING_BYTES):
        self._size = size
        self._memory = mmap.mmap(-1, _RING + size)  # MAP_SHARED: forks see the writes
        self._lock = threading.Lock()
        self.since_build: set[str] = set()  # for workers forked later
        self.rescan_since_build = False
        self.position = self._at_fork = 0  # how far this process has read
        self._slot = None  # this worker's slot
        self._owner = os.getpid()  # the main process, which forks the workers
        # A worker is forked between two publications, never inside one, and reads on from
        # where the ring was at the fork (its copy of since_build has what came before).
        os.register_at_fork(before=self._before_fork, after_in_parent=self._lock.release,
                            after_in_child=self._forked)

    def _before_fork(self) -> None:
        self._lock.acquire()
        self._at_fork = self._written()
        # Slots are handed out here, by the one process that forks, so no two workers race
        # for one: the first that is free or whose worker is gone.
        # Held in this process's name until the worker writes its own pid in it.
        self._slot = next((n for n in range(SLOTS) if not _alive(self._slot_of(n)[0])), None)
        self._write_slot(self._owner, 0)

    def _forked(self) -> None:
        self._lock.release()
        self.position = self._at_fork
        self._write_slot(os.getpid(), 0)  # nothing applied until `catch_up`

    def _slot_of(self, n: int) -> tuple[int, int]:
        return _SLOT.unpack_from(self._memory, _TOTAL.size + n * _SLOT.size)

    def _write_slot(self, pid: int, position: int) -> None:
        if self._slot is not None:
            _SLOT.pack_into(self._memory, _TOTAL.size + self._slot * _SLOT.size, pid, position)

    def acknowledge(self) -> None:
        """In a worker: everything read so far is applied (and served)."""
        self._write_slot(os.getpid(), self.position)

    def wait_for_workers(self, position: int, timeout: float = 2.0) -> bool:
        """Wait until every live worker has applied the records up to `position` (this
        process's own, when it announces a change it has applied): a hub told of a change
        fetches the feed at once, from whichever worker. False past `timeout` (a worker
        busy with a large change): the hub is told anyway, late is worse than early."""
        deadline = time.monotonic() + timeout
        while True:
            behind = [pid for pid, applied in map(self._slot_of, range(SLOTS))
                      if pid not in (0, os.getpid(), self._owner) and applied < position
                      and _alive(pid)]
            if not behind:
                return True
            if time.monotonic() >= deadline:
                log.warning("announcing before worker(s) %s applied the change", behind)
                return False
            time.sleep(0.01)

    def _written(self) -> int:
        return _TOTAL.unpack_from(self._memory, 0)[0]

    def publish(self, paths: list[str] | None) -> None:
        """Tell the workers that `paths` changed (None: rescan everything)."""
        if paths is not None:
            data = b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in paths)
        if paths is None or len(data) > self._size:
            data = RESCAN + b"\0"
        with self._lock:
            if paths is None or data == RESCAN + b"\0":
                self.rescan_since_build = True
            else:
                self.since_build.update(paths)
            total = self._written()
            start = total % self._size
            first = min(len(data), self._size - start)
            base = _RING
            self._memory[base + start:base + start + first] = data[:first]
            self._memory[base:base + len(data) - first] = data[first:]
            _TOTAL.pack_into(self._memory, 0, total + len(data))  # the records, then the count

    def take(self) -> list[str] | None:
        """In a worker: the paths published since the last call ([] for none; None: rescan
        everything)."""
        total = self._written()
        if total == self.position:
            return []
        behind = total - self.position
        if behind > self._size:
            self.position = total
            return None
        start, base = self.position % self._size, _RING
        first = min(behind, self._size - start)
        data = self._memory[base + start:base + start + first] + \
            self._memory[base:base + behind - first]
        if self._written() - self.position > self._size:  # overwritten while read
            self.position = self._written()
            return None
        self.position = total
        paths = data.split(b"\0")[:-1]
        if RESCAN in paths:
            return None
        return [path.decode("utf-8", "surrogateescape") for path in paths]


    def catch_up(self, store) -> None:
        """In a freshly forked worker: apply what changed since the index was built."""
        if self.rescan_since_build:
            store.refresh()
        else:
            store.refresh(sorted(self.since_build))
        if not store.unpublished:
            self.acknowledge()  # else `follow` does, once it serves them

    def follow(self, store) -> threading.Thread:
        """In a worker: apply what the main process publishes, and publish items whose
        scheduled date arrives, until the process ends."""
        def run():
            acknowledged = None
            while True:
                try:
                    paths = self.take()
                    if paths is None:
                        store.refresh()
                    elif paths:
                        store.refresh(paths)
                    elif store.unpublished or (store.snapshot.next_change is not None and
                                               store.snapshot.next_change <= store.clock()):
                        store.refresh([])
                    # Applied is not yet served while the snapshot waits for the next clock
                    # second (store.py): a hub told now could fetch the old feed from here.
                    if not store.unpublished and acknowledged != self.position:
                        self.acknowledge()
                        acknowledged = self.position
                except Exception:  # one bad update must not end the worker's updates
                    log.exception("applying changes to the index failed")
                time.sleep(POLL_INTERVAL)

        thread = threading.Thread(target=run, name="feedsvc-follow", daemon=True)
        thread.start()
        return thread


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Unscheduled:
    next_change = None  # scheduled items are the workers' business


class Follower:
    """The main process's watch: `watcher.Watcher` drives it as it drives a `Store` (events,
    periodic rescans, a swapped or vanished folder); it only says which files changed."""

    snapshot = _Unscheduled()
    unpublished = False

    def __init__(self, store, changes: Changes):
        self.root: Path = store.root
        self.settings = store.settings
        self.clock = store.clock
        self.folder = Folder(self.root)
        self.faults: dict[str, str] = {}
        self._changes = changes
        # Hashes, not the keys: the shared keys must not be touched after the fork, and a
        # map of its own costs ~16 MB at 100,000 files instead of ~40.
        self._keys = {relpath: hash(key) for relpath, key in store.file_keys().items()}
        self._watcher = Watcher(self)

    def start(self) -> None:
        self._watcher.start()

    def stop(self) -> None:
        self._watcher.stop()

    def save_cache(self) -> None:
        pass  # the workers' indexes change, not this one; a restart re-reads what changed

    def refresh(self, paths=None) -> bool:
        fault = self.folder.fault()
        if fault or "folder" in self.faults:
            # Gone, or back: each worker sees for itself (and holds its last good snapshot).
            if fault != self.faults.get("folder", ""):
                self._changes.publish(None)
            if fault:
                self.faults["folder"] = fault
                return False
            del self.faults["folder"]
        if paths is None:
            found = {relpath: hash(key) for relpath, key in self.folder.scan()}
            changed = [relpath for relpath, value in found.items()
                       if self._keys.get(relpath) != value]
            changed += [relpath for relpath in self._keys if relpath not in found]
            self._keys = found
        else:
            changed = []
            for relpath in set(paths):
                key = self.folder.key(self.root / relpath)
                value = None if key is None else hash(key)
                if self._keys.get(relpath) != value:
                    changed.append(relpath)
                    if value is None:
                        self._keys.pop(relpath, None)
                    else:
                        self._keys[relpath] = value
        if changed:
            self._changes.publish(sorted(changed))
        return bool(changed)
