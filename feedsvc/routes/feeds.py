"""Feed documents: subscription and tag feeds, their RFC 5005 archives, per-item documents."""

from __future__ import annotations

from flask import Blueprint, redirect

from .. import feeds, selections, urls
from ..feeds import MEDIA_TYPES
from ..responses import Document, cache_control
from ..store import Snapshot
from ..text import slugify, tag_slug
from ..web import send, service

blueprint = Blueprint("feeds", __name__)
# Feeds are read by web-based readers on other origins; they are public anyway.
CORS = ("Access-Control-Allow-Origin", "*")


def feed_document(spec: selections.FeedSpec, fmt: str, cache_control: str) -> Document:
    settings = service().settings
    links = [f'<{spec.self_url}>; rel="self"'] + [
        f'<{link.href}>; rel="{link.rel}"' for link in spec.links if link.rel == "hub"]
    # Archives are read once, never subscribed to: only subscription feeds are counted.
    feed_path = None if spec.archive else "/" + spec.self_url.removeprefix(settings.base_url)
    return Document(feeds.render(fmt, spec, settings), f"{MEDIA_TYPES[fmt]}; charset=utf-8",
                    cache_control, headers=(("Link", ", ".join(links)), CORS),
                    feed_path=feed_path)


def chosen(snapshot: Snapshot, kind: str, key: str) -> selections.Selection | None:
    settings = service().settings
    if kind == "section":
        return selections.section_selection(snapshot, settings.url(key), settings)
    return selections.selection(snapshot, key if kind == "tag" else None, settings)


def serve_feed(fmt: str, kind: str = "site", key: str = "", archive: int | None = None):
    settings = service().settings

    def build(snapshot: Snapshot) -> Document | None:
        selection = chosen(snapshot, kind, key)
        if selection is None:
            return None
        spec = selections.feed_spec(selection, settings, fmt, archive)
        if spec is None:
            return None
        if archive is None:
            return feed_document(spec, fmt, cache_control(settings.feed_max_age))
        return feed_document(spec, fmt,
                             cache_control(settings.archive_max_age, immutable=True))

    document = service().document(("feed", fmt, kind, key, archive), build)
    if document is None and archive is not None:
        # The block after the newest archive is still filling: its items are in `current`.
        selection = chosen(service().store.snapshot, kind, key)
        if selection and archive == selections.archive_count(selection, settings) + 1:
            response = redirect(urls.feed(settings, kind, key, fmt), code=307)
            response.headers["Cache-Control"] = "no-cache"
            return response
    return send(document)


@blueprint.get(urls.RULES["feed"])
def subscription_feed(fmt: str):
    return serve_feed(fmt)


@blueprint.get(urls.RULES["archive"])
def subscription_archive(number: int, fmt: str):
    return serve_feed(fmt, archive=number)


@blueprint.get(urls.RULES["tag_feed"])
def tag_feed(tag: str, fmt: str):
    return moved_tag(tag, f"feed.{fmt}") or serve_feed(fmt, "tag", tag)


@blueprint.get(urls.RULES["tag_archive"])
def tag_archive(tag: str, number: int, fmt: str):
    return moved_tag(tag, f"archive/{number}.{fmt}") or serve_feed(fmt, "tag", tag, number)


def moved_tag(tag: str, leaf: str):
    """A 301 to the tag's own URL when `tag` is another spelling of it (`/tags/Open Web` ->
    `/tags/open-web`: tags match case-insensitively) or its URL from before symbols were
    spelled out (`/tags/c` of a site whose tag is C++); None to serve `tag` as it is."""
    snapshot = service().store.snapshot
    if tag in snapshot.by_tag:
        return None
    key = tag_slug(tag)
    if key not in snapshot.by_tag:
        key = snapshot.legacy_tags.get(slugify(tag), key)
    if not key or key == tag:
        return None
    return redirect(urls.collection(service().settings, "tag", key, leaf), code=301)
