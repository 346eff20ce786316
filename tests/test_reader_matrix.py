"""Reader matrix: real feed consumers read the real `feedsvc serve` and must show what we wrote.

For each consumer and each format it reads, on a fresh items folder and server:

1. it shows exactly the five posts: the count, each title exactly as written in the front
   matter, each link (`<server>/items/<slug>`), each published date;
2. consumers that do conditional GET themselves: an unchanged feed, asked again with the
   validators the consumer kept, is answered 304 (so step 3 really is a conditional poll);
3. a new post dated the same day as the newest one (date-only, so both are midnight UTC) is
   written; once a plain GET of the feed shows it, the consumer polls again its own way and
   must show it. That is the case a Last-Modified taken from item dates gets wrong: newsboat
   (libcurl, CURLOPT_TIMECONDITION) sends If-Modified-Since and libcurl throws away a 200
   whose Last-Modified is not newer than that, so the new post would never be seen.

Consumers, how each is driven, and the formats it reads (none of the XML-only ones reads JSON
Feed, so only reader gets /feed.json):

- feedparser: `feedparser.parse(url, etag=..., modified=...)`; Atom, RSS.
- feedparser-ims-only: the same with `modified=` alone, as pollers that keep only
  Last-Modified do (what libcurl's time condition amounts to); Atom, RSS.
- reader (lemon24/reader): add_feed, update_feeds, get_entries; Atom, RSS, JSON Feed.
- newsboat 2.21: `newsboat -x reload` with its own HOME, config and cache in tmp_path, then
  its SQLite cache, and at the end its real article list in tmux; Atom, RSS.
- sfeed: the feed's bytes on stdin, TSV out; Atom, RSS.
- Perl XML::Feed: tests/readers/xml_feed.pl, the feed's bytes on stdin; Atom, RSS.
- npm rss-parser: tests/readers/rss_parser.js, installed into a temporary folder; Atom, RSS.

Every consumer that is missing skips with the reason.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import urllib.request
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from conftest import wait_for, write

READERS = Path(__file__).with_name("readers")
RSS_PARSER = "rss-parser@3.13.0"

# (slug = file name, title exactly as a reader must show it, published date)
POSTS = [
    ("tom-and-jerry", "Tom & Jerry <b>not bold</b>", date(2026, 1, 1)),
    ("quotes", "“Quotes” and 'apostrophes' & \"double\"", date(2026, 1, 2)),
    ("emoji", "Emoji 🎉 party", date(2026, 1, 3)),
    ("hebrew", "עברית: שלום עולם", date(2026, 1, 4)),
    ("plain", "Plain title", date(2026, 1, 5)),
]
# No `updated:` keys, so published == updated: the date check holds whichever a consumer reads.
# Same day as the newest post, date-only: the feed's newest item date does not change.
NEW_POST = ("same-day", "Second post of the day", date(2026, 1, 5))


def write_post(folder: Path, slug: str, title: str, published: date) -> None:
    # A JSON string is a YAML double-quoted scalar: quotes, `&`, `<` and `:` survive as is.
    write(folder, f"{slug}.md", f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\n"
                                f"date: {published.isoformat()}\n---\nBody of {slug}.\n")


@dataclass(frozen=True)
class Shown:
    """One entry as the consumer shows it."""

    title: str
    link: str
    published: datetime  # aware, UTC


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def assert_shows(shown: list[Shown], server, posts, context: str = "") -> None:
    expected = {server.url + "items/" + slug: (title, datetime(*day.timetuple()[:3],
                                                                 tzinfo=timezone.utc))
                for slug, title, day in posts}
    context = f"{context}\nit shows {len(shown)}: {[s.title for s in shown]}"
    assert len(shown) == len(posts), context
    assert sorted(s.title for s in shown) == sorted(title for _, title, _ in posts), context
    assert all(s.link.startswith(server.url + "items/") for s in shown), (context, shown)
    assert {s.link: (s.title, s.published) for s in shown} == expected, context


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


LOG_LINE = re.compile(r'"(GET|HEAD) (\S+) HTTP/[\d.]+" (\d{3}) ')


class AccessLog:
    """The requests for one path, from the server's access log: ["GET 200", "GET 304"].

    A log line can land a little after its client has the response, so every request for the
    path goes through here (`get` for the test's own plain GETs, `during` for the consumer's
    polls): `during` first waits until all earlier ones are logged, then tells the consumer's
    apart."""

    def __init__(self, server, path: str):
        self.server, self.path = server, path
        self.known = 0  # requests for the path made so far

    def _all(self) -> list[str]:
        text = self.server.log.read_text(encoding="utf-8", errors="replace")
        return [f"{m[1]} {m[3]}" for m in LOG_LINE.finditer(text) if m[2] == self.path]

    def get(self):
        self.known += 1
        return self.server.get(self.path)

    def during(self, action):
        """`action()`'s result and the requests for the path it made."""
        wait_for(lambda: len(self._all()) >= self.known, timeout=5)
        start = len(self._all())
        result = action()
        wait_for(lambda: len(self._all()) > start, timeout=5)
        made = self._all()[start:]
        self.known = start + len(made)
        return result, made


