"""Two `feedsvc serve` instances behind nginx's proxy_cache, configured by exactly what
`feedsvc deploy nginx` prints (README: "Behind a caching proxy").

Debian's nginx runs as the current user with a temporary prefix; the test skips, saying why,
where it cannot. Through it a reader must always get a whole, valid document in the coding
its Content-Encoding names, from the cache when it can; and keep getting one while an
instance, then both, are killed.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import brotli
import feedparser
import pytest
from click.testing import CliRunner

from feedsvc.cli import main as feedsvc
from feedsvc.responses import MIN_COMPRESS_BYTES, STALE_IF_ERROR

from conftest import free_port, stop_process, wait_for, write

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FEEDS = ("/feed.atom", "/feed.rss", "/feed.json")
# A robots.txt is too small to be worth compressing: the instances send it as it is.
DOCUMENTS = (*FEEDS, "/items/winter-solstice", "/robots.txt")
NEW = b"Seen through the proxy"  # the title of the item the test adds
MAX_AGE = 1  # seconds: feed_max_age and page_max_age of the instances, so copies expire fast
# Accept-Encoding as clients send it (None: no header at all) -> the coding nginx must serve.
CODINGS = [
    ("gzip", "gzip"), ("br", "br"), (None, None), ("identity", None),
    ("gzip, deflate, br", "br"), ("gzip, deflate", "gzip"), ("BR", "br"),
    ("br;q=0, gzip", "gzip"), ("gzip;q=0", None), ("br;q=0.0, gzip;q=0", None),
    ("gzip;q=0.5, br;q=0.001", "br"), ("br ; q=1.000", "br"), ("*", None),
    ("x-gzip", None), ("brotli, gzipped", None), ("deflate", None), ("br;q=nope", None),
]


# -- the headers a cache in front is given -------------------------------------------------

def test_feeds_and_pages_let_a_cache_in_front_serve_stale_archives_stay_immutable(
        make_app, items_dir):
    client = make_app(items_dir, feed_max_age=60, page_max_age=30, feed_size=1,
                      archive_max_age=7200).test_client()
    stale = f"stale-if-error={STALE_IF_ERROR}"
    for path in ("/feed.atom", "/feed.json", "/items/winter-solstice.atom"):
        assert client.get(path).headers["Cache-Control"] == \
            f"public, max-age=60, stale-while-revalidate=60, {stale}"
    for path in ("/", "/items/winter-solstice", "/tags/", "/sitemap.xml"):
        assert client.get(path).headers["Cache-Control"] == \
            f"public, max-age=30, stale-while-revalidate=30, {stale}"
    archive = client.get("/archive/1.atom")
    assert archive.status_code == 200
    assert archive.headers["Cache-Control"] == "public, max-age=7200, immutable"


def test_deploy_nginx_takes_the_sites_settings_and_refuses_what_would_break_the_config(
        tmp_path, monkeypatch, items_dir):
    monkeypatch.chdir(tmp_path)  # where items_dir is ./items, the default
    for key in [k for k in os.environ if k.startswith("FEEDSVC_")]:
        monkeypatch.delenv(key)
    write(tmp_path, "feedsvc.toml", 'base_url = "https://news.example.net/blog/"\n'
                                    "feed_max_age = 120\n")
    runner = CliRunner()
    result = runner.invoke(feedsvc, ["deploy", "nginx"])
    assert result.exit_code == 0, result.output
    assert "server_name news.example.net;" in result.output
    assert "server 127.0.0.1:8000;" in result.output and "listen 80;" in result.output
    assert "max-age=120, stale-while-revalidate=120" in result.output
    assert "trust_forwarded = 1" in result.output
    for option, value in (("--upstream", "127.0.0.1"), ("--upstream", "a;b:80"),
                          ("--server-name", "x; include /etc/passwd"),
                          ("--cache-dir", "/tmp/a b"), ("--listen", "80 }")):
        result = runner.invoke(feedsvc, ["deploy", "nginx", option, value])
        assert result.exit_code == 2 and value in result.output, (option, value)


# -- the real thing ------------------------------------------------------------------------

def nginx_command(prefix: Path, *args: str) -> list[str]:
    """The command running nginx under `prefix` with its nginx.conf, logging errors there."""
    return [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
            "-e", str(prefix / "error.log"), *args]


def main_conf(prefix: Path, include: Path) -> str:
    """nginx.conf for a temporary prefix; the http block holds what Debian's would, here just
    `include`, plus a log of what the cache did with each request, background ones too."""
    user = ""
    if os.geteuid() == 0:  # else the workers would run as nobody, locked out of the prefix
        import grp
        import pwd

        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    temp = " ".join(f"{kind}_temp_path {prefix / kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"};
events {{}}
http {{
    {temp}
    log_format cache "$request_uri $upstream_cache_status $upstream_status";
    access_log {prefix / "access.log"} cache;
    log_subrequest on;
    include {include};
}}
"""


