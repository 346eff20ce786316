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