class Consumer:
    """One subscription of one consumer to one feed URL."""

    name = ""
    formats: tuple[str, ...] = ()
    conditional = False  # keeps validators and sends them itself
    warmup_polls = 0  # polls it needs before it sends validators

    def __init__(self, url: str, workdir: Path, request):
        self.url, self.workdir = url, workdir

    def poll(self) -> list[Shown]:
        raise NotImplementedError

    def settle(self) -> None:
        """Checks after the warm-up polls, before the consumer sends validators."""

    def check_first(self, fmt: str) -> None:
        """Consumer-specific checks after the first poll."""

    def check_last(self, posts) -> None:
        """Consumer-specific checks after the final poll."""

    def diagnose(self) -> str:
        return ""

    def close(self) -> None:
        pass


class Feedparser(Consumer):
    name = "feedparser"
    formats = ("atom", "rss")  # feedparser 6.0 does not read JSON Feed (bozo: not XML)
    conditional = True
    send_etag = True

    def __init__(self, url, workdir, request):
        super().__init__(url, workdir, request)
        self.feedparser = pytest.importorskip("feedparser")
        self.etag = self.modified = None
        self.shown: list[Shown] = []
        self.title_types: dict[str, str] = {}

    def poll(self):
        result = self.feedparser.parse(self.url, etag=self.etag if self.send_etag else None,
                                       modified=self.modified)
        if result.status == 304:
            return self.shown  # nothing new: an application keeps showing what it has
        assert result.status == 200 and not result.bozo, (result.status,
                                                          result.get("bozo_exception"))
        self.etag, self.modified = result.get("etag"), result.get("modified")
        self.title_types = {e.link: e.title_detail.type for e in result.entries}
        self.shown = [Shown(e.title, e.link, utc(calendar.timegm(e.published_parsed)))
                      for e in result.entries]
        return self.shown

    def check_first(self, fmt):
        if fmt == "atom":
            # feedsvc's Atom titles are text (no type attribute, or type="text"; RFC 4287
            # section 3.1.1), so feedparser reports them as such.
            assert set(self.title_types.values()) == {"text/plain"}, self.title_types
        else:
            # RSS 2.0 cannot say whether a title is text or HTML. feedparser guesses from the
            # decoded characters: "Tom & Jerry <b>not bold</b>" looks like markup, so it
            # reports that one as text/html (the string itself is unchanged: <b> is on its
            # sanitizer's allow-list). An application that honours title_detail.type renders
            # "not bold" in bold. No encoding of RSS can prevent it (after XML parsing, &lt;
            # and &#x3C; are the same character); it is the RSS ambiguity the RSS Advisory
            # Board describes, and Atom (above) does not have it.
            assert self.title_types == {
                link: "text/html" if "<b>" in title else "text/plain"
                for link, title in ((s.link, s.title) for s in self.shown)}, self.title_types


class FeedparserModifiedOnly(Feedparser):
    """feedparser as used by pollers that keep only Last-Modified: If-Modified-Since alone,
    like libcurl's time condition. Then Last-Modified alone must tell a new post apart."""

    name = "feedparser-ims-only"
    send_etag = False


