"""`feedsvc build OUT`: every page, feed and archive as files, for any static file host.

Each URL becomes the file a static server maps it to: `/items/<slug>` -> `items/<slug>.html`
(nginx `try_files $uri $uri.html`, GitHub Pages and Netlify do this by default), `/tags/` ->
`tags/index.html`; feeds, archives and assets keep their names. The bytes are the ones the
server sends, taken from the app itself. A compressible file of `MIN_COMPRESS_BYTES` or more
gets `.gz` and `.br` siblings holding what the server sends for those codings (nginx's
`gzip_static` and `brotli_static` serve them). Every file is written under a temporary name
beside it and renamed into place, so a server reading OUT never sees half a file.

Builds are incremental, because a large site is mostly unchanged between two builds. The
documents are grouped into units whose bytes depend on the same inputs (an item's page with
its Atom and JSON documents; one listing page; one archive block in three formats; ...), and
the manifest, `OUT/.feedsvc-build.sqlite`, keeps a fingerprint of each unit's inputs and the
digest and HTTP metadata of each file. A unit whose fingerprint is unchanged is not even
rendered; one that changed is rendered, and only the files whose bytes changed are written.
Files an earlier build wrote that no unit makes any more are deleted; nothing else in OUT
ever is. `Plan` says what a fingerprint covers.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import os
import sqlite3
import sys
import threading
import zlib
from array import array
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, fields
from hashlib import blake2b
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.parse import quote, unquote, urlsplit

from flask import Flask

from . import feeds, selections, sitemap, urls
from .config import Settings
from .folder import file_key
from .history import History
from .layout import is_bundle_resource, is_jekyll_static
from .responses import MIN_COMPRESS_BYTES, Document, cache_control, compressible
from .templating import engine, fingerprint as site_fingerprint, jekyll_excludes
from .urls import document_url, resource_base
from .web import ASSETS, asset_path, page_policy

MANIFEST = ".feedsvc-build.sqlite"
LOCK = ".feedsvc-build.lock"  # held while a build runs; left behind by one that was cut off
TEMP_PREFIX = ".feedsvc-tmp-"
FORMAT = "1"  # of the manifest; part of every fingerprint, so a new layout renders all again
FORMATS = tuple(feeds.MEDIA_TYPES)
SIBLINGS = {"gzip": ".gz", "br": ".br"}
NOT_FOUND = "/items/this-page-does-not-exist"
# Below this many documents to render, starting worker processes costs more than it saves.
PARALLEL_MIN = 400
CHUNKS_PER_WORKER = 16  # fewer: a worse balance at the end; more: less shared rendering
# Threads writing files, per process. ext4 starts writing a file's data out when it is
# renamed over an existing one (auto_da_alloc): 0.5 ms of waiting on the disk for each file
# a rebuild replaces, which a few threads overlap with each other and with rendering.
WRITERS = 4
# What turns the same items into other bytes besides our own code (`build_inputs`).
RENDERING = ("feedgen", "lxml", "Flask", "Werkzeug", "Jinja2", "MarkupSafe", "cmarkgfm", "nh3",
             "PyYAML", "python-liquid", "python-dateutil", "Brotli")


class BuildError(Exception):
    """The export cannot be written as asked; the message says why."""


@dataclass(frozen=True)
class Report:
    """Files (siblings included) this build wrote, left as they were, and deleted."""

    written: int
    unchanged: int
    deleted: int
    rendered: int  # documents rendered to find out
    processes: int  # that rendered them


class Doc(NamedTuple):
    path: str  # the URL's path as the app routes it, `/tags/x?page=2`
    file: str  # where it goes in OUT
    status: int = 200


class Unit(NamedTuple):
    """Documents whose bytes depend on the same inputs: rendered together, or not at all."""

    key: str
    inputs: str  # fingerprint of everything their bytes depend on
    position: int  # where its items are in the site's order (rendering order, see `build`)
    # Its documents are `make(argument)`, asked for only when it is rendered (a closure per
    # unit cost a tenth of a second at 100,000 items).
    make: Callable[[object], list[Doc]]
    argument: object = None

    def docs(self) -> list[Doc]:
        return self.make(self.argument)


def file_for(url: str) -> str:
    path, _, query = unquote(url).partition("?")
    if query:  # /?page=3 -> page/3.html, /tags/x?page=2 -> tags/x/page/2.html
        return path.strip("/") + ("/" if path.strip("/") else "") + \
            f"page/{query.split('=', 1)[1]}.html"
    if path.endswith("/"):
        return path.lstrip("/") + "index.html"
    last = path.rsplit("/", 1)[-1]
    return path.lstrip("/") + ("" if "." in last else ".html")


def resources(item) -> list[str]:
    """The files of an item's page bundle, as paths inside its folder."""
    folder = Path(item.source).parent
    names = (file.relative_to(folder).as_posix() for file in folder.rglob("*") if file.is_file())
    return sorted(name for name in names if is_bundle_resource(name, Path(item.source).name))


