"""`feedsvc import`: saved pages and existing feeds become items that check clean, keep their
ids and text, lose the page chrome, and are skipped when imported again."""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from datetime import datetime, timedelta, timezone
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from conftest import BUNDLED_ITEMS, write
from feedsvc import templating
from feedsvc.cli import main
from feedsvc.config import Settings
from feedsvc.content import content_html
from feedsvc.importing.pages import markdown_paragraphs
from feedsvc.items import parse_item
from test_cli import run

CHROME = ("We use cookies", "Accept all cookies", "Subscribe now", "Most read",
          "Storm closes coast road", "All rights reserved", "Contact us", "3 comments",
          "What a shame")

ARTICLE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Harbour Cranes Return to the Old Quay | Coastal Times</title>
<link rel="canonical" href="https://news.example.com/2024/03/harbour-cranes-return">
<meta name="description" content="After forty years, the cranes are back on the old quay.">
<meta name="author" content="Ada Brennan">
<meta property="article:published_time" content="2024-03-29T08:15:00+01:00">
</head><body>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience.
 <button>Accept all cookies</button> <a href="/privacy">Privacy policy</a></div>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
 <li><a href="/subscribe">Subscribe now</a></li></ul></nav></header>
<main><article>
<h1>Harbour Cranes Return to the Old Quay</h1>
<p class="byline">By Ada Brennan, <time datetime="2024-03-29T08:15:00+01:00">29 March</time></p>
<p>For the first time in forty years, two container cranes stand on the old quay. The harbour
board voted last autumn to reopen the berth, and the first ship is due in May.</p>
<figure><img src="/images/cranes.jpg" alt="Two cranes at dusk"></figure>
<p>Not everyone is pleased. "We moved here for the quiet," said one resident of Quay Street.
Others see <a href="https://jobs.example.org/harbour">two hundred new jobs</a> and a reason
for their children to stay.</p>
<h2>What the board decided</h2>
<ul><li>The berth reopens on 1 May.</li><li>Night work is limited to four nights a month.</li>
<li>A noise fund of &pound;2 million pays for new windows on Quay Street.</li></ul>
<p>The board meets again in April to settle the timetable. Residents can send comments to
the harbour office until then.</p>
</article>
<section id="comments"><h3>3 comments</h3><div class="comment"><p>First! What a shame for
the quiet of Quay Street, say I, who have lived here all my life.</p></div></section>
<aside class="most-read"><h3>Most read</h3><ol><li><a href="/a">Storm closes coast road</a></li>
<li><a href="/b">Lifeboat crew honoured</a></li></ol></aside></main>
<footer><p>&copy; 2024 Coastal Times. All rights reserved.</p><a href="/contact">Contact us</a>
</footer></body></html>
"""
CANONICAL = "https://news.example.com/2024/03/harbour-cranes-return"


def front_matter(path: Path) -> tuple[dict, str]:
    _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
    return yaml.safe_load(front), body


def invoke(*args) -> tuple[int, str]:
    """The command in this process (the real code, without a process start per call)."""
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def only_file(folder: Path) -> Path:
    (path,) = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return path


def checks_clean(items: Path) -> None:
    result = run("check", "--strict", "--items", str(items))
    assert result.returncode == 0 and "0 error(s), 0 warning(s)" in result.stdout, result.stdout


def test_html_article_becomes_a_clean_markdown_item(tmp_path, make_app):
    page = write(tmp_path / "saved", "harbour.html", ARTICLE)
    items = tmp_path / "items"
    items.mkdir()
    result = run("import", "--items", str(items), str(page))
    assert result.returncode == 0, result.stderr
    assert "1 imported" in result.stdout
    path = only_file(items)
    assert path.name == "2024-03-29-harbour-cranes-return.md"
    meta, body = front_matter(path)
    assert meta["title"] == "Harbour Cranes Return to the Old Quay"
    assert meta["date"] == datetime(2024, 3, 29, 7, 15, tzinfo=timezone.utc)
    assert meta["id"] == meta["canonical_url"] == CANONICAL
    assert meta["source_file"] == str(page.resolve())
    assert meta["author"] == "Ada Brennan"
    assert meta["summary"] == "After forty years, the cranes are back on the old quay."
    assert "For the first time in forty years" in body and "- The berth reopens on 1 May." in body
    assert "[two hundred new jobs](https://jobs.example.org/harbour)" in body
    # The picture resolves as it did on the page: against the address the page names.
    assert "![Two cranes at dusk](https://news.example.com/images/cranes.jpg)" in body
    for chrome in CHROME:
        assert chrome not in body, chrome
    assert not body.lstrip().startswith("# ")  # the title is not repeated

    again = run("import", "--items", str(items), str(page))
    assert again.returncode == 0 and "0 imported, 1 already there" in again.stdout
    assert f"skipped: already in {path.name}" in again.stdout
    checks_clean(items)

    feed = feedparser.parse(make_app(items).test_client().get("/feed.atom").data)
    (entry,) = feed.entries
    assert (entry.id, entry.title, entry.author) == (CANONICAL, meta["title"], "Ada Brennan")
    assert entry.published_parsed[:5] == (2024, 3, 29, 7, 15)
    assert 'src="https://news.example.com/images/cranes.jpg"' in entry.content[0].value


TEMPLATE_PROSE = ["In Liquid you write {{ page.title }} and {% if draft %}, and end raw text "
                  "with {% endraw %}.",
                  'A Hugo figure is {{< figure src="x.png" >}}, a note {{% note %}}.',
                  'Zola embeds a video with {{ youtube(id="x") }} and quotes with '
                  "{% quote() %}words{% end %}."]
SITES = {"jekyll": ("", "_config.yml", "title: Site\n"),  # --items, its config file
         "hugo": ("content", "../hugo.toml", 'baseURL = "https://site.example/"\n'),
         "zola": ("content", "../config.toml", 'base_url = "https://site.example"\n')}


@pytest.mark.parametrize("kind", SITES)
def test_an_article_about_templates_stays_prose_in_a_site_that_runs_them(kind, tmp_path,
                                                                         make_app):
    """Imported into a Jekyll, Hugo or Zola folder, text that shows template code is escaped
    the site's own way: it checks clean and readers see exactly those words."""
    paragraphs = "".join(f"<p>{html.escape(line, quote=False)} Enough words to be the "
                         "article's own text, not a box beside it.</p>\n"
                         for line in TEMPLATE_PROSE)
    page = write(tmp_path, "templates.html",
                 "<html><head><title>Templates in prose</title><meta property="
                 '"article:published_time" content="2024-03-29T08:15:00Z"></head><body>'
                 "<article>"
                 f"<h1>Templates in prose</h1>\n{paragraphs}</article></body></html>")
    folder, config, text = SITES[kind]
    items = tmp_path / "site" / folder
    items.mkdir(parents=True)
    write(items.parent if config.startswith("../") else items, config.removeprefix("../"), text)
    assert templating.engine(Settings(items_dir=items)) == kind
    code, output = invoke("import", "--items", str(items), str(page))
    assert code == 0 and "1 imported" in output and "0 warning(s)" in output, output
    checks_clean(items)
    (entry,) = feedparser.parse(make_app(items).test_client().get("/feed.atom").data).entries
    text = words(entry.content[0].value)
    for line in TEMPLATE_PROSE:
        assert line in text, (line, text)