class Reader(Consumer):
    name = "reader"
    formats = ("atom", "rss", "json")
    conditional = True

    def __init__(self, url, workdir, request):
        super().__init__(url, workdir, request)
        reader_lib = pytest.importorskip("reader")
        self.reader = reader_lib.make_reader(":memory:")
        self.reader.add_feed(url)

    def poll(self):
        # scheduled=False polls now, like a user's "refresh": reader 3's default
        # (scheduled=True) skips a feed until its update_after, the next full hour.
        self.reader.update_feeds(scheduled=False)
        feed = self.reader.get_feed(self.url)
        assert feed.last_exception is None, feed.last_exception
        return [Shown(e.title, e.link, e.published)
                for e in self.reader.get_entries(feed=self.url)]

    def close(self):
        self.reader.close()


class Newsboat(Consumer):
    """newsboat 2.21 without a terminal: `-x reload` downloads (libcurl) and stores items in
    its SQLite cache, whose rss_item rows are what its article list shows.

    What a user sees is the stored title: for a title of type "text" (every RSS title, and
    an Atom title with no type attribute or type="text", which is what feedsvc writes)
    newsboat stores the XML-decoded text as is (rssparser.cpp, set_item_title: only types
    html/xhtml go through its HTML renderer; RSS titles are always "text"), and the article
    list prints it after utf8_to_locale and soft-hyphen removal only. `check_last` confirms
    it on its real screen in tmux. JSON Feed: 2.21 says "XML root node is NULL".

    Items are keyed by guid across the whole cache, so each subscription gets its own cache
    (the Atom and RSS entries of one server share their ids).
    """

    name = "newsboat"
    formats = ("atom", "rss")
    conditional = True
    # newsboat saves a feed's Last-Modified and ETag with an UPDATE of its rss_feed row, which
    # the first download of a new feed runs before that row exists: the validators are kept
    # from the second download on (its log says "lastmodified old: 0" on both).
    warmup_polls = 1

    def __init__(self, url, workdir, request):
        super().__init__(url, workdir, request)
        if shutil.which("newsboat") is None:
            pytest.skip("newsboat is not installed (Debian package 'newsboat')")
        self.dir = workdir / "newsboat"
        home = self.dir / "home"
        home.mkdir(parents=True)
        (self.dir / "urls").write_text(url + "\n", encoding="utf-8")
        (self.dir / "config").write_text("download-timeout 10\n", encoding="utf-8")
        self.cache = self.dir / "cache.db"
        self.log = self.dir / "newsboat.log"
        # Never the real ~/.newsboat or XDG folders; a UTF-8 locale, as a user's terminal.
        self.env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                    "XDG_DATA_HOME": str(home / ".local/share"),
                    "XDG_CACHE_HOME": str(home / ".cache"), "LC_ALL": "C.UTF-8", "TZ": "UTC"}
        self.command = ["newsboat", "-u", str(self.dir / "urls"), "-c", str(self.cache),
                        "-C", str(self.dir / "config")]

    def poll(self):
        run = subprocess.run([*self.command, "-l", "6", "-d", str(self.log), "-x", "reload"],
                             env={**os.environ, **self.env}, cwd=self.dir, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode == 0, (run.stdout, run.stderr)
        with closing(sqlite3.connect(self.cache)) as db:
            rows = db.execute("SELECT title, url, pubDate FROM rss_item "
                              "WHERE feedurl = ? AND deleted = 0", (self.url,)).fetchall()
        return [Shown(title, link, utc(published)) for title, link, published in rows]

    def settle(self):
        with closing(sqlite3.connect(self.cache)) as db:
            modified, etag = db.execute("SELECT lastmodified, etag FROM rss_feed "
                                        "WHERE rssurl = ?", (self.url,)).fetchone()
        assert modified and etag, "newsboat kept no validators"

    def diagnose(self):
        if not self.log.exists():
            return ""
        wanted = ("handle_headers", "lastmodified", "USERERROR", "ERROR")
        lines = [line for line in self.log.read_text(errors="replace").splitlines()
                 if any(word in line for word in wanted)]
        return "\n".join(lines[-12:])

    def check_last(self, posts):
        tmux = shutil.which("tmux")
        if tmux is None:
            return  # the SQLite rows above are what the list shows (see the class docstring)
        base = [tmux, "-u", "-S", str(self.dir / "tmux.sock")]
        inner = shlex.join(["env", *(f"{k}={v}" for k, v in self.env.items()), *self.command])
        # No TMUX: a test run inside tmux must not nest into the user's server.
        environment = {**{k: v for k, v in os.environ.items() if k != "TMUX"}, **self.env}
        subprocess.run([*base, "new-session", "-d", "-x", "220", "-y", "40", inner],
                       env=environment, check=True, timeout=10)

        def screen() -> str:
            return subprocess.run([*base, "capture-pane", "-p"], env=environment,
                                  capture_output=True, text=True, timeout=10).stdout

        try:
            assert wait_for(lambda: "Your feeds" in screen(), timeout=15), screen()
            subprocess.run([*base, "send-keys", "Enter"], env=environment, check=True,
                           timeout=10)  # open the one feed: its article list
            assert wait_for(lambda: "Articles in feed" in screen(), timeout=15), screen()
            text = screen()
        finally:
            subprocess.run([*base, "kill-server"], env=environment, capture_output=True,
                           timeout=10)
        lines = [line.rstrip() for line in text.splitlines()]
        assert f"({len(posts)} unread, {len(posts)} total)" in lines[0], text
        for _, title, day in posts:  # a row: "   1 N  Jan 05    25   Plain title"
            rows = [line for line in lines[1:] if line.endswith(" " + title)]
            assert len(rows) == 1 and f" {day:%b %d} " in rows[0], (title, text)


class Sfeed(Consumer):
    """sfeed has no network code (sfeed_update fetches with plain `curl`, no validators), so
    its poll is a plain refetch piped to `sfeed`. TSV: timestamp, title, link, ..."""

    name = "sfeed"
    formats = ("atom", "rss")  # an RSS/Atom parser: no JSON Feed

    def __init__(self, url, workdir, request):
        super().__init__(url, workdir, request)
        if shutil.which("sfeed") is None:
            pytest.skip("sfeed is not installed (Debian package 'sfeed')")

    def poll(self):
        run = subprocess.run(["sfeed"], input=fetch(self.url), capture_output=True,
                             timeout=10)
        assert run.returncode == 0, run.stderr
        rows = [line.split("\t") for line in run.stdout.decode("utf-8").splitlines()]
        return [Shown(row[1], row[2], utc(int(row[0]))) for row in rows]


class XmlFeed(Consumer):
    """Perl's XML::Feed over the feed bytes (it has no conditional GET: XML::Feed->parse(URI)
    is a plain LWP GET), so its poll is a plain refetch."""

    name = "perl-xml-feed"
    formats = ("atom", "rss")  # XML::Feed 0.63 reads no JSON Feed
    script = READERS / "xml_feed.pl"
    format_names = {"atom": "Atom", "rss": "RSS 2.0"}

    def __init__(self, url, workdir, request):
        super().__init__(url, workdir, request)
        self.format = self.format_names[url.rsplit(".", 1)[1]]
        if shutil.which("perl") is None:
            pytest.skip("perl is not installed")
        if subprocess.run(["perl", "-MXML::Feed", "-e", "1"], capture_output=True).returncode:
            pytest.skip("Perl XML::Feed is not installed (Debian package 'libxml-feed-perl')")

    def poll(self):
        run = subprocess.run(["perl", str(self.script)], input=fetch(self.url),
                             capture_output=True, timeout=20)
        assert run.returncode == 0, run.stderr
        header, *lines = run.stdout.decode("utf-8").splitlines()
        assert header == f"# {self.format}", header
        rows = [line.split("\t") for line in lines]
        return [Shown(row[0], row[1], utc(int(row[2]))) for row in rows]


@pytest.fixture(scope="module")
def rss_parser_modules(tmp_path_factory) -> Path:
    """npm rss-parser, installed once per run into a temporary folder (outside the project)."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("node and npm are needed for rss-parser")
    target = tmp_path_factory.mktemp("npm")
    command = [npm, "install", "--prefix", str(target), "--no-save", "--no-package-lock",
               "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error",
               RSS_PARSER]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install {RSS_PARSER} took more than 120 s")
    if run.returncode != 0:
        pytest.skip(f"npm install {RSS_PARSER} failed: {' '.join(run.stderr.split())[:300]}")
    return target / "node_modules"


class RssParser(Consumer):
    """npm rss-parser's parseURL: its own plain GET (it keeps no validators), so its poll is
    a plain refetch."""

    name = "rss-parser"
    formats = ("atom", "rss")  # an XML parser: no JSON Feed
    script = READERS / "rss_parser.js"

    def __init__(self, url, workdir, request):
        super().__init__(url, workdir, request)
        self.modules = request.getfixturevalue("rss_parser_modules")

    def poll(self):
        run = subprocess.run(["node", str(self.script), self.url], capture_output=True,
                             env={**os.environ, "NODE_PATH": str(self.modules)}, timeout=30)
        assert run.returncode == 0, run.stderr
        items = json.loads(run.stdout.decode("utf-8"))
        return [Shown(item["title"], item["link"],
                      datetime.fromisoformat(item["isoDate"].replace("Z", "+00:00")))
                for item in items]


CONSUMERS = [Feedparser, FeedparserModifiedOnly, Reader, Newsboat, Sfeed, XmlFeed, RssParser]
CASES = [pytest.param(consumer, fmt, id=f"{consumer.name}-{fmt}")
         for consumer in CONSUMERS for fmt in consumer.formats]


@pytest.mark.parametrize(("consumer", "fmt"), CASES)
def test_consumer_shows_the_posts_and_a_new_same_day_post(consumer, fmt, serve, tmp_path,
                                                          request):
    items = tmp_path / "items"
    for post in POSTS:
        write_post(items, *post)
    server = serve(items)
    path = f"/feed.{fmt}"
    log = AccessLog(server, path)
    session = consumer(server.url + path[1:], tmp_path, request)
    request.addfinalizer(session.close)

    shown, _ = log.during(session.poll)
    assert_shows(shown, server, POSTS, f"{consumer.name} {fmt}: first poll")
    session.check_first(fmt)

    if session.conditional:
        for _ in range(session.warmup_polls):
            log.during(session.poll)
        session.settle()
        shown, exchange = log.during(session.poll)
        assert exchange == ["GET 304"], (exchange, session.diagnose())
        assert_shows(shown, server, POSTS, f"{consumer.name} {fmt}: after a 304")

    before = log.get()[1]
    write_post(items, *NEW_POST)
    assert wait_for(lambda: NEW_POST[1].encode() in log.get()[2], timeout=10)
    after = log.get()[1]

    shown, exchange = log.during(session.poll)
    context = (f"{consumer.name} {fmt}: poll after a new post dated {NEW_POST[2]}: requests "
               f"{exchange}; feed Last-Modified {before['Last-Modified']} -> "
               f"{after['Last-Modified']}, ETag {before['ETag']} -> {after['ETag']}\n"
               f"{session.diagnose()}")
    assert exchange == ["GET 200"], context
    assert_shows(shown, server, POSTS + [NEW_POST], context)
    session.check_last(POSTS + [NEW_POST])


@pytest.mark.filterwarnings("ignore::UserWarning:feedfinder2")  # bs4 guessing its parser
def test_feed_finder_offers_only_subscriptions_on_an_item_page(serve, tmp_path):
    """feedfinder2, as feed-discovering bots use it, checking every candidate link: an item
    page offers the site's feeds, never the item's own one-entry documents."""
    feedfinder2 = pytest.importorskip("feedfinder2")
    items = tmp_path / "items"
    for post in POSTS:
        write_post(items, *post)
    server = serve(items)
    found = feedfinder2.find_feeds(server.url + "items/plain", check_all=True)
    assert set(found) == {server.url + "feed.atom", server.url + "feed.rss"}, found
