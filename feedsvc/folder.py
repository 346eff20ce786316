"""The items folder on disk: which files it holds, each with a key that changes when the file
does, and whether it can be read at all. Never anything outside it."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

from .layout import (BUNDLE_INDEXES, holds_bundle, is_bundle_index, is_item_name,
                     is_jekyll_site, not_an_item, walks_folder)

log = logging.getLogger("feedsvc")
OUTSIDE = ("outside", "")  # the key of a symbolic link that leads out of the folder


def file_key(path: Path | str, bundle: bool = False) -> tuple | None:
    """(mtime_ns, size, inode) of a regular file (through a link); None for anything else.

    A bundle's index (`bundle`) also carries `bundle_digest` of the files beside it: its
    item reads their lengths (an episode's audio, media.py), so replacing one re-reads it."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if bundle:
        return (st.st_mtime_ns, st.st_size, st.st_ino, bundle_digest(os.path.dirname(path)))
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def bundle_digest(folder: str, entries=None) -> int:
    """A digest of the names, sizes and modification times of the (not hidden) files in a
    bundle's folder; `entries` when the folder was just listed."""
    try:
        entries = list(os.scandir(folder)) if entries is None else entries
    except OSError:
        entries = []
    files = []
    for entry in entries:
        try:
            if not entry.name.startswith(".") and entry.is_file():
                status = entry.stat()
                files.append(f"{entry.name}\0{status.st_mtime_ns}\0{status.st_size}")
        except OSError:
            continue
    digest = hashlib.blake2b("\n".join(sorted(files)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def with_role(stat_key: tuple | None, reason: str) -> tuple | None:
    """A file's key: its stat key and why it is no item ("" if it may be one), so a file
    that becomes a bundle's resource (or stops being one) counts as changed."""
    return None if stat_key is None else (*stat_key, reason)


class Folder:
    def __init__(self, root: Path):
        self.root = root
        self.jekyll = is_jekyll_site(str(root))  # looked at again on every full scan

    def fault(self) -> str:
        """Why the folder cannot be read right now, or ""."""
        root = str(self.root)
        try:
            with os.scandir(root):
                return ""
        except FileNotFoundError:
            return f"items folder {root} does not exist"
        except NotADirectoryError:
            return f"items folder {root} is not a folder"
        except OSError as error:
            return f"items folder {root} cannot be read: {error.strerror or error}"

    def scan(self):
        """Yield (relative path, key) for every item-like file; never leaves the folder.

        Plain strings and DirEntry's cached stat: at 100,000 files, pathlib's overhead was
        most of the start-up scan."""
        root = str(self.root)
        if not os.path.isdir(root):
            return
        self.jekyll = is_jekyll_site(root)
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
            # Only a Jekyll site, a bundle or the top folder holds files that are no item.
            roles = bundle or self.jekyll or folder == root
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
                            key = self.key(Path(entry.path))
                        else:
                            st = entry.stat(follow_symlinks=False)
                            if not stat.S_ISREG(st.st_mode):
                                continue  # a FIFO or a device: opening it could wait forever
                            stat_key = (st.st_mtime_ns, st.st_size, st.st_ino)
                            if bundle and entry.name.lower() in BUNDLE_INDEXES:
                                stat_key += (bundle_digest(folder, entries),)
                            key = (*stat_key, not_an_item(relpath, bundle, self.jekyll)
                                   if roles else "")
                        if key is not None:
                            yield relpath, key
                except OSError:
                    continue

    def key(self, path: Path) -> tuple | None:
        """The key of one file now; None when it is gone, OUTSIDE for a link out."""
        if path.is_symlink():
            # A symlink is served only if it stays inside the items folder.
            try:
                path.resolve(strict=True).relative_to(self.root.resolve())
            except (OSError, ValueError, RuntimeError):
                return OUTSIDE if path.exists() else None
        relpath = path.relative_to(self.root).as_posix()
        bundle = path.parent != self.root and any(
            (path.parent / name).is_file() for name in BUNDLE_INDEXES)
        return with_role(file_key(path, bundle and is_bundle_index(relpath)),
                         not_an_item(relpath, bundle, self.jekyll))
