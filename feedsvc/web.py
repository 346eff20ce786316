"""The Flask application factory and the HTTP glue every route shares.

Routes live in blueprints (`routes/feeds.py`, `routes/pages.py`). Each builds a `Document` once
per snapshot version; `send` answers from it with validators, compression and 304s.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, request

from .config import Settings, load_settings
from .content import content_html, summary_text
from .responses import Document, choose_coding, http_date, not_modified
from .store import Snapshot, Store
from .text import slugify

DOCUMENT_CACHE_SIZE = 4096
ASSETS = {"style.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}
ASSET_DIGEST = 12


class Service:
    """What the routes share: settings, the store, and the document cache."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self._documents: OrderedDict[tuple, Document] = OrderedDict()
        self._lock = threading.Lock()

    def document(self, key: tuple,
                 build: Callable[[Snapshot], Document | None]) -> Document | None:
        """The document for `key` in the current snapshot, built at most once per version;
        None means "not found"."""
        snapshot = self.store.snapshot
        cache_key = (snapshot.version, *key)
        with self._lock:
            document = self._documents.get(cache_key)
            if document is not None:
                self._documents.move_to_end(cache_key)
                return document
        document = build(snapshot)
        if document is None:
            return None
        with self._lock:
            self._documents[cache_key] = document
            while len(self._documents) > DOCUMENT_CACHE_SIZE:
                self._documents.popitem(last=False)
        return document


def service() -> Service:
    return current_app.extensions["feedsvc"]


def create_app(test_config: dict | None = None, *, watch: bool = True) -> Flask:
    """Build the app. `test_config` overrides settings (tests pass `items_dir` and friends)."""
    from .routes import feeds, pages

    app = Flask(__name__, static_folder=None)
    settings = load_settings(**(test_config or {}))
    store = Store(settings)
    if settings.hubs:
        from .websub import Publisher

        store.listeners.append(Publisher(settings).snapshot_changed)
    if watch:
        store.start()
    app.extensions["feedsvc"] = Service(settings, store)
    app.jinja_env.globals.update(url=settings.url, site=settings, tag_slug=slugify,
                                 content_html=content_html, summary_text=summary_text)
    app.jinja_env.filters["isodate"] = lambda value: value.isoformat()
    app.jinja_env.filters["humandate"] = lambda value: value.strftime("%-d %B %Y")
    assets = {name: _asset(name) for name in ASSETS}
    app.extensions["feedsvc.assets"] = assets
    app.jinja_env.globals["asset"] = lambda name: settings.url(asset_path(name, assets[name]))
    app.register_blueprint(feeds.blueprint)
    app.register_blueprint(pages.blueprint)
    app.after_request(_common_headers)
    return app


def _asset(name: str) -> Document:
    """A static file, served under a content-hashed URL so it can be cached for a year."""
    body = (Path(__file__).parent / "static" / name).read_bytes()
    return Document(body, ASSETS[name], None, "public, max-age=31536000, immutable")


def asset_path(name: str, document: Document) -> str:
    stem, _, suffix = name.rpartition(".")
    return f"static/{stem}.{document.tag[:ASSET_DIGEST]}.{suffix}"


def send(document: Document | None) -> Response:
    """Answer GET/HEAD from a cached document: the best coding, validators, or a 304."""
    if document is None:
        abort(404)
    coding = choose_coding(document, request.headers.get("Accept-Encoding", ""))
    headers = [("ETag", document.etag(coding)), ("Cache-Control", document.cache_control),
               ("Vary", "Accept-Encoding"), *document.headers]
    if document.last_modified is not None:
        headers.append(("Last-Modified", http_date(document.last_modified)))
    if not_modified(document, request.headers.get("If-None-Match"),
                    request.headers.get("If-Modified-Since")):
        return NotModified(status=304, headers=headers)
    if coding:
        headers.append(("Content-Encoding", coding))
    return Response(document.encoded(coding), status=document.status, headers=headers,
                    content_type=document.media_type)


class NotModified(Response):
    """Werkzeug drops Last-Modified from 304s (RFC 9110 allows either); caches that validate
    by date alone want it back, so the 304 carries the same validators as the 200."""

    def get_wsgi_headers(self, environ):
        headers = super().get_wsgi_headers(environ)
        if "Last-Modified" in self.headers and "Last-Modified" not in headers:
            headers["Last-Modified"] = self.headers["Last-Modified"]
        return headers


def _common_headers(response: Response) -> Response:
    # Browsers must never sniff a feed (or anything else) into HTML.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", _page_policy())
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    else:
        # A feed opened in a browser is a document too: no scripts, no plugins, no origin.
        response.headers.setdefault("Content-Security-Policy", "default-src 'none'; sandbox")
    return response


def _page_policy() -> str:
    """Pages run no script at all; styles come from our own stylesheet only."""
    origin = urlsplit(service().settings.base_url)
    base = f"{origin.scheme}://{origin.netloc}"
    return ("default-src 'none'; "
            f"style-src 'self' {base}; img-src 'self' {base} https: http:; "
            f"media-src https: http:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")
