"""HTML pages: the paged index, item pages, tag pages; health and 404."""

from __future__ import annotations

from flask import (Blueprint, Response, abort, current_app, jsonify, redirect, render_template,
                   request)

from .. import selections, sitemap, urls
from ..content import picture, summary_text
from ..feeds import json_bytes
from ..items import Author
from ..responses import Document, cache_control
from ..store import STALE, Snapshot
from ..web import asset_path, send, service
from .feeds import chosen, moved_tag

blueprint = Blueprint("pages", __name__)
MAX_PAGE_PARAM = 12  # digits: anything longer is not a page we could have


def html_document(body: str) -> Document:
    settings = service().settings
    return Document(body.encode("utf-8"), "text/html; charset=utf-8",
                    cache_control(settings.page_max_age))


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
        items, pages = paged(selections.selection(snapshot, None, settings).items, number,
                             settings.page_size)
        body = render_template("index.html", items=items, page=number, pages=pages,
                               snapshot=snapshot)
        return html_document(body)

    return send(service().document(("index", number), build))


@blueprint.get(urls.RULES["tags"])
def tag_index():
    def build(snapshot: Snapshot) -> Document:
        tags = sorted(snapshot.by_tag.items(), key=lambda pair: (-len(pair[1]), pair[0]))
        body = render_template("tags.html", tags=tags, snapshot=snapshot)
        return html_document(body)

    return send(service().document(("tags",), build))


@blueprint.get(urls.RULES["tag"])
def tag_page(tag: str):
    return moved_tag(tag, "") or collection_page("tag", tag)


def collection_page(kind: str, key: str):
    """Page `?page=` of a tag's or a section's listing, with its feeds."""
    number = page_number()
    settings = service().settings

    def build(snapshot: Snapshot) -> Document | None:
        selection = chosen(snapshot, kind, key)
        if selection is None:
            return None
        items, pages = paged(selection.items, number, settings.page_size)
        body = render_template("collection.html", selection=selection, items=items,
                               count=len(selection.items), page=number, pages=pages,
                               snapshot=snapshot)
        return html_document(body)

    return send(service().document((kind, key, number), build))


def json_ld(item) -> str:
    """schema.org Article for the platforms that unfurl links; escaped for a <script> block."""
    settings = service().settings
    authors = item.authors or (Author(settings.author, settings.author_email, settings.author_uri),)
    image = picture(item)
    return json_bytes({
        "@context": "https://schema.org",
        "@type": "Article",
        "headline": item.title,
        "description": summary_text(item),
        "datePublished": item.published.isoformat(),
        "dateModified": item.updated.isoformat(),
        "author": [_person(author) for author in authors],
        **({"contributor": [_person(person) for person in item.contributors]}
           if item.contributors else {}),
        **({"image": image} if image else {}),
        "url": item.url,
        "mainEntityOfPage": item.url,
        "inLanguage": item.lang or settings.language,
        **({"keywords": ", ".join(item.tags)} if item.tags else {}),
    }).decode("utf-8")


def _person(person: Author) -> dict:
    return {"@type": "Person", "name": person.name, **({"url": person.uri} if person.uri else {})}


@blueprint.get(urls.RULES["robots"])
def robots():
    settings = service().settings

    def build(snapshot: Snapshot) -> Document:
        body = f"User-agent: *\nAllow: /\nSitemap: {urls.sitemap(settings)}\n"
        return Document(body.encode(), "text/plain; charset=utf-8",
                        cache_control(settings.page_max_age))

    return send(service().document(("robots",), build))


@blueprint.get(urls.RULES["sitemap"])
@blueprint.get(urls.RULES["sitemap_part"])
def sitemap_xml(part: int | None = None):
    settings = service().settings

    def build(snapshot: Snapshot) -> Document | None:
        if part is None:
            body = sitemap.index_or_urlset(snapshot, settings)
        else:
            body = sitemap.urlset(snapshot, settings, part)
        if body is None:
            return None
        return Document(body, "application/xml; charset=utf-8",
                        cache_control(settings.page_max_age))

    return send(service().document(("sitemap", part), build))


@blueprint.get("/static/<stem>.<digest>.<suffix>")
def asset(stem: str, digest: str, suffix: str):
    document = current_app.extensions["feedsvc.assets"].get(f"{stem}.{suffix}")
    if document is None or asset_path(f"{stem}.{suffix}", document) != \
            f"static/{stem}.{digest}.{suffix}":
        abort(404)
    return send(document)


@blueprint.get("/favicon.ico")
def favicon():
    document = current_app.extensions["feedsvc.assets"]["icon.svg"]
    return redirect(service().settings.url(asset_path("icon.svg", document)), code=301)


@blueprint.get("/healthz")
def healthz():
    store = service().store
    snapshot, faults = store.snapshot, dict(store.faults)
    stale = any(kind in STALE for kind in faults)
    status = "stale" if stale else "degraded" if faults else "ok"
    response = jsonify(status=status, items=len(snapshot.items), errors=len(snapshot.errors),
                       version=snapshot.version, faults=sorted(faults.values()))
    # A stale site still answers readers with its last good feeds; a load balancer or monitor
    # must see that something is wrong, so this says 503 with the reason.
    response.status_code = 503 if stale else 200
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.app_errorhandler(404)
def not_found(error):
    body = render_template("404.html", snapshot=service().store.snapshot)
    return Response(body, status=404, mimetype="text/html")