def words(fragment: str) -> str:
    """The text of rendered HTML, with Markdown's typographic quotes folded back."""
    text = html.unescape(re.sub(r"<[^>]*>", " ", fragment))
    for curly, straight in (("‘", "'"), ("’", "'"), ("“", '"'), ("”", '"'),
                            ("—", "---"), ("–", "--"), ("…", "...")):
        text = text.replace(curly, straight)
    return " ".join(text.split())


def test_bundled_text_article_becomes_markdown_with_the_same_words(tmp_path):
    original = BUNDLED_ITEMS / "us-rejects-putins-proposal.txt"
    items = tmp_path / "items"
    items.mkdir()
    code, output = invoke("import", "--items", str(items), str(original))
    assert code == 0, output
    path = only_file(items)
    assert path.suffix == ".md"
    meta, body = front_matter(path)
    assert meta["title"] == "US Rejects Putin's Proposal: A Calculated Move with Consequences"
    assert meta["date"] == datetime(2024, 3, 29, 8, 0, tzinfo=timezone.utc)
    assert (meta["author"], meta["tags"]) == ("Newsroom", ["world", "diplomacy"])
    assert meta["id"].startswith("urn:uuid:") and meta["source_file"] == str(original)
    assert "top of page" not in body and "bottom of page" not in body
    assert meta["title"] not in body
    assert body.count("\n\n") == 6  # seven paragraphs

    settings = Settings(items_dir=items)
    imported = parse_item(path.name, path.read_bytes(), settings, 0)
    as_text = parse_item(original.name, original.read_bytes(), settings, 0)
    assert words(content_html(imported)) == words(content_html(as_text))

    assert invoke("import", "--items", str(items), str(original))[1].startswith(
        f"{original}: skipped: already in {path.name} (same id urn:uuid:")
    checks_clean(items)


