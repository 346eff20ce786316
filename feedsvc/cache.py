"""An optional on-disk cache of parsed items, so a restart with unchanged files parses nothing.

Entries are keyed by path and the file's (mtime, size, inode); the whole file is keyed by the
feedsvc version and the settings that shape parsing. It is safe to delete at any time, and
never trusted when it does not check out: a bad checksum, a foreign version, a class outside
the short list below, and it is ignored and rebuilt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import pickle
import tempfile
from importlib.metadata import version
from pathlib import Path

from .config import Settings
from . import templating
from .items import PARSE_RULES, Item

log = logging.getLogger("feedsvc")
MAGIC = b"feedsvc-cache 1\n"
# Only these may come out of a cache file: unpickling anything else could run code.
ALLOWED = {
    ("feedsvc.items", "Item"), ("feedsvc.items", "Author"), ("feedsvc.items", "Section"),
    ("feedsvc.frontmatter", "ItemError"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timezone"), ("datetime", "timedelta"),
}


def cache_path(settings: Settings) -> Path | None:
    if not settings.cache:
        return None
    folder = Path(settings.cache_dir or os.environ.get("XDG_CACHE_HOME")
                  or Path.home() / ".cache") / "feedsvc"
    items = str(Path(settings.items_dir).resolve())
    return folder / (hashlib.sha256(items.encode()).hexdigest()[:16] + ".pickle")


def _fingerprint(settings: Settings) -> tuple:
    # Item's field names too: a cache from a build whose Item had other fields would unpickle
    # into objects missing attributes, even under the same version number.
    return (version("feedsvc"), PARSE_RULES,
            tuple(field.name for field in dataclasses.fields(Item)),
            settings.base_url, settings.authority, settings.tag_date, settings.max_item_bytes,
            settings.permalink, settings.entry_id, settings.timezone, settings.permalink_dates,
            templating.fingerprint(settings))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cache file")
        return super().find_class(module, name)


def load(settings: Settings) -> dict:
    """{relative path: (stat key, Item or ItemError)}; empty when there is no usable cache."""
    path = cache_path(settings)
    if path is None:
        return {}
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    try:
        if not data.startswith(MAGIC):
            raise ValueError("not a feedsvc cache file")
        digest, payload = data[len(MAGIC):len(MAGIC) + 64], data[len(MAGIC) + 64:]
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            raise ValueError("checksum mismatch")
        fingerprint, entries = _Unpickler(io.BytesIO(payload)).load()
        if fingerprint != _fingerprint(settings):
            return {}  # another version or other settings: start afresh, quietly
        if not isinstance(entries, dict):
            raise ValueError("unexpected content")
        return entries
    except Exception as error:  # corrupt in any way at all: ignore it, it will be rebuilt
        log.warning("ignoring cache %s: %s", path, error)
        return {}


def save(settings: Settings, entries: dict) -> None:
    """Write atomically (temp file + rename), so a crash or a second process never leaves a
    torn cache behind."""
    path = cache_path(settings)
    if path is None:
        return
    payload = pickle.dumps((_fingerprint(settings), entries), protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(payload).hexdigest().encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as file:
            file.write(MAGIC + digest + payload)
        os.replace(file.name, path)
    except OSError as error:
        log.warning("cannot write cache %s: %s", path, error)