def static_files(settings) -> list[str]:
    """A Jekyll site's static files (its pictures, styles, downloads), as paths in it."""
    if engine(settings) != "jekyll":
        return []
    root, excludes = Path(settings.items_dir), jekyll_excludes(settings)
    names = (file.relative_to(root).as_posix() for file in root.rglob("*") if file.is_file())
    return sorted(name for name in names if is_jekyll_static(name, excludes))


# -- what each unit depends on -------------------------------------------------------------


# Settings that change how `serve` runs or where the items are read from, never the bytes of
# a document: `--items items` and `--items /srv/site/items` (or another `workers`) must not
# make a build of 100,000 items render them all again. The items are in the fingerprints by
# their own paths and stat keys (`item_tokens`).
NOT_IN_DOCUMENTS = {"items_dir", "rescan_interval", "watch", "max_connections",
                    "header_timeout", "workers", "access_log", "trust_forwarded", "cache",
                    "cache_dir", "stats", "stats_db", "stats_token", "stats_retention"}


def build_inputs(settings: Settings) -> bytes:
    """What every document depends on besides the items: the settings, feedsvc's own code,
    templates and static files, the libraries that render and compress, the site config that
    template code in posts reads. Folded into every fingerprint: when any of it changes,
    every unit is rendered again (and still only changed bytes are written)."""
    shaping = [(field.name, getattr(settings, field.name)) for field in fields(settings)
               if field.name not in NOT_IN_DOCUMENTS]
    digest = blake2b(digest_size=16)
    digest.update(repr((FORMAT, sys.version, zlib.ZLIB_RUNTIME_VERSION, shaping,
                        site_fingerprint(settings))).encode())
    for name in RENDERING:
        try:
            digest.update(f"\0{name} {version(name)}".encode())
        except PackageNotFoundError:
            digest.update(f"\0{name} -".encode())
    package = Path(__file__).parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(b"\0" + path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.digest()


def item_tokens(items, digests: Callable[[str], bytes]) -> dict:
    """What each item's documents depend on, as 16 bytes: its file, by the key the store
    re-reads it by (mtime, size, inode, role), hashed once by the index as it records the file
    (`Store.file_digest`), and the settings in `build_inputs`. Template code in a post may
    also read other files (includes, other posts' URLs): the text it expanded to is kept in
    the item, and counted too."""
    tokens = {item: digests(item.path) for item in items}
    for item in items:
        if item.expanded:
            text = tokens[item] + (item.body or "").encode("utf-8", "surrogatepass")
            tokens[item] = blake2b(text, digest_size=16).digest()
    return tokens


class Plan:
    """Every unit of the export, with its fingerprint, from one snapshot.

    A fingerprint is a digest of `build_inputs` and of what the unit shows: the token of each
    item in it, in order (`item_tokens`), and the rest of what its templates read, e.g.
    - an item's page, Atom and JSON documents: the item, and its newer and older neighbours
      (linked by title from the page);
    - a listing page (home, tag, section): the selection's name and description, the page
      number, the page count, the item count, and the items on it;
    - the subscription feeds: the selection, the number of archives (`prev-archive`), and the
      items of the longest of the three (JSON reaches back further than Atom and RSS);
    - an archive block in three formats: the selection, its number, its items; not the count
      of archives, since its links name the next block whether or not it exists yet;
    - the tag index: every tag's name and count; a sitemap's part: the URL and update time of
      each entry in it (an edit of the text alone leaves it be);
    - a bundle's file or a Jekyll static file: the file's stat key.
    A change to any of these changes the fingerprint; nothing else can change the bytes.
    """

    def __init__(self, app: Flask, inputs: bytes):
        svc = app.extensions["feedsvc"]
        self.settings: Settings = svc.settings
        self.snapshot = svc.store.snapshot
        self.assets = app.extensions["feedsvc.assets"]
        self.inputs = inputs
        self.token = item_tokens(self.snapshot.items, svc.store.file_digest)
        self.position = {item: number for number, item in enumerate(self.snapshot.items)}

    def fingerprint(self, *parts: str | bytes) -> str:
        data = b"\0".join(part if isinstance(part, bytes) else part.encode() for part in parts)
        return blake2b(self.inputs + data, digest_size=12).hexdigest()

    def doc(self, url: str, status: int = 200) -> Doc:
        path = "/" + url[len(self.settings.base_url):]
        return Doc(path, file_for(path), status)

    def units(self) -> list[Unit]:
        found = [self._fixed(), *self._sitemap(), self._tag_index(), *self._items()]
        for chosen in selections.selections(self.snapshot, self.settings):
            found += self._collection(chosen)
        found += self._files()
        return found

    def _fixed(self) -> Unit:
        """robots.txt, the assets and the 404 page depend on the settings and code alone."""
        settings = self.settings

        def docs(_):
            found = [self.doc(settings.url("robots.txt"))]
            found += [self.doc(settings.url(asset_path(name, self.assets[name])))
                      for name in ASSETS]
            return found + [Doc(NOT_FOUND, "404.html", 404)]

        return Unit("fixed", self.fingerprint("fixed"), 0, docs)

    def _sitemap(self) -> list[Unit]:
        """sitemap.xml, or past 50,000 URLs its index and parts: each part by the entries
        it lists, so that an edit renders no part again unless it moved or dated an item."""
        snapshot, settings = self.snapshot, self.settings
        parts = sitemap.part_count(snapshot)
        # The list is the home page (dated by the newest update), each section (by its newest
        # item), then every item (sitemap.urlset).
        head = [(settings.url(), str(snapshot.updated))] + [
            (url, str(max((item.updated for item in snapshot.section_items[url]), default="")))
            for url in snapshot.sections]
        found = []
        for part in range(1, parts + 1):
            start, stop = (part - 1) * sitemap.MAX_URLS, part * sitemap.MAX_URLS
            shown = snapshot.items[max(0, start - len(head)):max(0, stop - len(head))]
            # Items' dates are UTC: a timestamp says all their `lastmod` does.
            dates = array("d", [item.updated.timestamp() for item in shown]).tobytes()
            url = urls.sitemap(settings) if parts == 1 else urls.sitemap(settings, part)
            found.append(Unit(f"sitemap {part}", self.fingerprint(
                "sitemap", str(part), str(parts), repr(head[start:stop]),
                "\0".join([item.url for item in shown]), dates), 0, self._url_doc, url))
        if parts > 1:
            found.append(Unit("sitemap index", self.fingerprint(
                "sitemap index", str(parts), str(snapshot.updated)), 0, self._url_doc,
                urls.sitemap(settings)))
        return found

    def _url_doc(self, url: str) -> list[Doc]:
        return [self.doc(url)]

    def _tag_index(self) -> Unit:
        snapshot = self.snapshot
        tags = "\0".join(f"{key}\0{snapshot.tag_names[key]}\0{len(items)}"
                         for key, items in sorted(snapshot.by_tag.items()))
        return Unit("tags", self.fingerprint("tags", tags), 0, self._url_doc,
                    urls.Links(self.settings).tags())

    def _items(self) -> list[Unit]:
        # Most of the units of a site: kept to the bare loop.
        items, inputs, docs = self.snapshot.items, self.inputs, self._item_docs
        edge = b"-" * 16  # no neighbour there
        tokens = [edge, *map(self.token.__getitem__, items), edge]
        return [Unit("item " + item.path,
                     blake2b(inputs + tokens[n] + tokens[n + 1] + tokens[n + 2],
                             digest_size=12).hexdigest(), n, docs, item)
                for n, item in enumerate(items)]

    def _item_docs(self, item) -> list[Doc]:
        return [self.doc(item.url)] + [self.doc(document_url(item.url, fmt))
                                       for fmt in ("atom", "json")]

    def _collection(self, chosen: selections.Selection) -> list[Unit]:
        """A selection's listing pages, subscription feeds and archive blocks."""
        settings, items, inputs = self.settings, chosen.items, self.inputs
        tokens = list(map(self.token.__getitem__, items))  # newest first, as `items`
        ident = f"{chosen.kind}\0{chosen.key}\0{chosen.name}\0{chosen.description}\0"
        name = f"{chosen.kind} {chosen.key}"
        count, size, per_page = len(items), settings.feed_size, settings.page_size
        pages = max(1, -(-count // per_page))
        home = chosen.path(settings, "")
        found = []
        for number in range(1, pages + 1):
            start = (number - 1) * per_page
            shown = b"".join(tokens[start:start + per_page])
            head = f"{ident}page\0{number}\0{pages}\0{count}\0".encode()
            found.append(Unit(f"page {name} {number}",
                              blake2b(inputs + head + shown, digest_size=12).hexdigest(),
                              self.position[items[start]] if items else 0, self._url_doc,
                              urls.page(home, number)))
        archives = selections.archive_count(chosen, settings)
        shown = b"".join(tokens[:count - max(archives - 1, 0) * size])
        head = f"{ident}feed\0{archives}\0".encode()
        found.append(Unit(f"feed {name}", blake2b(inputs + head + shown, digest_size=12)
                          .hexdigest(), 0, self._feed_docs, (chosen, None)))
        for number in range(1, archives + 1):
            # Blocks count from the oldest item: in `items`, newest first, block `number`
            # starts `number` blocks before the end.
            start = count - number * size
            shown = b"".join(tokens[start:start + size])
            head = f"{ident}archive\0{number}\0".encode()
            found.append(Unit(f"archive {name} {number}",
                              blake2b(inputs + head + shown, digest_size=12).hexdigest(),
                              self.position[items[start]], self._feed_docs, (chosen, number)))
        return found

    def _feed_docs(self, which: tuple[selections.Selection, int | None]) -> list[Doc]:
        """A selection's subscription feeds (number None) or archive block, in every format."""
        chosen, number = which
        settings = self.settings
        if number is None:
            return [self.doc(urls.feed(settings, chosen.kind, chosen.key, fmt))
                    for fmt in FORMATS]
        return [self.doc(urls.archive(settings, chosen.kind, chosen.key, number, fmt))
                for fmt in FORMATS]

    def _files(self) -> list[Unit]:
        """Bundle resources and a Jekyll site's static files: copies of files in the folder."""
        settings = self.settings
        found = []
        for item in self.snapshot.items:
            if item.bundle:
                folder = Path(item.source).parent
                found += [self._file(resource_base(item.url) + quote(name), folder / name,
                                     self.position[item]) for name in resources(item)]
        root = Path(settings.items_dir)
        found += [self._file(settings.url(quote(name)), root / name, 0)
                  for name in static_files(settings)]
        return found

    def _file(self, url: str, source: Path, position: int) -> Unit:
        return Unit("file " + self.doc(url).file,
                    self.fingerprint(url, str(file_key(source))), position, self._url_doc, url)


# -- the manifest --------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (      -- documents rendered together (Plan)
    key TEXT PRIMARY KEY,
    inputs TEXT NOT NULL                -- fingerprint of what their bytes depend on
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS types (
    id INTEGER PRIMARY KEY,
    content_type TEXT NOT NULL,
    cache_control TEXT NOT NULL,        -- '' for 404.html: served with the 404 status only
    UNIQUE (content_type, cache_control)
);
CREATE TABLE IF NOT EXISTS files (      -- every file written, but its .gz and .br siblings
    path TEXT PRIMARY KEY,              -- in OUT
    unit TEXT NOT NULL,                 -- the unit that writes it
    digest TEXT NOT NULL,               -- of its bytes: serve's ETag, "<digest>"
    type INTEGER NOT NULL REFERENCES types,
    siblings INTEGER NOT NULL           -- 1: PATH.gz and PATH.br exist too
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_unit ON files (unit);
-- Files in OUT, siblings included, kept up to date here: counting 370,000 rows on every build
-- read the whole table from disk.
CREATE TABLE IF NOT EXISTS total (files INTEGER NOT NULL);
INSERT INTO total SELECT 0 WHERE NOT EXISTS (SELECT * FROM total);
CREATE TRIGGER IF NOT EXISTS file_added AFTER INSERT ON files
    BEGIN UPDATE total SET files = files + 1 + 2 * NEW.siblings; END;
CREATE TRIGGER IF NOT EXISTS file_gone AFTER DELETE ON files
    BEGIN UPDATE total SET files = files - 1 - 2 * OLD.siblings; END;
-- One row per file in OUT with the headers to store it with (object storage uploads).
CREATE VIEW IF NOT EXISTS objects (path, content_type, cache_control, content_encoding) AS
    SELECT path, content_type, cache_control, NULL FROM files JOIN types ON type = types.id
    UNION ALL SELECT path || '.gz', content_type, cache_control, 'gzip'
        FROM files JOIN types ON type = types.id WHERE siblings
    UNION ALL SELECT path || '.br', content_type, cache_control, 'br'
        FROM files JOIN types ON type = types.id WHERE siblings;
"""


class Manifest:
    """What earlier builds wrote into OUT, in SQLite: a build of 100,000 items reads every
    unit's fingerprint but changes only the rows of what changed (a JSON file of its 370,000
    files cost half a second to read and write again each time), and the `objects` view
    lists every file with its headers for uploads to object storage."""

    def __init__(self, out: Path, settings: Settings):
        self.db = sqlite3.connect(out / MANIFEST, isolation_level=None)
        try:
            self._open(settings)
        except sqlite3.DatabaseError:  # not a database of ours: start afresh
            self.db.close()
            (out / MANIFEST).unlink()
            self.db = sqlite3.connect(out / MANIFEST, isolation_level=None)
            self._open(settings)
        self._types = {(content_type, cache_control): number for number, content_type,
                       cache_control in self.db.execute("SELECT * FROM types")}

    def _open(self, settings: Settings) -> None:
        # Without fsync, as the files it describes: a build that is killed leaves it whole
        # (SQLite's journal), and one that loses power had better be run again anyway.
        self.db.execute("PRAGMA synchronous = OFF")
        # INSERT OR REPLACE deletes the row it replaces: only so does that fire `file_gone`.
        self.db.execute("PRAGMA recursive_triggers = ON")
        self.db.executescript(SCHEMA)
        meta = dict(self.db.execute("SELECT name, value FROM meta"))
        if meta.get("format", FORMAT) != FORMAT:
            raise sqlite3.DatabaseError(f"manifest format {meta['format']}")
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", (
                ("format", FORMAT), ("generator", f"feedsvc {feeds.GENERATOR[1]}"),
                ("base_url", settings.base_url)))

    def close(self) -> None:
        self.db.close()

    def units(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, inputs FROM units"))

    def files_of(self, keys: list[str]) -> dict[str, dict[str, tuple[str, int]]]:
        """unit -> {path: (digest, siblings)} of what those units wrote last time."""
        found: dict[str, dict[str, tuple[str, int]]] = {}
        if len(keys) > 1000:  # most of them: one pass over the table beats 1,000 lookups
            wanted = set(keys)
            rows = (row for row in self.db.execute(
                "SELECT unit, path, digest, siblings FROM files") if row[0] in wanted)
        else:
            rows = (row for key in keys for row in self.db.execute(
                "SELECT unit, path, digest, siblings FROM files WHERE unit = ?", (key,)))
        for unit, path, digest, siblings in rows:
            found.setdefault(unit, {})[path] = (digest, siblings)
        return found

    def record(self, results: list[tuple]) -> None:
        """Units rendered (and their files on disk): their fingerprints and files, at once."""
        with self.db:
            self.db.execute("BEGIN")
            for key, inputs, entries, *_ in results:
                self.db.execute("INSERT OR REPLACE INTO units VALUES (?, ?)", (key, inputs))
                self.db.execute("DELETE FROM files WHERE unit = ?", (key,))
                self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", [
                    (path, key, digest, self._type(kind), siblings)
                    for path, digest, kind, siblings in entries])

    def forget(self, keys) -> list[tuple[str, int]]:
        """Units that are gone: the files they still own (path, siblings), and their rows."""
        found = []
        with self.db:
            self.db.execute("BEGIN")
            for key in keys:
                found += self.db.execute("SELECT path, siblings FROM files WHERE unit = ?",
                                         (key,)).fetchall()
                self.db.execute("DELETE FROM files WHERE unit = ?", (key,))
                self.db.execute("DELETE FROM units WHERE key = ?", (key,))
        return found

    def owner(self, path: str) -> str | None:
        row = self.db.execute("SELECT unit FROM files WHERE path = ?", (path,)).fetchone()
        return row and row[0]

    def file_count(self) -> int:
        """Files in OUT the manifest knows, siblings included."""
        return self.db.execute("SELECT files FROM total").fetchone()[0]

    def _type(self, kind: tuple[str, str]) -> int:
        number = self._types.get(kind)
        if number is None:
            number = self._types[kind] = self.db.execute(
                "INSERT INTO types (content_type, cache_control) VALUES (?, ?)", kind).lastrowid
        return number


# -- rendering and writing -----------------------------------------------------------------


class Job:
    """Renders units and writes their files; run in this process or in forked workers."""

    def __init__(self, app: Flask, out: Path, units: list[Unit],
                 previous: dict[str, dict[str, tuple[str, int]]], force: bool):
        self.app = app
        self.out = out
        self.units = units
        self.previous = previous  # unit -> {path: (digest, siblings)} from the last build
        self.force = force
        self._client = None
        self._folders: set[Path] = set()
        self._written = 0

    def run(self, start: int, stop: int) -> list[tuple]:
        """units[start:stop] -> [(key, fingerprint, entries, written, deleted)], once all
        their files are in place; an entry is (file, digest, (Content-Type, Cache-Control),
        siblings)."""
        if self._client is None:
            self._client = self.app.test_client()
        results = []
        with ThreadPoolExecutor(WRITERS) as self._writers:
            self._pending = []
            for unit in self.units[start:stop]:
                old = self.previous.get(unit.key, {})
                entries, written, deleted = [], 0, 0
                for doc in unit.docs():
                    entry, wrote, removed = self._emit(doc, old.get(doc.file))
                    entries.append(entry)
                    written += wrote
                    deleted += removed
                results.append((unit.key, unit.inputs, entries, written, deleted))
            for write in self._pending:
                write.result()  # a failed write fails the build, and nothing is recorded
        return results

    def _emit(self, doc: Doc, old: tuple[str, int] | None) -> tuple[tuple, int, int]:
        """Render one document; write it and its siblings if their bytes changed. Returns
        its manifest entry and the files written and deleted."""
        response = self._client.get(doc.path)
        if response.status_code != doc.status:
            raise BuildError(f"{doc.path}: HTTP {response.status_code} from the app")
        media_type = response.headers.get("Content-Type", "")
        document = Document(response.get_data(), media_type,
                            response.headers.get("Cache-Control", ""))
        coded = int(compressible(media_type) and len(document.body) >= MIN_COMPRESS_BYTES)
        entry = (doc.file, document.tag, (media_type, document.cache_control), coded)
        if old == (document.tag, coded) and not self.force:
            return entry, 0, 0
        target = self.out / doc.file
        self._write(target, document.body)
        for coding, suffix in SIBLINGS.items():
            if coded:
                self._write(target.with_name(target.name + suffix), document.encoded(coding))
        deleted = 0
        if old is not None and old[1] and not coded:  # it shrank, or changed type
            deleted = sum(_remove(target.with_name(target.name + suffix))
                          for suffix in SIBLINGS.values())
        return entry, 1 + 2 * coded, deleted

    def _write(self, target: Path, data: bytes) -> None:
        """Hand the file to a writer thread, under a temporary name of its own."""
        folder = target.parent
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)
        self._written += 1
        temporary = folder / f"{TEMP_PREFIX}{os.getpid()}-{self._written}"
        self._pending.append(self._writers.submit(_write_atomically, temporary, target, data))


def _write_atomically(temporary: Path, target: Path, data: bytes) -> None:
    """To a temporary file in the target's folder, then renamed over the target: a server
    reading the folder sees the old file or the new one."""
    try:
        # Not mkstemp: its 0600 would keep the web server out; this honours the umask.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _remove(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1


def _remove_with_siblings(out: Path, file: str, siblings: int) -> int:
    target = out / file
    deleted = _remove(target)
    if siblings:
        deleted += sum(_remove(target.with_name(target.name + suffix))
                       for suffix in SIBLINGS.values())
    _prune_folders(out, target.parent)
    return deleted


def _prune_folders(out: Path, folder: Path) -> None:
    """Remove folders left empty, up to OUT; one holding anything (a user's file) stays."""
    while folder != out and out in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


_job: Job | None = None  # the job forked workers inherit


def _run_forked(bounds: tuple[int, int]) -> list[tuple]:
    return _job.run(*bounds)


def _chunks(units: list[Unit], sizes: list[int], count: int) -> list[tuple[int, int]]:
    """About `count` runs of consecutive units with about as many documents each."""
    target = max(1, sum(sizes) // count)
    found, start, total = [], 0, 0
    for number, size in enumerate(sizes):
        total += size
        if total >= target:
            found.append((start, number + 1))
            start, total = number + 1, 0
    if start < len(units):
        found.append((start, len(units)))
    return found


def build(app: Flask, out: Path, *, progress: Callable | None = None,
          workers: int | None = None, force: bool = False) -> Report:
    """Bring OUT up to date with the app's snapshot. `progress(total)` returns a context
    manager with `update(documents)` (click.progressbar); `workers` defaults to every core;
    `force` rewrites every file, as if OUT held nothing."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    svc = app.extensions["feedsvc"]
    with _building(out) as interrupted, _own_history(svc), _malloc_keeps_pages(), \
            closing(Manifest(out, svc.settings)) as manifest:
        if interrupted:
            _sweep(out)
        with _gc_paused():  # hundreds of thousands of long-lived objects, no cycles
            old = manifest.units()
            units = Plan(app, build_inputs(svc.settings)).units()
        stale = [unit for unit in units if force or old.get(unit.key) != unit.inputs]
        # In the site's order: an archive block's items were just rendered for their pages,
        # so their content is still in content.py's cache.
        stale.sort(key=lambda unit: unit.position)
        previous = manifest.files_of([unit.key for unit in stale if unit.key in old])
        done = _Done(out, manifest, previous)
        rendered, processes = _render(Job(app, out, stale, previous, force), stale, done,
                                      progress, workers or os.cpu_count() or 1)
        gone = old.keys() - {unit.key for unit in units}
        deleted = sum(_remove_with_siblings(out, file, siblings)
                      for file, siblings in manifest.forget(gone))
        return Report(done.written, manifest.file_count() - done.written,
                      done.deleted + deleted, rendered, processes)


class _Done:
    """Takes in what the renderers did: records it, and deletes the files a re-rendered
    unit no longer makes (unless another unit took them over)."""

    def __init__(self, out: Path, manifest: Manifest, previous: dict):
        self.out = out
        self.manifest = manifest
        self.previous = previous
        self.written = self.deleted = 0

    def __call__(self, results: list[tuple]) -> None:
        # Recorded only now that their files are on disk: a build cut off after this point
        # finds these units done, and before it, renders them again.
        self.manifest.record(results)
        for key, _, entries, written, deleted in results:
            self.written += written
            self.deleted += deleted
            now = {entry[0] for entry in entries}
            for file, (_, siblings) in self.previous.get(key, {}).items():
                if file not in now and self.manifest.owner(file) is None:
                    self.deleted += _remove_with_siblings(self.out, file, siblings)


def _render(job: Job, stale: list[Unit], done: _Done, progress,
            workers: int) -> tuple[int, int]:
    """Render the stale units, on every core when there are enough of them; returns the
    documents rendered and the processes that did it."""
    global _job
    docs = [len(unit.docs()) for unit in stale]
    total = sum(docs)
    # Forking copies only the calling thread: a lock another thread holds (logging's, a
    # cache's) would stay held forever in the worker. The command runs no other thread.
    parallel = workers > 1 and total >= PARALLEL_MIN and threading.active_count() == 1
    # In chunks even in this process: the bar moves, and a build cut off keeps what it did.
    chunks = _chunks(stale, docs, CHUNKS_PER_WORKER * (workers if parallel else 1))
    with (progress(total) if progress and total else _no_progress()) as bar:
        if not parallel:
            for start, stop in chunks:
                done(job.run(start, stop))
                bar.update(sum(docs[start:stop]))
            return total, 1
        # Forked after the store is loaded: each worker starts with the index, the app and
        # the plan, and sends back only what goes into the manifest.
        _job = job
        try:
            with get_context("fork").Pool(workers) as pool:
                for results in pool.imap_unordered(_run_forked, chunks):
                    done(results)
                    bar.update(sum(len(result[2]) for result in results))
        finally:
            _job = None
    return total, workers


class _no_progress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, count: int) -> None:
        pass


# -- the lock, the process -----------------------------------------------------------------


@contextmanager
def _building(out: Path):
    """Hold OUT's build lock; yields whether the build before was cut off (it left the
    lock file behind), so that temporary files it may have left are swept up."""
    path = out / LOCK
    interrupted = path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"another feedsvc build is writing {out}") from None
        yield interrupted
        path.unlink()  # only after a build that finished
    finally:
        os.close(fd)


def _sweep(out: Path) -> None:
    """Temporary files of a build that was killed mid-write: ours by name, never others."""
    for folder, _, names in os.walk(out):
        for name in names:
            if name.startswith(TEMP_PREFIX):
                _remove(Path(folder) / name)


@contextmanager
def _own_history(svc):
    """Files carry no Last-Modified of ours (the server dates them by mtime), and a forked
    worker must not share the parent's SQLite connection: the export dates documents in
    memory, and leaves `serve`'s history alone."""
    history, svc.history = svc.history, History()
    try:
        yield
    finally:
        svc.history = history


@contextmanager
def _gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _malloc_keeps_pages():
    """Brotli at quality 9 allocates a 32 MiB hash table for every document; glibc maps it
    fresh each time and every page it touches faults in again. Kept on the heap instead, a
    4 KB page compresses in 0.1 ms rather than 2.2 ms (benchmarks/export.py). Restored to
    glibc's defaults afterwards; elsewhere than glibc, nothing changes."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        yield
        return
    trim_threshold, mmap_max = -1, -4  # M_TRIM_THRESHOLD, M_MMAP_MAX (malloc.h)
    mallopt(mmap_max, 0)
    mallopt(trim_threshold, 1 << 30)
    try:
        yield
    finally:
        mallopt(mmap_max, 65536)
        mallopt(trim_threshold, 128 * 1024)


# -- serving OUT with nginx ----------------------------------------------------------------

BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")
# Characters that would end a directive or a block, start a comment, or be read as a variable
# in the printed config: a value holding one could smuggle in directives of its own.
_UNSAFE = set(";{}#$\"'\\ \t\r\n")


def _safe(name: str, value: str) -> str:
    if not value or _UNSAFE & set(value):
        raise ValueError(f"{name} {value!r} cannot go into an nginx config as it is")
    return value


def nginx_config(settings: Settings, root: Path, *, listen: str = "80",
                 server_name: str | None = None, brotli: bool | None = None) -> str:
    """A `server { ... }` block (with the `map` it needs), for nginx's http context, serving
    `feedsvc build`'s OUT at `root` as `feedsvc serve` answers: the same bytes and codings
    (`gzip_static`, `brotli_static`), the Content-Type, Cache-Control, CORS, Link and security
    headers of each kind of document, and `?page=N` mapped to the listing pages' files.
    `brotli`: whether this nginx has the brotli_static module (default: whether Debian's
    libnginx-mod-http-brotli-static is installed here); without it the line is a comment.
    ValueError names a value that cannot go into the config."""
    base = urlsplit(settings.base_url)
    prefix = base.path.rstrip("/")  # "" or "/blog": the site is served under it
    root = Path(root).resolve()
    for name, value in (("root", str(root)), ("listen", listen.replace(" ", "_")),
                        ("server_name", server_name or "_"), ("base_url", settings.base_url),
                        *(("hub", hub) for hub in settings.hubs)):
        _safe(name, value)
    if brotli is None:
        brotli = BROTLI_MODULE.exists()
    page, other = page_policy(settings), "default-src 'none'; sandbox"

    def headers(cache: str | None, policy: str, *extra: str) -> str:
        lines = [f'add_header Cache-Control "{cache}";'] if cache else []
        lines += ['add_header Vary "Accept-Encoding" always;',
                  'add_header X-Content-Type-Options "nosniff" always;',
                  f'add_header Content-Security-Policy "{policy}" always;', *extra]
        if policy == page:
            lines.append('add_header Referrer-Policy "strict-origin-when-cross-origin" always;')
        return "\n        ".join(lines)

    def link(hubs: tuple[str, ...]) -> str:
        value = f'<{base.scheme}://{base.netloc}$feedsvc_path>; rel=\\"self\\"' + \
            "".join(f', <{hub}>; rel=\\"hub\\"' for hub in hubs)
        return f'add_header Link "{value}";'

    cors = 'add_header Access-Control-Allow-Origin "*";'
    feed_types = ("types { application/atom+xml atom; application/rss+xml rss; "
                  "application/feed+json json; }")
    pages = cache_control(settings.page_max_age)
    feed = cache_control(settings.feed_max_age)
    archive = cache_control(settings.archive_max_age, immutable=True)
    resource = cache_control(settings.archive_max_age)
    year = "public, max-age=31536000, immutable"  # web.py's content-hashed assets
    brotli_line = "brotli_static on;" if brotli else \
        "# brotli_static on;  # apt-get install libnginx-mod-http-brotli-static, then uncomment"
    under_prefix = f"""
    # The site lives under {prefix}/: nothing else is served, and its files are OUT's.
    if ($request_uri !~ "^{prefix}/") {{
        return 404;
    }}""" if prefix else ""
    strip = f'\n    rewrite "^{prefix}(/.*)$" $1 break;' if prefix else ""
    return f"""# `feedsvc build {root}`: the static export of {settings.base_url}
# Feeds' `Link: <URL>; rel="self"`: the path as requested, without its query.
map $request_uri $feedsvc_path {{
    "~^(?<path>[^?]*)" $path;
}}

server {{
    listen {listen};
    server_name {server_name or base.hostname or "_"};
    root {root};

    # Only the files built are sent: their .gz and .br siblings hold the bytes `feedsvc
    # serve` sends for those codings, and nothing is compressed on the fly.
    gzip off;
    gzip_static on;
    {brotli_line}
    charset utf-8;
    charset_types text/plain text/css text/xml text/csv text/markdown application/xml
                  application/atom+xml "application/atom+xml;type=entry"
                  application/rss+xml application/feed+json;
    error_page 404 {prefix}/404.html;
{under_prefix}
    # Listing pages: /?page=2 is page/2.html, /tags/x?page=2 is tags/x/page/2.html.
    if ($arg_page ~ "^([2-9]|[1-9][0-9]{{1,11}})$") {{
        rewrite "^(.*?)/?$" $1/page/$arg_page.html? ;
    }}{strip}

    location / {{
        try_files $uri $uri.html $uri/index.html =404;
        {headers(pages, page)}
    }}
    location = /404.html {{
        internal;
        {headers(None, page)}
    }}
    # The build's manifest, lock and temporary files, and any other dotfile.
    location ~ "/\\.(?!well-known/)" {{
        return 404;
    }}
    location = /robots.txt {{
        {headers(pages, other)}
    }}
    location ~ "^/static/[^/]+\\.[0-9a-f]{{12}}\\.(css|svg)$" {{
        {headers(year, other)}
    }}
    location ~ "\\.xml$" {{
        types {{ application/xml xml; }}
        {headers(pages, other)}
    }}
    location ~ "/archive/[0-9]+\\.(atom|rss|json)$" {{
        {feed_types}
        {headers(archive, other, cors, link(()))}
    }}
    location ~ "/feed\\.(atom|rss|json)$" {{
        {feed_types}
        {headers(feed, other, cors, link(settings.hubs))}
    }}
    # An item as an Atom Entry Document or as a one-item JSON Feed.
    location ~ "\\.(atom|json)$" {{
        types {{ "application/atom+xml;type=entry" atom; application/feed+json json; }}
        {headers(feed, other, cors)}
    }}
    # The files of page bundles, and a Jekyll site's static files.
    location ~ "\\.(?!(html|txt)$)[A-Za-z0-9]+$" {{
        {headers(resource, other)}
    }}
}}
"""
