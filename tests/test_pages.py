"""HTML pages: index, item pages, autodiscovery, 404."""

from __future__ import annotations

import html5lib
import pytest

from conftest import BASE_URL

FEED_TYPES = {"application/atom+xml": "feed.atom", "application/rss+xml": "feed.rss",
              "application/feed+json": "feed.json"}


def document(response):
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parse(response.data)


def assert_page_basics(tree, canonical):
    assert tree.get("lang")
    assert tree.find("head/title").text.strip()
    links = tree.findall("head/link")
    alternates = {(link.get("type"), link.get("href")) for link in links
                  if link.get("rel") == "alternate"}
    for media_type, path in FEED_TYPES.items():
        assert (media_type, BASE_URL + path) in alternates
    assert [link.get("href") for link in links if link.get("rel") == "canonical"] == [canonical]


def test_index_lists_items_newest_first(client):
    response = client.get("/")
    assert response.status_code == 200
    tree = document(response)
    assert_page_basics(tree, BASE_URL)
    titles = [a.text for a in tree.iterfind(".//article/h2/a")]
    assert titles[0] == "Reading list: November"
    assert len(titles) == 5
    assert tree.findall(".//article//time")


def test_every_item_page(client):
    tree = document(client.get("/"))
    for link in tree.iterfind(".//article/h2/a"):
        url = link.get("href")
        assert url.startswith(BASE_URL + "items/")
        response = client.get(url[len(BASE_URL) - 1:])
        assert response.status_code == 200, url
        page = document(response)
        assert_page_basics(page, url)
        assert page.find(".//h1").text == link.text
        assert page.find("head/title").text.startswith(link.text)


@pytest.mark.parametrize("path", ["/items/no-such-item", "/items/", "/nothing",
                                  "/items/unfinished-draft"])
def test_unknown_pages_are_friendly_404s(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"Not found" in response.data
    assert b"home page" in response.data


def test_urls_come_from_base_url_not_host_header(client):
    response = client.get("/feed.atom", headers={"Host": "evil.example",
                                                  "X-Forwarded-Host": "evil.example"})
    assert b"evil.example" not in response.data
    assert b"evil.example" not in client.get("/", headers={"Host": "evil.example"}).data


def test_healthz(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["items"] == 5 and body["errors"] == 0


@pytest.mark.parametrize("path, status", [("/tags/", 200), ("/tags/feeds", 200),
                                          ("/items/nope", 404), ("/items/winter-solstice", 200)])
def test_every_kind_of_page_is_valid_html(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    tree = document(response)  # html5lib's strict parser raises on any parse error
    assert len(tree.findall(".//h1")) == 1
    for landmark in ("header", "main", "nav", "footer"):
        assert tree.find(f".//{landmark}") is not None, landmark
    assert tree.find(".//a[@class='skip']").get("href") == "#main"


def test_item_page_metadata(client):
    import json

    tree = document(client.get("/items/why-we-still-publish-feeds"))
    meta = {m.get("property") or m.get("name"): m.get("content") for m in tree.iter("meta")}
    assert meta["og:title"] == meta["twitter:title"] == "Why we still publish feeds"
    assert meta["og:type"] == "article"
    assert meta["og:url"] == BASE_URL + "items/why-we-still-publish-feeds"
    assert meta["description"].startswith("Feeds are the oldest")
    data = json.loads(tree.find(".//script[@type='application/ld+json']").text)
    assert data["@type"] == "Article" and data["headline"] == "Why we still publish feeds"
    assert data["datePublished"] == "2025-09-12T07:30:00+00:00"
    assert data["dateModified"] == "2025-10-01T12:00:00+00:00"
    assert data["author"][0]["name"] == "Ada Brennan"
    times = [t.get("datetime") for t in tree.iter("time")]
    assert times == ["2025-09-12T07:30:00+00:00", "2025-10-01T12:00:00+00:00"]
    tag_links = [a.get("href") for a in tree.findall(".//ul[@class='tags']/li/a")]
    assert tag_links == [BASE_URL + "tags/feeds", BASE_URL + "tags/open-web"]
    neighbours = {a.get("rel"): a.get("href") for a in tree.findall(".//nav[@class='neighbours']/a")}
    assert neighbours == {"next": BASE_URL + "items/reading-list",
                          "prev": BASE_URL + "items/hugo-page-bundles"}


def test_stylesheet_is_hashed_and_cached_for_a_year(client):
    tree = document(client.get("/"))
    href = next(l.get("href") for l in tree.iter("link") if l.get("rel") == "stylesheet")
    assert href.startswith(BASE_URL + "static/style.") and href.endswith(".css")
    response = client.get(href[len(BASE_URL) - 1:])
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/static/style.000000000000.css").status_code == 404
    assert client.get("/static/style.css").status_code == 404


def test_robots_and_sitemap(client):
    import xml.etree.ElementTree as ET

    robots = client.get("/robots.txt")
    assert robots.mimetype == "text/plain"
    assert f"Sitemap: {BASE_URL}sitemap.xml" in robots.get_data(as_text=True)
    root = ET.fromstring(client.get("/sitemap.xml").data)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    urls = {u.find("s:loc", ns).text: u.find("s:lastmod", ns).text
            for u in root.findall("s:url", ns)}
    assert urls[BASE_URL + "items/why-we-still-publish-feeds"] == "2025-10-01T12:00:00+00:00"
    assert len(urls) == 1 + 5


def test_big_sitemaps_become_an_index(client, monkeypatch):
    import xml.etree.ElementTree as ET
    from feedsvc import sitemap

    monkeypatch.setattr(sitemap, "MAX_URLS", 4)
    root = ET.fromstring(client.get("/sitemap.xml").data)
    assert root.tag.endswith("sitemapindex")
    parts = [s[0].text for s in root]
    assert parts == [BASE_URL + "sitemaps/1.xml", BASE_URL + "sitemaps/2.xml"]
    second = ET.fromstring(client.get("/sitemaps/2.xml").data)
    assert len(second) == 2
    assert client.get("/sitemaps/3.xml").status_code == 404
