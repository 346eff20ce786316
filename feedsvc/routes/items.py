"""Everything at an item's own URLs (urls.py says where): its page, its Atom entry and JSON
documents, its bundle's resources, its old URLs (aliases); sections' pages and feeds; and old
feed URLs a site moved from.

Item URLs are whatever the site's permalinks say (`/items/name`, `/2021/08/03/name/`), so this
blueprint answers every path no other route claims, by looking it up in the snapshot.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from urllib.parse import quote, unquote

from flask import Blueprint, Response, abort, redirect, render_template, request

from .. import feeds, ranges, urls
from ..items import Item
from ..layout import is_bundle_resource, is_jekyll_static
from ..media import media_type
from ..responses import Document, cache_control, compressible, http_date
from ..store import Snapshot
from ..templating import engine, jekyll_excludes
from ..urls import SAFE, document_url, resource_base
from ..web import NotModified, send, service
from .feeds import CORS, serve_feed
from .pages import collection_page, html_document, json_ld

blueprint = Blueprint("items", __name__)
MAX_RESOURCE_BYTES = 64_000_000
RETRY_STREAM = 10  # seconds: a download turned away (503) for want of a free thread
DOCUMENT_TYPES = {"atom": "application/atom+xml;type=entry; charset=utf-8",
                  "json": "application/feed+json; charset=utf-8"}


@blueprint.get("/<path:path>")
def at_path(path: str):
    settings = service().settings
    snapshot = service().store.snapshot
    path = quote(path, safe=SAFE)
    item = snapshot.by_url.get(settings.url(path))
    if item is not None:
        return send(service().document(("item", item.url), lambda s: page(s, item.url)))
    stem, _, fmt = path.rpartition(".")
    if fmt in DOCUMENT_TYPES:
        for url in (settings.url(stem), settings.url(stem.removesuffix("index"))):
            item = snapshot.by_url.get(url)
            if item is not None and document_url(item.url, fmt) == settings.url(path):
                return send(service().document(("item", item.url, fmt),
                                               lambda s: entry_document(s, item.url, fmt)))
    served = section(snapshot, path)
    if served is not None:
        return served
    moved = snapshot.aliases.get(path) or snapshot.aliases.get(path.rstrip("/")) or \
        snapshot.aliases.get(path + "/")
    if moved is not None:
        return redirect(moved.url, code=301)
    target = settings.redirects.get("/" + path)
    if target:
        return redirect(settings.url(target), code=301)
    # Read per request, not kept in the document cache: pictures and episodes can be large,
    # and a crawler walking them all must not fill memory.
    response = resource(snapshot, path)
    if response is None:
        abort(404)
    return response


def section(snapshot: Snapshot, path: str):
    """A section's page, feeds and archives (`blog/`, `blog/feed.atom`, `blog/archive/2.rss`),
    or None when `path` names none of those."""
    settings = service().settings
    if settings.url(path) in snapshot.sections:
        return collection_page("section", path)
    if settings.url(path + "/") in snapshot.sections:
        return redirect(settings.url(path + "/"), code=301)
    leaf = urls.collection_leaf(path)
    if leaf is not None and settings.url(leaf[0]) in snapshot.sections:
        base, fmt, number = leaf
        return serve_feed(fmt, "section", base, number)
    return None


def page(snapshot: Snapshot, url: str) -> Document | None:
    item = snapshot.by_url.get(url)
    if item is None:
        return None
    position = snapshot.position(item)
    newer = snapshot.items[position - 1] if position > 0 else None
    older = snapshot.items[position + 1] if position + 1 < len(snapshot.items) else None
    body = render_template("item.html", item=item, newer=newer, older=older,
                           json_ld=json_ld(item), snapshot=snapshot)
    return html_document(body)


def entry_document(snapshot: Snapshot, url: str, fmt: str) -> Document | None:
    item = snapshot.by_url.get(url)
    if item is None:
        return None
    settings = service().settings
    if fmt == "atom":
        body = feeds.entry_document(item, settings)
    else:
        body = feeds.item_json_document(item, settings)
    return Document(body, DOCUMENT_TYPES[fmt], cache_control(settings.feed_max_age),
                    headers=(CORS,))


def resource(snapshot: Snapshot, path: str) -> Response | None:
    """A file of a page bundle: `<bundle URL>/<name>` serves `<bundle folder>/<name>`; in a
    Jekyll site, a static file at its path (`/img/logo.png`). Never anything outside those
    folders, hidden, or a page."""
    settings = service().settings
    folder_path, _, _ = path.rpartition("/")
    while folder_path:
        item = _bundle_at(snapshot, settings.url(folder_path))
        if item is not None:
            name = unquote(path[len(folder_path) + 1:])
            if not is_bundle_resource(name, Path(item.source).name):
                return None
            return _file_response(Path(item.source).parent, name)
        folder_path = folder_path.rpartition("/")[0]
    name = unquote(path)
    if engine(settings) == "jekyll" and is_jekyll_static(name, jekyll_excludes(settings)):
        return _file_response(Path(settings.items_dir), name)
    return None


def _bundle_at(snapshot: Snapshot, base: str) -> Item | None:
    for url in (base, base + "/"):
        item = snapshot.by_url.get(url)
        if item is not None and item.bundle and resource_base(item.url) == base + "/":
            return item
    return None


def _file_response(folder: Path, name: str) -> Response | None:
    """The file `name` of `folder`, if it really is inside it and the items folder: text
    compressed as documents are; anything else (pictures, audio, video) as it is on disk,
    with range requests (ranges.py)."""
    try:
        resolved = (folder / name).resolve(strict=True)
        resolved.relative_to(folder.resolve())
        resolved.relative_to(Path(service().settings.items_dir).resolve())
        file = open(resolved, "rb")
    except (OSError, ValueError, RuntimeError):
        return None
    try:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            file.close()
            return None
        kind = media_type(name)
        if kind.startswith("text/"):
            kind += "; charset=utf-8"
        max_age = service().settings.archive_max_age
        if compressible(kind) and status.st_size <= MAX_RESOURCE_BYTES:
            with file:
                return send(Document(file.read(), kind, cache_control(max_age)))
        return _ranged(file, status, kind, cache_control(max_age))
    except OSError:
        file.close()
        return None


def _ranged(file, status: os.stat_result, kind: str, caching: str) -> Response:
    version = ranges.file_version(status, time.time())
    decision = ranges.decide(request.headers, version)
    headers = {"ETag": version.etag, "Last-Modified": http_date(version.last_modified),
               "Cache-Control": caching, "Accept-Ranges": "bytes",
               "Vary": "Accept-Encoding"}  # as on every response: caches keep one rule
    if decision.status in (206, 416):
        headers["Content-Range"] = ranges.content_range(decision, version.size)
    if decision.status not in (200, 206):
        file.close()
        response_class = NotModified if decision.status == 304 else Response
        return response_class(status=decision.status, headers=headers)
    size = decision.stop - decision.start
    release = None
    if size > ranges.UNHELD_BYTES and request.method != "HEAD":
        # A long body holds one of this process's few Python threads for as long as its
        # client takes to read it: the last thread is kept for everything else.
        streams = service().streams
        if not streams.acquire(blocking=False):
            file.close()
            return Response("Too many downloads at once here; try again shortly.\n",
                            status=503, content_type="text/plain; charset=utf-8",
                            headers={"Retry-After": str(RETRY_STREAM),
                                     "Cache-Control": "no-store"})
        release = streams.release
    headers["Content-Length"] = str(size)
    # direct_passthrough: Werkzeug hands the slice to the server as it is (and drops the
    # body of a HEAD, closing the file).
    return Response(ranges.FileSlice(file, decision.start, decision.stop, release),
                    status=decision.status, headers=headers, content_type=kind,
                    direct_passthrough=True)