class Proxy:
    """Debian's nginx in the foreground under `prefix`, with `config` in its http block."""

    def __init__(self, prefix: Path, config: Path, port: int):
        self.prefix, self.port = prefix, port
        self.access_log = prefix / "access.log"
        write(prefix, "nginx.conf", main_conf(prefix, config))
        tested = subprocess.run(nginx_command(prefix, "-t"), capture_output=True, text=True,
                                timeout=30)
        assert tested.returncode == 0, tested.stderr + config.read_text()
        self.process = subprocess.Popen(nginx_command(prefix), stdout=subprocess.DEVNULL,
                                        stderr=(prefix / "stderr.log").open("wb"))
        wait_for(self.listening, what=lambda: f"nginx to listen: {self.errors()}")

    def listening(self) -> bool:
        assert self.process.poll() is None, f"nginx exited: {self.errors()}"
        try:
            http.client.HTTPConnection("127.0.0.1", self.port, timeout=2).connect()
            return True
        except OSError:
            return False

    def errors(self) -> str:
        return "".join(path.read_text() for path in (self.prefix / "error.log",
                                                     self.prefix / "stderr.log")
                       if path.exists())

    def stop(self) -> None:
        stop_process(self.process)  # the master stops its workers, then exits


@pytest.fixture
def start_nginx(tmp_path):
    """Starts nginx on a config file; skips, saying why, where nginx cannot run at all."""
    if not os.access(NGINX, os.X_OK):
        pytest.skip(f"nginx is not installed at {NGINX} (apt install nginx)")
    prefix = tmp_path / "nginx"
    write(prefix, "nginx.conf", main_conf(prefix, write(prefix, "empty.conf", "")))
    tried = subprocess.run(nginx_command(prefix, "-t"), capture_output=True, text=True,
                           timeout=30)
    if tried.returncode != 0:
        pytest.skip(f"nginx cannot run here as this user: {tried.stderr.strip()}")
    started = []

    def start(config: Path, port: int) -> Proxy:
        started.append(Proxy(prefix, config, port))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def fetch(port: int, path: str, accept_encoding: str | None = None):
    """(status, headers, body) of a GET sending exactly the Accept-Encoding given."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", "feeds.example.org")
        if accept_encoding is not None:
            connection.putheader("Accept-Encoding", accept_encoding)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def decoded(headers, body: bytes) -> bytes:
    coding = headers.get("Content-Encoding")
    if coding == "gzip":
        return gzip.decompress(body)
    if coding == "br":
        return brotli.decompress(body)
    assert coding is None, coding
    return body


def valid(path: str, body: bytes) -> bool:
    """The whole document, as a reader's parser sees it."""
    if path.endswith(".json"):
        return bool(json.loads(body)["items"])
    if path.startswith("/items/"):
        return body.rstrip().endswith(b"</html>")
    if path == "/robots.txt":
        return b"Sitemap: " in body
    feed = feedparser.parse(body)
    return not feed.bozo and bool(feed.entries)


def kill_9(server) -> None:
    """SIGKILL the instance's whole process tree: the granian worker would outlive its
    parent, still listening."""
    tree, stack = [], [server.process.pid]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as file:
                stack.extend(int(child) for child in file.read().split())
        except FileNotFoundError:
            pass
    for pid in tree:
        os.kill(pid, signal.SIGKILL)
    server.process.wait()


