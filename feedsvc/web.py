"""The Flask application factory and the HTTP glue every route shares.

Routes live in blueprints (`routes/feeds.py`, `routes/pages.py`). Each builds a `Document` once
per snapshot version; `send` answers from it with validators, compression and 304s.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, has_request_context, request

from werkzeug.middleware.proxy_fix import ProxyFix

from .accesslog import AccessLog
from .config import Settings, load_settings
from .content import content_html, picture, summary_text
from .history import History, document_key, history_path
from .responses import Document, answer
from .store import Snapshot, Store
from .urls import Links

if TYPE_CHECKING:
    from .stats import Recorder
    from .workers import Changes

DOCUMENT_CACHE_SIZE = 4096
# Python threads a worker answers requests in (granian's blocking threads). Requests are
# answered from memory, rarely blocked on the disk: a few per core keep the GIL busy;
# hundreds (granian's WSGI default) only contend for it. Long file downloads (ranges.py) may
# hold all but one of them: a crowd of slow downloaders never stops the feeds.
PYTHON_THREADS = 2 * (os.cpu_count() or 1) + 1
ASSETS = {"style.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}
ASSET_DIGEST = 12


class Service:
    """What the routes share: settings, the store, and the document cache."""

    def __init__(self, settings: Settings, store: Store, history: History):
        self.settings = settings
        self.store = store
        self.history = history
        self.access_log: AccessLog | None = None  # writing, once `start` ran in this process
        self.stats: "Recorder | None" = None  # counting, once `start` ran in this process
        self.publisher = None  # websub.Publisher, with hubs
        self._documents: OrderedDict[tuple, Document] = OrderedDict()
        self._hot: dict[str, tuple[str, Document]] = {}  # PATH_INFO -> (version, document)
        self._lock = threading.Lock()
        self.streams = threading.BoundedSemaphore(PYTHON_THREADS - 1)
        policy = page_policy(settings)
        # Browsers must never sniff a feed (or anything else) into HTML; pages run no script;
        # a feed opened in a browser is a document too: no scripts, no plugins, no origin.
        self._page_headers = (("X-Content-Type-Options", "nosniff"),
                              ("Content-Security-Policy", policy),
                              ("Referrer-Policy", "strict-origin-when-cross-origin"))
        self._other_headers = (("X-Content-Type-Options", "nosniff"),
                               ("Content-Security-Policy", "default-src 'none'; sandbox"))

    def security_headers(self, content_type: str) -> tuple[tuple[str, str], ...]:
        return self._page_headers if content_type.startswith("text/html") else \
            self._other_headers

    def _remember(self, path: str, version: str, document: Document) -> None:
        if len(self._hot) >= DOCUMENT_CACHE_SIZE and path not in self._hot:
            self._hot.clear()  # rare: a crawler walking every page; it refills as it goes
        self._hot[path] = (version, document)

    def current(self, path: str) -> Document | None:
        """The remembered document for `path` if it belongs to the current snapshot."""
        entry = self._hot.get(path)
        if entry is not None and entry[0] == self.store.snapshot.version:
            return entry[1]
        return None

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
        if document is None:
            document = build(snapshot)
            if document is None:
                return None
            document = self._dated(key, document, snapshot)
        with self._lock:
            self._documents[cache_key] = document
            while len(self._documents) > DOCUMENT_CACHE_SIZE:
                self._documents.popitem(last=False)
            if has_request_context() and not request.query_string:
                # The version this document was built from, not whatever is current now.
                self._remember(request.environ.get("PATH_INFO", ""), snapshot.version, document)
        return document


    def _dated(self, key: tuple, document: Document, snapshot: Snapshot) -> Document:
        """The document with Last-Modified = when these bytes first appeared (history.py)."""
        if snapshot.stamp is None:
            return document
        modified, shared = self.history.modified(document_key(key), document.tag,
                                                 snapshot.stamp)
        return document.dated(modified, shared)


def service() -> Service:
    return current_app.extensions["feedsvc"]


def create_app(test_config: dict | None = None, *, watch: bool = True, clock=None) -> Flask:
    """Build the app and (`watch`) start following the folder. `test_config` overrides
    settings (tests pass `items_dir` and friends); `clock` replaces the wall clock (tests)."""
    app = build_app(test_config, clock=clock)
    if watch:
        start(app)
    return app


def build_app(test_config: dict | None = None, *, clock=None) -> Flask:
    """The app with its index built, and no thread running: `serve` builds it once and
    forks its workers from it, so they share the parsed index (`start` in each)."""
    from .routes import feeds, items, pages, stats

    app = Flask(__name__, static_folder=None)
    settings = load_settings(**(test_config or {}))
    store = Store(settings, **({"clock": clock} if clock else {}))
    svc = Service(settings, store, History(history_path(settings)))
    if settings.hubs:
        from .websub import Publisher

        svc.publisher = Publisher(settings)
        store.listeners.append(svc.publisher.snapshot_changed)
    app.extensions["feedsvc"] = svc
    app.jinja_env.globals.update(links=Links(settings), site=settings,
                                 content_html=content_html, summary_text=summary_text,
                                 picture=picture)
    app.jinja_env.filters["isodate"] = lambda value: value.isoformat()
    app.jinja_env.filters["humandate"] = lambda value: value.strftime("%-d %B %Y")
    assets = {name: _asset(name) for name in ASSETS}
    app.extensions["feedsvc.assets"] = assets
    app.jinja_env.globals["asset"] = lambda name: settings.url(asset_path(name, assets[name]))
    app.register_blueprint(feeds.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(stats.blueprint)
    app.register_blueprint(items.blueprint)
    app.after_request(_common_headers)
    app.wsgi_app = FastPath(app, svc)
    if settings.trust_forwarded:
        # Behind N proxies: the client's address, scheme and host are what the Nth hop from
        # here says (the access log shows that address). Documents never use them.
        n = settings.trust_forwarded
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    return app


def start(app: Flask, changes: "Changes | None" = None) -> Flask:
    """Run the app's threads in this process: the access log, the stats, and following the
    folder, by watching it, or (in a forked `serve` worker) by applying the `changes` the
    main process saw, after those since the index was built: a worker never answers from an
    older snapshot than the folder holds."""
    svc: Service = app.extensions["feedsvc"]
    if svc.settings.access_log:
        svc.access_log = AccessLog().start()
    if svc.settings.stats:
        from .stats import Recorder

        svc.stats = Recorder(svc.settings).start()
    if changes is None:
        svc.store.start()
    else:
        if svc.publisher is not None:
            svc.publisher.changes = changes
        changes.catch_up(svc.store)
        changes.follow(svc.store)
    return app


def _asset(name: str) -> Document:
    """A static file, served under a content-hashed URL so it can be cached for a year."""
    body = (Path(__file__).parent / "static" / name).read_bytes()
    return Document(body, ASSETS[name], "public, max-age=31536000, immutable")


def asset_path(name: str, document: Document) -> str:
    stem, _, suffix = name.rpartition(".")
    return f"static/{stem}.{document.tag[:ASSET_DIGEST]}.{suffix}"


def send(document: Document | None) -> Response:
    """Answer GET/HEAD from a cached document: the best coding, validators, or a 304."""
    if document is None:
        abort(404)
    # Security headers by the document's type: a 304 has no Content-Type for after_request
    # to go by.
    status, headers, body = answer(
        document, False, request.headers.get("Accept-Encoding", ""),
        request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since"),
        service().security_headers(document.media_type))
    stats = service().stats
    if stats is not None and document.feed_path is not None:
        stats.record(request.environ, document, request.method, status,
                     0 if request.method == "HEAD" else len(body),
                     request.environ.get("HTTP_ACCEPT_ENCODING", ""))
    if status == 304:
        return NotModified(status=304, headers=headers)
    return Response(body, status=status, headers=headers)  # Werkzeug drops it for HEAD


class FastPath:
    """WSGI in front of Flask: a GET or HEAD of a path whose document is current in the
    snapshot is answered straight from memory. A feed polled by thousands of readers costs
    a dict lookup and `answer`, not Flask's routing and request objects (about twice the
    requests per second here; benchmarks/README.md)."""

    def __init__(self, app: Flask, svc: "Service"):
        self.flask_app = app.wsgi_app
        self.service = svc

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD") and not environ.get("QUERY_STRING"):
            document = self.service.current(environ.get("PATH_INFO", ""))
            if document is not None:
                accept = environ.get("HTTP_ACCEPT_ENCODING", "")
                status, headers, body = answer(
                    document, method == "HEAD", accept, environ.get("HTTP_IF_NONE_MATCH"),
                    environ.get("HTTP_IF_MODIFIED_SINCE"),
                    self.service.security_headers(document.media_type))
                start_response(STATUS_LINES[status], headers)
                if self.service.access_log is not None:
                    self.service.access_log.record(environ, status, len(body))
                if document.feed_path is not None and self.service.stats is not None:
                    self.service.stats.record(environ, document, method, status, len(body),
                                              accept)
                return [body] if body else []
        access_log = self.service.access_log
        if access_log is None:
            return self.flask_app(environ, start_response)

        def logged(status: str, headers, exc_info=None):
            size = next((value for name, value in headers if name == "Content-Length"), "-")
            no_body = method == "HEAD" or status.startswith("304")
            access_log.record(environ, status[:3], "0" if no_body else size)
            return start_response(status, headers, exc_info)

        return self.flask_app(environ, logged)


STATUS_LINES = {200: "200 OK", 304: "304 Not Modified"}


class NotModified(Response):
    """Werkzeug drops Last-Modified from 304s (RFC 9110 allows either); caches that validate
    by date alone want it back, so the 304 carries the same validators as the 200."""

    def get_wsgi_headers(self, environ):
        headers = super().get_wsgi_headers(environ)
        if "Last-Modified" in self.headers and "Last-Modified" not in headers:
            headers["Last-Modified"] = self.headers["Last-Modified"]
        return headers


def _common_headers(response: Response) -> Response:
    if "Content-Security-Policy" in response.headers:
        return response  # `send` already set them by the document's own type
    for name, value in service().security_headers(response.content_type or ""):
        response.headers.setdefault(name, value)
    return response


def page_policy(settings: Settings) -> str:
    """Pages run no script at all; styles come from our own stylesheet only."""
    origin = urlsplit(settings.base_url)
    base = f"{origin.scheme}://{origin.netloc}"
    return ("default-src 'none'; "
            f"style-src 'self' {base}; img-src 'self' {base} https: http:; "
            f"media-src https: http:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")
