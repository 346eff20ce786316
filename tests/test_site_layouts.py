"""A Jekyll site, a Hugo `content/` and a Zola `content/` folder as `--items`: every post,
nothing else (issue 10). Folders are written here in each generator's documented layout."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

from conftest import Clock, write
from feedsvc.config import Settings
from feedsvc.store import Store


def store_for(folder) -> Store:
    return Store(Settings(items_dir=folder, base_url="https://example.org/"), clock=Clock())


def published(store: Store) -> dict[str, str]:
    return {item.path: item.title for item in store.snapshot.items}


def skipped(store: Store) -> dict[str, str]:
    return {p.path: p.message for p in store.snapshot.problems if p.severity == "skipped"}


def jekyll_site(root):
    # https://jekyllrb.com/docs/structure/: posts in _posts (any depth), drafts in _drafts,
    # everything in other underscore folders is templates, data or output, pages elsewhere.
    write(root, "_config.yml", "title: A Jekyll blog\n")
    write(root, "index.html", "---\nlayout: home\n---\n{% for post in site.posts %}{% endfor %}\n")
    write(root, "about.md", "---\nlayout: page\ntitle: About\n---\nAbout me.\n")
    write(root, "_layouts/default.html", "<html>{{ content }}</html>\n")
    write(root, "_includes/head.html", "<head></head>\n")
    write(root, "_site/2023/01/30/release.html", "<h1>Release</h1>\n")
    write(root, "_sass/main.md", "not a post\n")
    # Jekyll's own site has this date; Ruby's Time.parse reads it as 18:30:22 -0800.
    write(root, "_posts/2023-01-29-release.md",
          "---\ntitle: Release\ndate: 2023-01-29 18:30:22 2023 -0800\n---\nOut now.\n")
    write(root, "_posts/2022/2022-05-01-hello.md", "---\ntitle: Hello\n---\nFirst.\n")
    write(root, "_posts/2021-03-04-someday.md", "---\ntitle: Someday\ndate: someday\n---\nx\n")
    write(root, "_drafts/work-in-progress.md", "---\ntitle: Not yet\n---\nSoon.\n")


def test_a_jekyll_site_publishes_its_posts_and_nothing_else(tmp_path):
    jekyll_site(tmp_path)
    store = store_for(tmp_path)
    assert published(store) == {"_posts/2023-01-29-release.md": "Release",
                                "_posts/2022/2022-05-01-hello.md": "Hello",
                                "_posts/2021-03-04-someday.md": "Someday"}
    assert set(skipped(store)) == {"index.html", "about.md"}
    assert "page of the Jekyll site" in skipped(store)["about.md"]
    assert not store.snapshot.errors
    release = store.snapshot.by_slug["release"]
    assert release.published == datetime(2023, 1, 30, 2, 30, 22, tzinfo=timezone.utc)
    assert any("as Jekyll does" in warning for _, warning in release.warnings)
    someday = store.snapshot.by_slug["someday"]  # unreadable: the file name's date instead
    assert someday.published == datetime(2021, 3, 4, tzinfo=timezone.utc)
    assert any("using the date in the file name" in w for _, w in someday.warnings)
    assert "work-in-progress" not in store.snapshot.by_slug  # _drafts are never published


def hugo_content(root):
    # https://gohugo.io/content-management/page-bundles/: _index.md makes a branch bundle (a
    # section), index.md a leaf bundle whose other files are its resources.
    write(root, "_index.md", "---\ntitle: Home\n---\nWelcome.\n")
    write(root, "posts/_index.md", "---\ntitle: Posts\n---\n")
    write(root, "posts/first.md", "---\ntitle: First\ndate: 2024-01-01\n---\nHi.\n")
    write(root, "posts/trip/index.md", "---\ntitle: Trip\ndate: 2024-02-01\n---\n![](map.png)\n")
    write(root, "posts/trip/notes.txt", "Packing list\n\nsocks\n")
    write(root, "posts/trip/extra.md", "---\ntitle: A resource page\n---\nx\n")
    (root / "posts/trip/map.png").write_bytes(b"\x89PNG\r\n")


def zola_content(root):
    # https://www.getzola.org/documentation/content/overview/: sections are folders with an
    # _index.md; assets sit next to a page's index.md; a page may be a bare template stub.
    write(root, "_index.md", "+++\ntitle = \"Home\"\nsort_by = \"date\"\n+++\n")
    write(root, "blog/_index.md", "+++\ntitle = \"Blog\"\n+++\n")
    write(root, "blog/latest.md", "+++\ntemplate = \"latest.html\"\n+++\n")
    write(root, "blog/post/index.md", "+++\ntitle = \"Post\"\ndate = 2024-03-01\n+++\nBody.\n")
    write(root, "blog/post/attachment.txt", "plain text attachment\n")
    # getzola.org's own theme pages start with a blank line, which Zola accepts.
    write(root, "themes/zplit/index.md", "\n+++\ntitle = \"Zplit\"\ndate = 2024-11-26\n+++\n")


def test_a_hugo_content_folder(tmp_path):
    hugo_content(tmp_path)
    store = store_for(tmp_path)
    assert published(store) == {"posts/first.md": "First", "posts/trip/index.md": "Trip"}
    reasons = skipped(store)
    assert set(reasons) == {"_index.md", "posts/trip/notes.txt", "posts/trip/extra.md"}
    assert "home page" in reasons["_index.md"]
    # A folder's _index.md makes it a section (a branch bundle), never an item.
    [posts] = store.snapshot.sections.values()
    assert (posts.folder, posts.title, posts.url) == ("posts", "Posts", "https://example.org/posts/")
    assert "resource of the page bundle posts/trip/" in reasons["posts/trip/notes.txt"]


def test_a_zola_content_folder(tmp_path):
    zola_content(tmp_path)
    store = store_for(tmp_path)
    assert published(store) == {"blog/post/index.md": "Post", "themes/zplit/index.md": "Zplit"}
    reasons = skipped(store)
    assert set(reasons) == {"_index.md", "blog/latest.md", "blog/post/attachment.txt"}
    assert [s.title for s in store.snapshot.sections.values()] == ["Blog"]
    assert "neither a title nor a body" in reasons["blog/latest.md"]
    assert not store.snapshot.errors


def test_a_folder_becomes_a_bundle(tmp_path):
    write(tmp_path, "trip/day-one.md", "---\ntitle: Day one\ndate: 2024-01-01\n---\nx\n")
    store = store_for(tmp_path)
    assert "day-one" in store.snapshot.by_slug
    write(tmp_path, "trip/index.md", "---\ntitle: The trip\ndate: 2024-01-02\n---\nx\n")
    store.refresh()
    assert published(store) == {"trip/index.md": "The trip"}
    (tmp_path / "trip/index.md").unlink()
    store.refresh()
    assert published(store) == {"trip/day-one.md": "Day one"}


def test_check_lists_what_it_skipped_and_why(tmp_path):
    hugo_content(tmp_path)
    result = subprocess.run([sys.executable, "-m", "feedsvc", "check", "--items", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "_index.md:1: skipped: describes the home page" in result.stdout
    assert "posts/_index.md" not in result.stdout  # a section, not a problem
    assert "posts/trip/notes.txt:1: skipped: a resource of the page bundle" in result.stdout
    assert result.stdout.splitlines()[-1].startswith(
        "2 published, 1 section, 3 skipped as no item, 0 error")