def test_two_instances_behind_nginx_never_hand_a_reader_a_broken_feed(
        serve, start_nginx, tmp_path, items_dir):
    write(tmp_path, "feedsvc.toml",  # read by both instances and by `deploy`: one site
          f'base_url = "https://feeds.example.org/"\nfeed_max_age = {MAX_AGE}\n'
          f"page_max_age = {MAX_AGE}\ntrust_forwarded = 1\n")
    instances = [serve(items_dir), serve(items_dir)]
    port = free_port()
    printed = subprocess.run(
        [sys.executable, "-m", "feedsvc", "deploy", "nginx", "--items", str(items_dir),
         *(arg for server in instances for arg in ("--upstream", f"127.0.0.1:{server.port}")),
         "--listen", f"127.0.0.1:{port}", "--cache-dir", str(tmp_path / "cache" / "nginx")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")})
    assert printed.returncode == 0, printed.stderr
    assert "server_name feeds.example.org;" in printed.stdout
    cache = start_nginx(write(tmp_path, "feedsvc-nginx.conf", printed.stdout), port)

    # Every document whole, and byte for byte what the instances serve.
    identity = {}
    for path in DOCUMENTS:
        status, headers, body = fetch(port, path)
        assert status == 200 and valid(path, body), (path, status)
        assert body == instances[0].get(path)[2] == instances[1].get(path)[2], path
        identity[path] = body

    every_answer_in_the_coding_it_names(port, identity)

    # A repeat comes from the cache; past max-age the copy is revalidated with its
    # validators and the instance answers 304 (in the background: meanwhile the reader gets
    # the copy, STALE).
    wait_for(lambda: fetch(port, "/feed.atom", "gzip")[1]["X-Cache-Status"] == "HIT")
    wait_for(lambda: fetch(port, "/feed.rss", "br")[0] == 200 and
             "/feed.rss REVALIDATED 304" in cache.access_log.read_text(),
             what=lambda: f"a 304 revalidation in {cache.access_log.read_text()[-2000:]}")

    # One instance killed: every request still gets the whole feed. `?reader=N` misses the
    # cache: each goes to an instance. The first request nginx sends to the dead one is
    # retried on the other (the log shows both upstream statuses, `502, 200`); after that
    # nginx leaves the dead one out for a while.
    logged = len(cache.access_log.read_text())
    kill_9(instances[0])
    for n in range(40):
        path, (accept, _) = FEEDS[n % len(FEEDS)], CODINGS[n % len(CODINGS)]
        for asked in (path, f"{path}?reader={n}"):
            status, headers, body = fetch(port, asked, accept)
            assert status == 200 and decoded(headers, body) == identity[path], (asked, status)
    assert ", 200" in cache.access_log.read_text()[logged:]

    # A new item reaches readers through the cache once the copy expires; each coding is a
    # copy of its own, refreshed on its own.
    write(items_dir, "2025-12-01-behind-the-proxy.md",
          "---\ntitle: Seen through the proxy\n---\n\nHello.\n")
    wait_for(lambda: all(NEW in body for body in current_feeds(port)),
             what="the new item in every feed and coding through nginx")

    # Both instances gone: every feed is still served, whole and current, from copies older
    # than max-age plus stale-while-revalidate, which only stale-if-error and
    # proxy_cache_use_stale cover. (The clock bounds how long readers keep reading; nothing
    # here waits for an event by time.)
    kill_9(instances[1])
    beyond = time.monotonic() + 2 * MAX_AGE + 1
    wait_for(lambda: all(NEW in body for body in current_feeds(port)) and
             fetch(port, "/feed.atom", "br")[1]["X-Cache-Status"] == "STALE" and
             time.monotonic() > beyond,
             what="stale copies served past stale-while-revalidate with both instances down")



def every_answer_in_the_coding_it_names(port: int, identity: dict[str, bytes]) -> None:
    """Whatever a client sends, in whatever order, the body is in the coding its
    Content-Encoding names and decodes to the document: never a cached gzip body to a
    client that asked for br. Each Accept-Encoding is first sent for a URL of its own (a
    miss: the instance answers what nginx forwards), then for the shared, cached one."""
    for _ in range(2):
        for number, (accept, coding) in enumerate(CODINGS):
            for path in DOCUMENTS:
                expected = coding if len(identity[path]) >= MIN_COMPRESS_BYTES else None
                for asked in (f"{path}?accept={number}", path):
                    status, headers, body = fetch(port, asked, accept)
                    assert status == 200, (asked, accept)
                    assert headers.get("Content-Encoding") == expected, (asked, accept)
                    assert decoded(headers, body) == identity[path], (asked, accept)
                    assert not headers["ETag"].startswith("W/"), (asked, accept)
                    assert headers["Vary"] == "Accept-Encoding"


def current_feeds(port: int) -> list[bytes]:
    """Every feed in every coding through the proxy, each checked whole and valid."""
    bodies = []
    for path in FEEDS:
        for accept in ("gzip", "br", None):
            status, headers, body = fetch(port, path, accept)
            assert status == 200 and valid(path, decoded(headers, body)), (path, accept)
            bodies.append(decoded(headers, body))
    return bodies
