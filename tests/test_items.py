"""The item format of DESIGN.md: one file -> one Item, or an ItemError naming file and line."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from feedsvc.config import Settings
from feedsvc.content import content_html, summary_text
from feedsvc.items import ItemError, read_item

from conftest import BUNDLED_ITEMS, write

SETTINGS = Settings(base_url="https://feeds.example.org/", tag_authority="example.org",
                    tag_date="2024-01-01")


def parse(tmp_path: Path, name: str, text: str):
    path = write(tmp_path, name, text)
    return read_item(path, tmp_path, SETTINGS)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_yaml_front_matter_with_jekyll_names(tmp_path):
    item = parse(tmp_path, "2024-01-05-hello.md", """---
title: Hello, world
last_modified_at: 2024-02-01 10:00:00 +0100
author: [Ann, {name: Bob, email: bob@example.org}]
categories: news travel
excerpt: A greeting.
lang: en-GB
layout: post
---
Body *text*.
""")
    assert item.slug == "hello"
    assert item.title == "Hello, world"
    assert item.published == utc(2024, 1, 5)
    assert item.date_source == "file name"
    assert item.updated == utc(2024, 2, 1, 9, 0)
    assert [a.name for a in item.authors] == ["Ann", "Bob"]
    assert item.authors[1].email == "bob@example.org"
    assert item.tags == ("news", "travel")
    assert item.summary == "A greeting."
    assert item.lang == "en-GB"
    assert item.extra["layout"] == "post"  # unknown keys are kept
    assert "<em>text</em>" in content_html(item)


def test_toml_front_matter_with_hugo_names(tmp_path):
    item = parse(tmp_path, "posts/bundle/index.md", """+++
title = "Bundle"
date = 2023-06-01T08:00:00+02:00
lastmod = 2023-06-02
tags = ["Go", "hugo"]
keywords = ["go"]
description = "A Hugo page bundle."
+++
Text.
""")
    assert item.slug == "bundle"  # name/index.md takes the folder name
    assert item.published == utc(2023, 6, 1, 6, 0)
    assert item.updated == utc(2023, 6, 2)
    assert item.tags == ("Go", "hugo")  # "go" from keywords is the same tag
    assert item.summary == "A Hugo page bundle."


def test_slug_and_id_from_front_matter(tmp_path):
    item = parse(tmp_path, "whatever.md", "---\ntitle: T\ndate: 2024-01-01\nslug: My Post\n"
                 "id: urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a\n---\nx\n")
    assert item.slug == "my-post"
    assert item.id == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert item.url == "https://feeds.example.org/items/my-post"


def test_default_id_is_a_tag_uri_that_ignores_file_name_and_content(tmp_path):
    first = parse(tmp_path, "2024-01-01-post.md", "---\ntitle: A\n---\none\n")
    second = parse(tmp_path, "sub/2024-01-01-post.md", "---\ntitle: B\n---\ntwo\n")
    assert first.id == second.id == "tag:example.org,2024-01-01:post"


def test_date_from_permalink_path_then_mtime(tmp_path):
    item = parse(tmp_path, "a.md", "---\ntitle: A\npermalink: /2021/03/04/a/\n---\nx\n")
    assert item.published == utc(2021, 3, 4)
    item = parse(tmp_path, "b.md", "---\ntitle: B\n---\nx\n")
    assert item.date_source == "mtime"
    assert any("mtime" in warning for _, warning in item.warnings)


def test_markdown_without_front_matter_takes_title_from_heading(tmp_path):
    item = parse(tmp_path, "2024-01-01-note.md", "# A note\n\nSome text.\n")
    assert item.title == "A note"
    assert "A note" not in content_html(item)  # not repeated in the body


def test_plain_text_drops_page_chrome(tmp_path):
    item = parse(tmp_path, "2024-02-02-scraped.txt",
                 "top of page\n\nThe Headline\n\nFirst paragraph\nstill first.\n\n"
                 "Second paragraph.\n\nbottom of page\n")
    assert item.title == "The Headline"
    html = content_html(item)
    assert html.count("<p>") == 2
    assert "top of page" not in html and "bottom of page" not in html
    assert "The Headline" not in html


def test_bundled_seed_article():
    path = next(BUNDLED_ITEMS.glob("*.txt"))
    item = read_item(path, BUNDLED_ITEMS, SETTINGS)
    assert item.title == "US Rejects Putin's Proposal: A Calculated Move with Consequences"
    html = content_html(item)
    assert "of page" not in html and "of page" not in item.title
    assert html.startswith("<p>Recent reports have unveiled")
    assert "prioritize dialogue and diplomacy" in html


def test_html_fragment_takes_title_from_h1(tmp_path):
    item = parse(tmp_path, "2024-01-01-frag.html", "<h1>Fragment &amp; co</h1>\n<p>Hi</p>")
    assert item.title == "Fragment & co"
    assert content_html(item).strip() == "<p>Hi</p>"


def test_relative_urls_become_absolute(tmp_path):
    item = parse(tmp_path, "2024-01-01-links.md",
                 "[a](/items/other) [b](sibling) ![c](img/c.png) [d](#top)\n")
    html = content_html(item)
    assert 'href="https://feeds.example.org/items/other"' in html
    assert 'href="https://feeds.example.org/items/sibling"' in html
    assert 'src="https://feeds.example.org/items/img/c.png"' in html
    assert 'href="https://feeds.example.org/items/links#top"' in html


def test_content_is_sanitized(tmp_path):
    item = parse(tmp_path, "2024-01-01-x.md",
                 "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)> "
                 "[y](javascript:alert(1))\n")
    html = content_html(item)
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html


def test_summary_falls_back_to_body_text(tmp_path):
    item = parse(tmp_path, "2024-01-01-s.md", "---\ntitle: S\n---\nFirst *words* here.\n")
    assert summary_text(item) == "First words here."


def test_draft_flag(tmp_path):
    assert parse(tmp_path, "d.md", "---\ntitle: D\ndate: 2024-01-01\ndraft: true\n---\nx").draft


@pytest.mark.parametrize("text, line, message", [
    ("---\ntitle: T\nkey: [unclosed\n---\nx", 4, "not valid YAML"),
    ("+++\ntitle = \n+++\nx", 2, "not valid TOML"),
    ("---\ntitle: T\n", 1, "never closed"),
    ("---\ntitle: T\ndate: soon\n---\nx", 3, "as a date"),
    ("---\ntitle: {a: b}\n---\nx", 2, "must be text"),
    ("---\ntitle: T\ntags: {a: b}\n---\nx", 3, "list of names"),
    ("---\ntitle: T\ndate: 0001-01-01\n---\nx", 3, "out of range"),
    ("", None, "empty file"),
])
def test_errors_name_file_line_and_reason(tmp_path, text, line, message):
    with pytest.raises(ItemError) as raised:
        parse(tmp_path, "bad.md", text)
    assert raised.value.path == "bad.md"
    assert raised.value.line == line
    assert message in raised.value.message
