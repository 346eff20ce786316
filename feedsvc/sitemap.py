"""sitemap.xml (sitemaps.org protocol 0.9): every item and section page with its lastmod.

One file holds at most 50,000 URLs; past that /sitemap.xml becomes an index of numbered files.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from . import urls
from .config import Settings
from .store import Snapshot

MAX_URLS = 50_000
NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def part_count(snapshot: Snapshot) -> int:
    return max(1, -(-(len(snapshot.items) + len(snapshot.sections) + 1) // MAX_URLS))


def _entry(tag: str, loc: str, lastmod) -> str:
    modified = f"<lastmod>{lastmod.isoformat()}</lastmod>" if lastmod else ""
    return f"<{tag}><loc>{escape(loc)}</loc>{modified}</{tag}>"


def urlset(snapshot: Snapshot, settings: Settings, part: int) -> bytes | None:
    """Part `part` (1-based) of the URL list: the home page, every section's, every item."""
    if not 1 <= part <= part_count(snapshot):
        return None
    sections = [(url, max((i.updated for i in snapshot.section_items[url]), default=None))
                for url in snapshot.sections]
    pages = [(settings.url(), snapshot.updated), *sections,
             *((i.url, i.updated) for i in snapshot.items)]
    chunk = pages[(part - 1) * MAX_URLS: part * MAX_URLS]
    body = "\n".join(_entry("url", loc, lastmod) for loc, lastmod in chunk)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{NS}">\n{body}\n'
            "</urlset>\n").encode("utf-8")


def index_or_urlset(snapshot: Snapshot, settings: Settings) -> bytes:
    if part_count(snapshot) == 1:
        return urlset(snapshot, settings, 1)
    body = "\n".join(_entry("sitemap", urls.sitemap(settings, n), snapshot.updated)
                     for n in range(1, part_count(snapshot) + 1))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="{NS}">\n{body}\n'
            "</sitemapindex>\n").encode("utf-8")