# -- feeds ------------------------------------------------------------------------------------

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Old Blog</title><id>tag:old.example,2020:feed</id>
  <updated>2024-05-02T15:00:00Z</updated><link href="https://old.example/"/>
  <author><name>Feed Author</name></author>
  <entry>
    <title type="html">Tom &amp;amp; Jerry &amp;lt;b&amp;gt;</title>
    <id>tag:old.example,2020:post-1</id>
    <link rel="alternate" href="https://old.example/2024/05/01/tom-and-jerry/"/>
    <published>2024-05-01T23:30:00-07:00</published><updated>2024-05-02T08:00:00-07:00</updated>
    <author><name>Ada Brennan</name><email>ada@old.example</email></author>
    <category term="cartoons" label="Cartoons"/><category term="C++"/>
    <summary>The chase, summed up.</summary>
    <content type="html">&lt;p&gt;The &lt;em&gt;chase&lt;/em&gt; goes on.
      &lt;img src="/img/cat.png" alt="cat"&gt;&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;</content>
  </entry>
  <entry>
    <title>Second</title><id>urn:uuid:0b6c2c4e-1111-4a2b-9c3d-222222222222</id>
    <link href="https://old.example/second"/><updated>2024-04-01T09:00:00Z</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Second
      <strong>post</strong>.</p></div></content>
  </entry>
</feed>
"""
RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>WP Blog</title><link>https://wp.example/</link><description>x</description>
<item><title>Hello World</title><link>https://wp.example/2023/01/05/hello-world/</link>
<dc:creator><![CDATA[Wendy Press]]></dc:creator><pubDate>Thu, 05 Jan 2023 10:00:00 +0100</pubDate>
<category><![CDATA[News]]></category><category><![CDATA[Open Web]]></category>
<guid isPermaLink="false">https://wp.example/?p=1</guid>
<description><![CDATA[Welcome to WordPress.]]></description>
<content:encoded><![CDATA[<p>Welcome to WordPress. This is your <a href="/about">first post</a>.</p>
<p>Edit or delete it.</p>]]></content:encoded>
</item>
<item><title>Second &amp; last</title><link>https://wp.example/2023/01/06/second/</link>
<guid>https://wp.example/2023/01/06/second/</guid><pubDate>Fri, 06 Jan 2023 10:00:00 GMT</pubDate>
<description>Only a description here.</description></item>
<item><title>From Ghost</title><link>https://wp.example/from-ghost/</link>
<guid isPermaLink="false">5f4a1b2c3d4e5f6a7b8c9d0e</guid><pubDate>Sat, 07 Jan 2023 10:00:00 GMT</pubDate>
<description><![CDATA[<p>Ghost's guids are no URIs.</p>]]></description></item>
</channel></rss>
"""
JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1", "title": "Micro",
    "home_page_url": "https://micro.example/", "language": "de",
    "authors": [{"name": "Mia", "url": "https://micro.example/mia"}],
    "items": [
        {"id": "https://micro.example/2024/06/01/note", "url": "https://micro.example/2024/06/01/note",
         "content_text": "Just a short note without a title.\n\nSecond paragraph.",
         "date_published": "2024-06-01T12:00:00+02:00", "tags": ["notes"]},
        {"id": "https://micro.example/2024/06/02/titled", "title": "Titled",
         "url": "https://micro.example/2024/06/02/titled",
         "content_html": "<p>Hi <b>there</b>, see <a href='/about'>me</a></p>",
         "summary": "Greeting", "date_published": "2024-06-02T12:00:00Z",
         "date_modified": "2024-06-03T12:00:00Z"},
    ],
}
FEEDS = {"atom": ("old.atom", ATOM), "rss": ("old.rss", RSS),
         "json": ("old.json", json.dumps(JSON_FEED))}


