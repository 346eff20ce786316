"""The command line: build, new, check."""

from __future__ import annotations

import subprocess
import sys

import feedparser


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "feedsvc", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_build_writes_a_static_site(items_dir, tmp_path):
    out = tmp_path / "site"
    result = run("build", str(out), "--items", str(items_dir), "--base-url",
                 "https://static.example.org/")
    assert result.returncode == 0, result.stderr
    for name in ("index.html", "feed.atom", "feed.rss", "feed.json", "sitemap.xml",
                 "robots.txt", "404.html", "tags/index.html", "tags/feeds.html",
                 "tags/feeds/feed.atom", "items/winter-solstice.html",
                 "items/winter-solstice.atom", "items/winter-solstice.json"):
        assert (out / name).is_file(), name
    feed = feedparser.parse((out / "feed.atom").read_bytes())
    assert not feed.bozo and len(feed.entries) == 5
    assert feed.entries[0].link.startswith("https://static.example.org/items/")
    assert list(out.glob("static/style.*.css")) and list(out.glob("static/icon.*.svg"))


def test_new_creates_an_item_that_checks_clean(items_dir):
    result = run("new", "A brand new post!", "--items", str(items_dir))
    assert result.returncode == 0, result.stderr
    path = items_dir / result.stdout.strip().rsplit("/", 1)[-1]
    assert path.name.endswith("-a-brand-new-post.md") and path.is_file()
    assert run("new", "A brand new post!", "--items", str(items_dir)).returncode != 0
    check = run("check", "--strict", "--items", str(items_dir))
    assert check.returncode == 0 and " 0 error(s), 0 warning(s)" in check.stdout, check.stdout


def test_check_strict_and_bad_flags(items_dir):
    (items_dir / "nodate.md").write_text("---\ntitle: No date\nsummary: s\n---\nx\n")
    assert run("check", "--items", str(items_dir)).returncode == 0
    strict = run("check", "--strict", "--items", str(items_dir))
    assert strict.returncode == 1 and "nodate.md:1: warning: no date" in strict.stdout
    missing = run("check", "--items", str(items_dir / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_misspelt_and_mistyped_settings_are_errors(items_dir, tmp_path):
    (tmp_path / "feedsvc.toml").write_text("feed_szie = 50\n")
    result = run("check", "--items", str(items_dir), cwd=tmp_path)
    assert result.returncode == 2
    assert "feedsvc.toml: unknown setting 'feed_szie' (did you mean 'feed_size'?)" in result.stderr
    (tmp_path / "feedsvc.toml").write_text("feed_size = true\n")
    result = run("check", "--items", str(items_dir), cwd=tmp_path)
    assert "setting 'feed_size': expected a whole number, got True" in result.stderr
    (tmp_path / "feedsvc.toml").unlink()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FEEDSVC_BASE_ULR": "https://x.org/"}
    result = subprocess.run([sys.executable, "-m", "feedsvc", "check", "--items", str(items_dir)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "FEEDSVC_BASE_ULR: unknown setting 'base_ulr' (did you mean 'base_url'?)" in result.stderr
