"""`feedsvc build OUT`: every page, feed and archive as files, for any static file host.

Each URL becomes the file a static server maps it to: `/items/<slug>` -> `items/<slug>.html`
(nginx `try_files $uri $uri.html`, GitHub Pages and Netlify do this by default), `/tags/` ->
`tags/index.html`; feeds, archives and assets keep their names. The bytes are the ones the
server sends, taken from the app itself through Flask's test client.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote

from flask import Flask

from . import feeds, sitemap, urls
from .layout import is_bundle_resource, is_jekyll_static
from .templating import engine, jekyll_excludes
from .urls import document_url, resource_base
from .web import ASSETS, asset_path

FORMATS = tuple(feeds.MEDIA_TYPES)


def paths(app: Flask) -> list[str]:
    """The path of every document the app serves, as urls.py names them."""
    svc = app.extensions["feedsvc"]
    snapshot, settings = svc.store.snapshot, svc.settings

    def path(url: str) -> str:  # the app's path for one of its absolute URLs
        return "/" + url[len(settings.base_url):]

    def listing(url: str, count: int) -> list[str]:
        pages = max(1, -(-count // settings.page_size))
        return [path(urls.page(url, number)) for number in range(1, pages + 1)]

    found = [path(urls.Links(settings).tags()), path(urls.sitemap(settings)), "/robots.txt"]
    for item in snapshot.items:
        found += [path(item.url)] + [path(document_url(item.url, fmt))
                                     for fmt in ("atom", "json")]
        if item.bundle:
            found += [path(resource_base(item.url)) + quote(name) for name in resources(item)]
    found += ["/" + quote(name) for name in static_files(settings)]
    for chosen in feeds.selections(snapshot, settings):
        found += listing(chosen.path(settings, ""), len(chosen.items))
        for fmt in FORMATS:
            found.append(path(urls.feed(settings, chosen.kind, chosen.key, fmt)))
            found += [path(urls.archive(settings, chosen.kind, chosen.key, number, fmt))
                      for number in range(1, feeds.archive_count(chosen, settings) + 1)]
    if sitemap.part_count(snapshot) > 1:
        found += [path(urls.sitemap(settings, n))
                  for n in range(1, sitemap.part_count(snapshot) + 1)]
    assets = app.extensions["feedsvc.assets"]
    found += ["/" + asset_path(name, assets[name]) for name in ASSETS]
    return found


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


def file_for(url: str) -> str:
    path, _, query = unquote(url).partition("?")
    if query:  # /?page=3 -> page/3.html, /tags/x?page=2 -> tags/x/page/2.html
        return path.strip("/") + ("/" if path.strip("/") else "") + \
            f"page/{query.split('=', 1)[1]}.html"
    if path.endswith("/"):
        return path.lstrip("/") + "index.html"
    last = path.rsplit("/", 1)[-1]
    return path.lstrip("/") + ("" if "." in last else ".html")


def build(app: Flask, out: Path) -> int:
    client = app.test_client()
    count = 0
    for url in paths(app):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        target = out / file_for(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(response.data)
        count += 1
    missing = client.get("/items/this-page-does-not-exist")
    (out / "404.html").write_bytes(missing.data)
    return count + 1