def title(entry) -> str:
    """The title a reader shows (feedparser keeps an HTML title's markup)."""
    return html.unescape(entry.title) if entry.title_detail.type == "text/html" else entry.title


@pytest.mark.parametrize("fmt", sorted(FEEDS))
def test_a_feed_moves_with_its_ids(fmt, tmp_path, make_app):
    name, text = FEEDS[fmt]
    old = write(tmp_path, name, text)
    items = tmp_path / "items"
    items.mkdir()
    count = len(feedparser.parse(text).entries) if fmt != "json" else 2
    code, output = invoke("import", "--feed", "--items", str(items), str(old))
    assert code == 0 and f"{count} imported" in output, output
    assert all(path.suffix == ".html" for path in items.iterdir())

    # Served in the same format, the moved feed carries every entry's id, title and date as
    # the old one did: a reader subscribed to the old feed sees no entry twice.
    new = make_app(items).test_client().get(f"/feed.{fmt}").data
    if fmt == "json":
        old_entries = {(i["id"], i["date_published"][:10]) for i in JSON_FEED["items"]}
        new_entries = {(i["id"], i["date_published"][:10]) for i in json.loads(new)["items"]}
        assert new_entries == old_entries
    else:
        before, after = feedparser.parse(text), feedparser.parse(new)
        assert {(e.id, title(e), e.published_parsed[:6]) for e in after.entries} == \
            {(e.id, title(e), (e.get("published_parsed") or e.updated_parsed)[:6])
             for e in before.entries}

    again = invoke("import", "--feed", "--items", str(items), str(old))[1]
    assert f"0 imported, {count} already there" in again
    checks_clean(items)


def test_feed_entries_keep_link_dates_authors_tags_and_content(tmp_path):
    old = write(tmp_path, "old.atom", ATOM)
    items = tmp_path / "items"
    items.mkdir()
    invoke("import", "--feed", "--items", str(items), str(old))
    meta, body = front_matter(items / "2024-05-01-tom-and-jerry.html")
    assert meta["title"] == "Tom & Jerry <b>"
    assert meta["link"] == "https://old.example/2024/05/01/tom-and-jerry/"
    # Dates as written, zone and all: the post's day is 1 May where it was written.
    assert meta["date"] == datetime(2024, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-7)))
    assert meta["updated"] == datetime(2024, 5, 2, 15, 0, tzinfo=timezone.utc)
    assert meta["authors"] == [{"name": "Ada Brennan", "email": "ada@old.example"}]
    assert meta["tags"] == ["Cartoons", "C++"] and meta["summary"] == "The chase, summed up."
    assert meta["lang"] == "en" and meta["source_feed"] == str(old.resolve())
    assert "<em>chase</em>" in body and 'src="https://old.example/img/cat.png"' in body
    assert "<script>" not in body
    second, _ = front_matter(items / "2024-04-01-second.html")
    assert second["author"] == "Feed Author"  # the feed's author, as its readers saw it


# -- URLs, and sources that cannot be imported -----------------------------------------------

