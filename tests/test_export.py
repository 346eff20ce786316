"""`feedsvc build`: the static export is what the live service answers, byte for byte, and a
second build rewrites only what changed.

Every test crawls or rebuilds for real: the export is compared with the app's own responses
(and with nginx serving it), and an incremental build with a fresh build of the same folder.
"""

from __future__ import annotations

import brotli
import fcntl
import gzip
import html
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest

from feedsvc.export import (LOCK, MANIFEST, TEMP_PREFIX, BuildError, build, compressible,
                            file_for, nginx_config)
from feedsvc.responses import MIN_COMPRESS_BYTES

from conftest import BASE_URL, free_port, wait_for, write
from jsonfeed import parse_json_feed

SMALL = {"feed_size": 3, "page_size": 4}  # archives and paged listings from a few items
FORMATS = ("atom", "rss", "json")
HEBREW = "עברית"  # a tag whose URL is percent-encoded, and whose file name is not


def corpus(folder: Path, count: int = 20) -> Path:
    """A small site with every kind of document: paged listings, site, tag and section
    archives, a tag in Hebrew, a page bundle with a picture, a section."""
    for n in range(count):
        tags = ["alpha"] + (["beta"] if n % 2 else []) + ([HEBREW] if n % 3 == 0 else [])
        write(folder, f"posts/{date(2024, 1, 1) + timedelta(days=n)}-post-{n}.md",
              f"---\ntitle: Post {n} & friends\ntags: [{', '.join(tags)}]\n"
              f"summary: The summary of post {n}.\n---\n\n" + f"Paragraph {n} of text. " * 20)
    write(folder, "notes/trip/index.md", "---\ntitle: Trip\ndate: 2024-02-01\n---\n\n"
          "The route: ![map](map.png)\n")
    (folder / "notes/trip/map.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    write(folder, "guides/_index.md", "---\ntitle: Guides\ndescription: How to.\n---\n")
    for n in range(4):
        write(folder, f"guides/guide-{n}.md",
              f"---\ntitle: Guide {n}\ndate: 2023-05-0{n + 1}\n---\n\n" + "Step one. " * 30)
    return folder


@pytest.fixture
def site(tmp_path):
    return corpus(tmp_path / "site")


def tree(out: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file of the export: its bytes, inode and mtime (a rewrite changes the inode)."""
    found = {}
    for path in out.rglob("*"):
        if path.is_file() and path.name not in (MANIFEST, LOCK):
            stat = path.stat()
            found[path.relative_to(out).as_posix()] = (path.read_bytes(), stat.st_ino,
                                                       stat.st_mtime_ns)
    assert not [name for name in found if TEMP_PREFIX in name], "a temporary file was left"
    return found


def crawl(client, base: str = BASE_URL) -> dict[str, object]:
    """Every path the app links to, from the home page, the sitemap and robots.txt: each
    absolute URL under the base URL in any document (hrefs, feed and archive links, JSON's
    next_url, the sitemap's locs) -> the app's response."""
    seen: dict[str, object] = {}
    queue = ["/", "/sitemap.xml", "/robots.txt"]
    pattern = re.compile(re.escape(base) + r"[^\"'<>\s\\#]*")
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        response = seen[path] = client.get(path)
        if response.status_code != 200 or not compressible(response.content_type):
            continue
        for url in pattern.findall(response.get_data(as_text=True)):
            path = "/" + html.unescape(url)[len(base):]
            # A feed or archive in each format: the newest JSON archive is linked from none
            # (JSON Feed's next_url skips it, since the JSON feed holds its items).
            stem, _, fmt = path.rpartition(".")
            if fmt in FORMATS and re.search(r"(^|/)(feed|archive/\d+)$", stem):
                queue += [f"{stem}.{other}" for other in FORMATS]
            queue.append(path)
    return seen


def test_the_export_is_what_the_service_answers(make_app, site, tmp_path):
    app = make_app(site, hubs="https://hub.example.org/", **SMALL)
    out = tmp_path / "out"
    report = build(app, out)
    client = app.test_client()
    served = {path: response for path, response in crawl(client).items()
              if response.status_code == 200}
    # Everything is there: pages of three listings, archives of a tag and a section, the
    # Hebrew tag, the bundle's picture; and the crawl found the whole export, no more.
    for path in ("/?page=3", "/tags/beta?page=2", "/tags/alpha/archive/2.rss",
                 f"/tags/{quote(HEBREW)}/feed.atom", "/guides/archive/1.json",
                 "/items/trip/map.png", "/items/post-3.atom"):
        assert path in served, path
    files = tree(out)
    bases = {name for name in files if not name.endswith((".gz", ".br"))}
    assert bases == {file_for(path) for path in served} | {"404.html"}
    assert (out / f"tags/{HEBREW}/feed.atom").is_file()
    for path, response in served.items():
        body = files[file_for(path)][0]
        assert body == response.data, path
        coded = compressible(response.content_type) and len(body) >= MIN_COMPRESS_BYTES
        for coding, suffix, decompress in (("gzip", ".gz", gzip.decompress),
                                           ("br", ".br", brotli.decompress)):
            sibling = files.get(file_for(path) + suffix)
            assert (sibling is not None) == coded, (path, coding)
            if coded:
                assert decompress(sibling[0]) == body
                encoded = client.get(path, headers={"Accept-Encoding": coding})
                assert encoded.headers["Content-Encoding"] == coding
                assert sibling[0] == encoded.data, (path, coding)
    assert files["404.html"][0] == client.get("/no/such/page").data
    assert report.written == len(files) and report.unchanged == report.deleted == 0
    # The manifest says what to send with each file, for object storage.
    with closing(sqlite3.connect(out / MANIFEST)) as db:
        objects = {path: tuple(headers) for path, *headers in db.execute("SELECT * FROM objects")}
    assert set(objects) == set(files)
    for path, response in served.items():
        headers = [response.headers["Content-Type"], response.headers["Cache-Control"]]
        assert objects[file_for(path)] == (*headers, None), path
        for coding, suffix in (("gzip", ".gz"), ("br", ".br")):
            if file_for(path) + suffix in files:
                assert objects[file_for(path) + suffix] == (*headers, coding)


def incremental(make_app, site: Path, out: Path, tmp_path: Path, change,
                users: tuple[str, ...] = ()) -> tuple:
    """Build, `change(site)`, build again: the second build must leave OUT as a fresh build of
    the changed folder would (apart from the `users`' files in it), having written exactly the
    files whose bytes changed and deleted exactly those no longer made. Returns (report,
    written, deleted)."""
    app = make_app(site, **SMALL)
    build(app, out)
    before = {name: entry for name, entry in tree(out).items() if name not in users}
    change(site)
    app.extensions["feedsvc"].store.refresh()
    report = build(app, out)
    after = {name: entry for name, entry in tree(out).items() if name not in users}
    fresh = tmp_path / f"fresh-{len(list(tmp_path.glob('fresh-*')))}"
    build(make_app(site, **SMALL), fresh)
    assert {name: entry[0] for name, entry in after.items()} == \
        {name: entry[0] for name, entry in tree(fresh).items()}
    written = {name for name in after
               if name not in before or before[name][1:] != after[name][1:]}
    changed = {name for name in after if name not in before or before[name][0] != after[name][0]}
    assert written == changed  # an unchanged file keeps its inode: it was not rewritten
    deleted = set(before) - set(after)
    assert (report.written, report.deleted, report.unchanged) == \
        (len(written), len(deleted), len(after) - len(written))
    return report, written, deleted


def test_an_unchanged_folder_writes_nothing(make_app, site, tmp_path):
    report, written, deleted = incremental(make_app, site, tmp_path / "out", tmp_path,
                                           lambda folder: None)
    assert report.written == report.deleted == report.rendered == 0 and not written


def test_editing_one_item_rewrites_only_what_shows_it(make_app, site, tmp_path):
    def edit(folder):
        path = folder / "posts/2024-01-06-post-5.md"
        path.write_text(path.read_text().replace("Paragraph 5 of text.", "Paragraph five.", 1))

    report, written, deleted = incremental(make_app, site, tmp_path / "out", tmp_path, edit)
    bases = {name for name in written if not name.endswith((".gz", ".br"))}
    # Its page and documents; the feeds and archives carrying its content (the site's, its
    # tags'); nothing that shows only its title and summary, and no other item's page.
    assert bases == {"items/post-5.html", "items/post-5.atom", "items/post-5.json",
                     "archive/4.atom", "archive/4.rss", "archive/4.json",
                     "tags/alpha/archive/2.atom", "tags/alpha/archive/2.rss",
                     "tags/alpha/archive/2.json", "tags/beta/archive/1.atom",
                     "tags/beta/archive/1.rss", "tags/beta/archive/1.json"}
    assert not deleted
    assert report.rendered < 40  # of some 160 documents: the rest were not even rendered


def test_adding_an_item(make_app, site, tmp_path):
    def add(folder):
        write(folder, "posts/2024-03-01-new.md",
              "---\ntitle: Brand new\ntags: [gamma]\n---\nNew.\n")

    report, written, deleted = incremental(make_app, site, tmp_path / "out", tmp_path, add)
    assert {"items/new.html", "tags/gamma.html", "tags/gamma/feed.atom", "feed.atom",
            "index.html", "sitemap.xml", "tags/index.html"} <= written
    assert "archive/1.atom" not in written  # archives are counted from the oldest
    assert not deleted


def test_deleting_an_item_deletes_its_files_and_never_a_users(make_app, site, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    users = {"CNAME": b"feeds.example.org\n", "items/keep.txt": b"mine",
             ".well-known/security.txt": b"Contact: x", "tags/gone/notes.txt": b"kept"}
    for name, data in users.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)

    def delete(folder):
        (folder / "notes/trip/index.md").unlink()  # the bundle: its page and picture go
        (folder / "posts/2024-01-20-post-19.md").unlink()

    report, written, deleted = incremental(make_app, site, out, tmp_path, delete, tuple(users))
    assert {"items/trip.html", "items/trip.html.gz", "items/trip.atom", "items/trip/map.png",
            "items/post-19.json", "items/post-19.json.br"} <= deleted
    assert not (out / "items/trip").exists()  # a folder of ours left empty goes too
    for name, data in users.items():
        assert (out / name).read_bytes() == data, name


def test_no_temporary_file_is_left_behind(make_app, site, tmp_path):
    app = make_app(site, **SMALL)
    out = tmp_path / "out"
    (out / "robots.txt").mkdir(parents=True)  # in the way of a file: the build must fail
    with pytest.raises(OSError):
        build(app, out)
    assert not [path for path in out.rglob("*") if path.name.startswith(TEMP_PREFIX)]
    # A build killed mid-write leaves its temporary files and its lock behind: the next
    # build sweeps them up, and only them.
    (out / "robots.txt").rmdir()
    (out / "items").mkdir(exist_ok=True)
    for name in (f"items/{TEMP_PREFIX}4242-7", f"{TEMP_PREFIX}4242-8"):
        (out / name).write_bytes(b"half a fi")
    (out / ".feedsvc-tmp").write_bytes(b"a user's, not ours")
    build(app, out)
    assert not (out / LOCK).exists()
    assert sorted(path.name for path in out.rglob(".feedsvc-tmp*")) == [".feedsvc-tmp"]
    fresh = tmp_path / "fresh"
    build(make_app(site, **SMALL), fresh)
    assert {name: entry[0] for name, entry in tree(out).items() if name != ".feedsvc-tmp"} \
        == {name: entry[0] for name, entry in tree(fresh).items()}


def test_one_build_at_a_time(make_app, site, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(BuildError, match="another feedsvc build"):
            build(make_app(site, **SMALL), out)


def test_summary_archives_keep_the_live_feeds_whole(make_app, site, tmp_path):
    app = make_app(site, archive_content="summary", **SMALL)
    client = app.test_client()
    for fmt in ("atom", "rss"):
        live = feedparser.parse(client.get(f"/feed.{fmt}").data)
        archive = feedparser.parse(client.get(f"/archive/3.{fmt}").data)  # posts 2 to 4
        assert not live.bozo and not archive.bozo
        assert all(entry.content[0].value.strip() for entry in live.entries)
        assert archive.entries and all("content" not in entry for entry in archive.entries)
        assert all(entry.summary.startswith("The summary of post") and entry.link and
                   entry.published for entry in archive.entries)
    live = parse_json_feed(client.get("/feed.json").data)
    archive = parse_json_feed(client.get("/tags/alpha/archive/1.json").data)
    assert all(item["content_html"].strip() for item in live["items"])
    assert all("content_html" not in item and item["content_text"] == item["summary"]
               for item in archive["items"])
    full = make_app(site, **SMALL).test_client().get("/archive/3.atom").data
    assert b"Paragraph 3 of text" in full
    assert b"Paragraph 3" not in client.get("/archive/3.atom").data
    build(app, tmp_path / "out")
    assert b"<content" not in (tmp_path / "out/archive/3.atom").read_bytes()
    assert b"<content" in (tmp_path / "out/feed.atom").read_bytes()


def run_build(*args, env=None, **kwargs):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    return subprocess.run([sys.executable, "-m", "feedsvc", "build", *args], capture_output=True,
                          text=True, timeout=120, env={**clean, **(env or {})}, **kwargs)


def test_the_command_reports_what_it_did(site, tmp_path):
    out = tmp_path / "out"
    args = (str(out), "--items", str(site), "--base-url", BASE_URL)
    first = run_build(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    written = int(re.search(r" (\d+) written / 0 unchanged / 0 deleted$", first.stdout)[1])
    assert first.stdout.count("\n") == 1  # not a terminal: no progress bar
    again = run_build(*args, cwd=tmp_path)
    assert again.stdout.endswith(f" 0 documents rendered by 1 process; files: 0 written / "
                                 f"{written} unchanged / 0 deleted\n")
    forced = run_build(*args, "--force", cwd=tmp_path)
    assert forced.stdout.endswith(f" {written} written / 0 unchanged / 0 deleted\n")


def test_how_the_folder_is_named_or_served_renders_nothing_again(site, tmp_path):
    """The same items by another path (relative, absolute, through a link), or settings that
    only `serve` reads: the same bytes, so nothing is rendered again."""
    out = tmp_path / "out"
    (tmp_path / "link").symlink_to(site)
    first = run_build(str(out), "--items", site.name, "--base-url", BASE_URL, cwd=site.parent)
    assert first.returncode == 0, first.stderr
    for items, env in ((str(site), {}), (str(tmp_path / "link"), {}),
                       (str(site), {"FEEDSVC_WORKERS": "3", "FEEDSVC_ACCESS_LOG": "false",
                                    "FEEDSVC_RESCAN_INTERVAL": "5"})):
        again = run_build(str(out), "--items", items, "--base-url", BASE_URL, env=env,
                          cwd=tmp_path)
        assert " 0 documents rendered " in again.stdout, (items, env, again.stdout)
    changed = run_build(str(out), "--items", str(site), "--base-url", BASE_URL,
                        env={"FEEDSVC_TITLE": "Another title"}, cwd=tmp_path)
    assert " 0 documents rendered " not in changed.stdout


def test_the_command_renders_on_every_core(make_app, tmp_path):
    """Forked workers (a fresh process runs no other thread) write what one process does."""
    site = corpus(tmp_path / "site", count=100)
    out = tmp_path / "out"
    args = (str(out), "--items", str(site), "--base-url", BASE_URL)
    env = {"FEEDSVC_FEED_SIZE": "3", "FEEDSVC_PAGE_SIZE": "4"}
    result = run_build(*args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    processes = int(re.search(r"rendered by (\d+) process", result.stdout)[1])
    assert processes == min(os.cpu_count(), 2) or processes == os.cpu_count()
    serial = tmp_path / "serial"
    assert build(make_app(site, **SMALL), serial, workers=1).processes == 1
    assert {name: entry[0] for name, entry in tree(out).items()} == \
        {name: entry[0] for name, entry in tree(serial).items()}
    again = run_build(*args, env=env, cwd=tmp_path)
    assert " 0 written / " in again.stdout and "0 documents rendered" in again.stdout


def test_a_progress_bar_on_a_terminal(site, tmp_path):
    import pty

    parent, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "feedsvc", "build", str(tmp_path / "out"),
                                "--items", str(site)], stdout=child, stderr=subprocess.DEVNULL,
                               cwd=tmp_path, env={k: v for k, v in os.environ.items()
                                                  if not k.startswith("FEEDSVC_")})
    os.close(child)
    output = b""
    while True:
        try:
            data = os.read(parent, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not data:
            break
        output += data
    os.close(parent)
    assert process.wait(timeout=60) == 0
    text = output.decode()
    assert re.search(r"Rendering \d+ documents\s+\[#+\]\s+100%", text), text
    assert re.search(r"written / 0 unchanged / 0 deleted\s*$", text)


NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


@pytest.mark.skipif(not NGINX, reason="needs nginx (apt-get install nginx)")
@pytest.mark.parametrize("base_url", [BASE_URL, BASE_URL + "blog/"])
def test_nginx_serves_the_export_as_the_service_does(make_app, site, tmp_path, base_url):
    app = make_app(site, base_url=base_url, hubs="https://hub.example.org/", **SMALL)
    out = tmp_path / "out"
    build(app, out)
    client = app.test_client()
    port = free_port()
    settings = app.extensions["feedsvc"].settings
    config = nginx_config(settings, out, listen=f"127.0.0.1:{port}")
    assert "# brotli_static on;" in config or "\n    brotli_static on;" in config
    folder = tmp_path / "nginx"
    folder.mkdir()
    temp_paths = "".join(f"{kind}_temp_path {folder}/{kind};"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (folder / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # to read the test's private folder
        + f"daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;\n"
        f"events {{ worker_connections 64; }}\nhttp {{ include /etc/nginx/mime.types; "
        f"access_log off; {temp_paths}\n{config}\n}}\n")
    nginx = subprocess.Popen([NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder)],
                             stderr=subprocess.PIPE)
    prefix = "/" + base_url[len(BASE_URL):]

    def get(path, **headers):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{prefix}{path.lstrip('/')}",
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    try:
        def up():
            try:
                return get("/robots.txt")[0] == 200
            except OSError:
                assert nginx.poll() is None, nginx.stderr.read().decode()
                return False

        wait_for(up, what="nginx to answer")
        compared = ("Content-Type", "Cache-Control", "Vary", "Access-Control-Allow-Origin",
                    "Link", "X-Content-Type-Options", "Content-Security-Policy",
                    "Referrer-Policy")
        for path, response in crawl(client, base_url).items():
            if response.status_code != 200:
                continue
            for coding in (None, "gzip"):
                headers = {"Accept-Encoding": coding} if coding else {}
                status, got, body = get(path, **headers)
                if not compressible(response.content_type):
                    headers = {}  # no siblings: a picture is sent as it is
                expected = client.get(path, headers=headers)
                assert status == 200 and body == expected.data, (path, coding)
                assert got.get("Content-Encoding") == expected.headers.get("Content-Encoding")
                for name in compared:
                    assert got.get(name) == expected.headers.get(name), (path, name)
        status, _, body = get("/no/such/page")
        assert status == 404 and body == client.get("/no/such/page").data
        assert get("/" + MANIFEST)[0] == 404
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
