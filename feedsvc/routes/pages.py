"""HTML pages: the paged index, item pages, tag pages; health and 404."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, render_template, request

from ..responses import Document
from ..store import Snapshot
from ..text import slugify
from ..web import send, service
from .feeds import canonical_tag_redirect

blueprint = Blueprint("pages", __name__)
MAX_PAGE_PARAM = 12  # digits: anything longer is not a page we could have


def html_document(body: str, updated) -> Document:
    settings = service().settings
    return Document(body.encode("utf-8"), "text/html; charset=utf-8", updated,
                    f"public, max-age={settings.page_max_age}")


def page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or len(raw) > MAX_PAGE_PARAM or int(raw) < 1:
        abort(404)
    return int(raw)


def paged(items, number: int, size: int):
    pages = max(1, -(-len(items) // size))
    if number > pages:
        abort(404)
    return items[(number - 1) * size: number * size], pages


@blueprint.get("/")
def index():
    number = page_number()
    settings = service().settings

    def build(snapshot: Snapshot) -> Document:
        items, pages = paged(snapshot.items, number, settings.page_size)
        body = render_template("index.html", items=items, page=number, pages=pages,
                               snapshot=snapshot)
        return html_document(body, max((i.updated for i in items), default=None))

    return send(service().document(("index", number), build))


@blueprint.get("/items/<slug>")
def item_page(slug: str):
    def build(snapshot: Snapshot) -> Document | None:
        item = snapshot.by_slug.get(slug)
        if item is None:
            return None
        return html_document(render_template("item.html", item=item, snapshot=snapshot),
                             item.updated)

    return send(service().document(("item", slug), build))


@blueprint.get("/tags/")
def tag_index():
    def build(snapshot: Snapshot) -> Document:
        tags = sorted(snapshot.by_tag.items(), key=lambda pair: (-len(pair[1]), pair[0]))
        body = render_template("tags.html", tags=tags, snapshot=snapshot)
        return html_document(body, snapshot.updated)

    return send(service().document(("tags",), build))


@blueprint.get("/tags/<tag>")
def tag_page(tag: str):
    if slugify(tag) != tag:
        return canonical_tag_redirect(tag, "")
    number = page_number()
    settings = service().settings

    def build(snapshot: Snapshot) -> Document | None:
        if tag not in snapshot.by_tag:
            return None
        items, pages = paged(snapshot.by_tag[tag], number, settings.page_size)
        body = render_template("tag.html", tag=tag, name=snapshot.tag_names[tag], items=items,
                               page=number, pages=pages, snapshot=snapshot)
        return html_document(body, max(i.updated for i in items))

    return send(service().document(("tag", tag, number), build))


@blueprint.get("/healthz")
def healthz():
    snapshot = service().store.snapshot
    response = jsonify(status="ok", items=len(snapshot.items), errors=len(snapshot.errors),
                       version=snapshot.version)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.app_errorhandler(404)
def not_found(error):
    body = render_template("404.html", snapshot=service().store.snapshot)
    return Response(body, status=404, mimetype="text/html")