@pytest.fixture
def web_server(tmp_path):
    """A local web server over a folder: the machine has no network, nor needs one."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_import_from_urls_and_one_line_errors(tmp_path, web_server):
    root, url = web_server
    write(root, "news/cranes.html", ARTICLE.replace(
        '<link rel="canonical" href="https://news.example.com/2024/03/harbour-cranes-return">',
        ""))
    write(root, "feed.xml", RSS)
    write(root, "scan.pdf", "%PDF-1.4 not a page")
    items = tmp_path / "items"
    items.mkdir()
    result = run("import", "--items", str(items), f"{url}news/cranes.html",
                 f"{url}missing.html", str(tmp_path / "nowhere.html"), f"{url}scan.pdf",
                 f"{url}feed.xml")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert errors == [
        f"{url}missing.html: error: the server answered 404 File not found",
        f"{tmp_path / 'nowhere.html'}: error: no such file",
        f"{url}scan.pdf: error: not a saved page: import reads HTML and plain-text pages "
        "(.html, .htm, .txt), and feeds with --feed",
        f"{url}feed.xml: error: is a feed, not a page: import it with --feed",
    ]
    meta, body = front_matter(only_file(items))
    assert meta["source_url"] == f"{url}news/cranes.html" and "canonical_url" not in meta
    assert meta["id"].startswith("urn:uuid:")  # no canonical URL: a content id
    assert f"]({url}images/cranes.jpg)" in body  # relative to where it was fetched
    assert "1 imported" in result.stdout

    feed = run("import", "--feed", "--items", str(items), f"{url}feed.xml")
    assert feed.returncode == 0 and "3 imported" in feed.stdout, feed.stderr
    again = run("import", "--items", str(items), f"{url}news/cranes.html")
    assert "0 imported, 1 already there" in again.stdout
    checks_clean(items)


def test_bad_feeds_are_one_line_errors(tmp_path):
    broken = write(tmp_path, "broken.xml", "<rss><channel><item><title>x</ti")
    not_json = write(tmp_path, "x.json", '{"version": "1", "items": []}')
    items = tmp_path / "items"
    items.mkdir()
    code, output = invoke("import", "--feed", "--items", str(items), str(broken), str(not_json))
    assert code == 1
    assert f"{broken}: error: not a feed" in output
    assert f"{not_json}: error: not a JSON Feed: no jsonfeed.org `version` and `items`" in output


def test_a_command_run_in_process_gives_the_log_back(tmp_path):
    """`import` mutes feedsvc's log while it runs; a serve or a test in the same process after
    it still hears every warning."""
    logger = logging.getLogger("feedsvc")
    before = logger.level
    items = tmp_path / "items"
    items.mkdir()
    invoke("import", "--feed", "--items", str(items), str(write(tmp_path, "x.xml", "<rss/>")))
    assert logger.level == before


# -- Markdown from plain text ----------------------------------------------------------------

_LINE = st.text(alphabet="ab Z*_`[]<>&#;-+=1.)!|~\\'\"", min_size=1, max_size=30).filter(str.strip)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_LINE, min_size=1, max_size=3), min_size=1, max_size=4))
def test_plain_text_becomes_markdown_with_the_same_words(blocks):
    text = "\n\n".join("\n".join(lines) for lines in blocks)
    settings = Settings()
    as_text = parse_item("x.txt", f"Title\n\n{text}".encode(), settings, 0)
    markdown = markdown_paragraphs(as_text.body)
    imported = parse_item("x.md", f"---\ntitle: Title\n---\n{markdown}".encode(), settings, 0)
    assert words(content_html(imported)) == words(content_html(as_text))


def test_a_blog_moving_on_its_own_domain_keeps_its_urls(tmp_path, make_app):
    old = write(tmp_path, "old.rss", RSS)
    config = write(tmp_path, "feedsvc.toml", 'base_url = "https://wp.example/"\n')
    items = tmp_path / "items"
    items.mkdir()
    code, output = invoke("import", "--feed", "--config", str(config), "--items", str(items),
                          str(old))
    assert code == 0, output
    meta, _ = front_matter(items / "2023-01-05-hello-world.html")
    assert meta["url"] == "/2023/01/05/hello-world/"
    app = make_app(items, base_url="https://wp.example/")
    before = {e.link for e in feedparser.parse(RSS).entries}
    after = feedparser.parse(app.test_client().get("/feed.rss").data)
    assert {e.link for e in after.entries} == before  # every link and bookmark still works
    assert app.test_client().get("/2023/01/05/hello-world/").status_code == 200
