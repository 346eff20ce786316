"""The Flask application: routes, documents cached per snapshot version, conditional GET."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from flask import Flask, Response, abort, current_app, jsonify, render_template, request
from werkzeug.http import http_date

from . import feeds
from .config import Settings, load_settings
from .content import content_html, summary_text
from .store import Snapshot, Store

log = logging.getLogger("feedsvc")
DOCUMENT_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Document:
    """Response bytes and their validators, built once per snapshot version."""

    body: bytes
    media_type: str
    last_modified: datetime | None
    max_age: int

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:32]


class Service:
    """What the routes share: settings, the store, and the document cache."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self._documents: OrderedDict[tuple, Document] = OrderedDict()
        self._lock = threading.Lock()

    def document(self, key: tuple,
                 build: Callable[[Snapshot], Document | None]) -> Document | None:
        """The cached document for `key` in the current snapshot; None means "not found"."""
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
    app = Flask(__name__)
    settings = load_settings(**(test_config or {}))
    store = Store(settings)
    for problem in store.snapshot.errors:
        log.warning("%s (left out)", problem)
    if watch:
        store.start()
    app.extensions["feedsvc"] = Service(settings, store)
    app.jinja_env.globals.update(url=settings.url, site=settings,
                                 content_html=content_html, summary_text=summary_text)
    app.jinja_env.filters["isodate"] = lambda value: value.isoformat()
    app.jinja_env.filters["humandate"] = lambda value: value.strftime("%-d %B %Y")
    _register_routes(app)
    return app


def send(document: Document | None) -> Response:
    if document is None:
        abort(404)
    response = Response(document.body, mimetype=document.media_type)
    response.headers["Content-Type"] = f"{document.media_type}; charset=utf-8"
    response.set_etag(document.etag)
    if document.last_modified is not None:
        response.headers["Last-Modified"] = http_date(document.last_modified)
    response.headers["Cache-Control"] = f"public, max-age={document.max_age}"
    return response.make_conditional(request)


def _register_routes(app: Flask) -> None:
    @app.get("/feed.<any(atom, rss, json):fmt>")
    def subscription_feed(fmt: str):
        svc = service()

        def build(snapshot: Snapshot) -> Document:
            spec = feeds.subscription_spec(snapshot, svc.settings)
            return Document(feeds.render(fmt, spec, svc.settings), feeds.MEDIA_TYPES[fmt],
                            snapshot.updated, svc.settings.feed_max_age)

        return send(svc.document(("feed", fmt), build))

    @app.get("/")
    def index():
        svc = service()

        def build(snapshot: Snapshot) -> Document:
            items = snapshot.items[: svc.settings.page_size]
            body = render_template("index.html", items=items, snapshot=snapshot)
            return Document(body.encode(), "text/html", snapshot.updated,
                            svc.settings.page_max_age)

        return send(svc.document(("index",), build))

    @app.get("/items/<slug>")
    def item_page(slug: str):
        svc = service()

        def build(snapshot: Snapshot) -> Document | None:
            item = snapshot.by_slug.get(slug)
            if item is None:
                return None
            body = render_template("item.html", item=item, snapshot=snapshot)
            return Document(body.encode(), "text/html", item.updated, svc.settings.page_max_age)

        return send(svc.document(("item", slug), build))

    @app.get("/healthz")
    def healthz():
        snapshot = service().store.snapshot
        response = jsonify(status="ok", items=len(snapshot.items),
                           errors=len(snapshot.errors), version=snapshot.version)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(404)
    def not_found(error):
        body = render_template("404.html", snapshot=service().store.snapshot)
        return Response(body, status=404, mimetype="text/html")
