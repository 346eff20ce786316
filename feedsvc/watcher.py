"""Following the items folder: the operating system's file events (watchfiles), a periodic
rescan for what events miss, polling where events never come (network filesystems), and a new
watch whenever the folder is replaced (a swapped symlink) or comes back after vanishing.

Each wake-up tells the store what changed; the store decides what to publish.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from .layout import BUNDLE_INDEXES, is_item_name, walks_folder

log = logging.getLogger("feedsvc")
# Filesystems whose changes made elsewhere raise no inotify events here.
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "afs",
                       "glusterfs", "ceph", "fuse.s3fs", "fuse.rclone", "virtiofs"}


def network_filesystem(path: Path) -> bool:
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


# The longest a git operation's lock holds changes back: a lock left by a crashed git must
# not stop the feeds for good.
GIT_HOLD = 60.0


def git_index_lock(root: Path) -> Path | None:
    """Where git puts its index lock for the work tree holding `root`, if any. git holds it
    from the start of a checkout to its end (https://git-scm.com/docs/api-lockfile)."""
    for folder in (root, *root.parents):
        marker = folder / ".git"
        try:
            if marker.is_dir():
                return marker / "index.lock"
            if marker.is_file():  # a worktree or submodule: "gitdir: <path>"
                text = marker.read_text(encoding="utf-8", errors="replace").strip()
                if text.startswith("gitdir:"):
                    return (folder / text[len("gitdir:"):].strip()) / "index.lock"
        except OSError:
            return None
    return None


class Watcher:
    def __init__(self, store):
        self.store = store
        self.root = store.root
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Changed paths a git operation holds back until it is done (None: rescan everything).
        self.held: set[str] | None = set()

    def start(self) -> None:
        """Follow the folder in a background thread until `stop()`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="feedsvc-watch",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import watchfiles

        store = self.store
        last_rescan = time.monotonic()
        first = True
        while not self._stop.is_set():
            # The folder as it is now: behind `--items current`, a deploy swaps the link
            # (`ln -sfn releases/2 tmp && mv -T tmp current`) and the watch must follow.
            root = self.root.resolve()
            git_lock = git_index_lock(root)
            holding = 0.0  # since when (monotonic) a git operation holds changes back, or 0
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
                    if git_lock is not None and git_lock.exists():
                        # A checkout (or pull, merge, rebase) is writing the folder: what it
                        # changes is published once it is done, as one snapshot, however
                        # long it pauses between files on a busy machine.
                        holding = holding or time.monotonic()
                        if time.monotonic() - holding < GIT_HOLD:
                            self.held = None if paths is None or self.held is None \
                                else self.held | set(paths)
                            continue
                    holding = 0.0
                    if self.held is None or paths is None:
                        paths = None
                    elif self.held:
                        paths = sorted(self.held | set(paths))
                    self.held = set()
                    due = store.snapshot.next_change
                    if first or time.monotonic() - last_rescan >= store.settings.rescan_interval:
                        # The first pass also catches what changed while the watch was set up.
                        first = False
                        last_rescan = time.monotonic()
                        store.refresh()
                        store.save_cache()
                    elif paths is None or (due is not None and due <= store.clock()):
                        store.refresh()
                    elif paths or store.unpublished:
                        store.refresh(paths)
                    if "folder" in store.faults:
                        # The watch saw the folder go; watches hold on to what they watched
                        # (a folder renamed away), so a new one is set up once it is back.
                        raise FileNotFoundError(store.faults["folder"])
            except Exception as error:  # the folder vanished, too many watches, ...
                log.warning("file watcher stopped (%s); rescanning every second until it "
                            "can watch again", error)
                while not self._stop.wait(1.0):
                    store.refresh()
                    if self.root.is_dir():
                        first = True
                        break

    def _polling(self) -> bool | None:
        """Whether to poll rather than wait for events: the `watch` setting, or (auto) where
        events do not arrive: network and FUSE filesystems."""
        if self.store.settings.watch != "auto":
            return self.store.settings.watch == "poll"
        return network_filesystem(self.root) or None  # None: watchfiles' own guess (Docker)

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
            index = bundle_index(Path(changed).parent) if len(relative.parts) > 1 else None
            if index is not None:
                # A file beside a bundle's index is part of its key (an episode's audio,
                # whose length the item carries): the index is read again.
                paths.append(relative.parent.joinpath(index).as_posix())
        return paths


def bundle_index(folder: Path) -> str | None:
    """The name of the bundle index in `folder`, if it holds one."""
    try:
        return next((name for name in os.listdir(folder) if name.lower() in BUNDLE_INDEXES),
                    None)
    except OSError:
        return None
