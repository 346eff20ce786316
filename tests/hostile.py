"""A corpus of hostile item files, generated because the bytes are awkward to keep in git.

`build(folder)` writes them beside good items and returns what each case expects:
`published` titles that must appear in feeds, `errors` paths that `check` must name.
"""

from __future__ import annotations

import os
from pathlib import Path

GOOD = {
    "2024-01-01-good-one.md": "---\ntitle: Good one\n---\nFine.\n",
    "2024-01-02-good-two.txt": "Good two\n\nA plain paragraph.\n",
    "2024-01-03-good-three.html": "---\ntitle: Good three\n---\n<p>HTML body</p>\n",
}

# Served safely: the item is published, the hostile parts are gone.
SERVED = {
    "2024-02-01-controls.md": ("---\ntitle: \"Ctl\\x01\\x02title\\x7f\"\ntags: [\"a\\x0bb\"]\n---\n"
                               "Body \x00 with \x08 controls \ufffe and \uffff.\n").replace(
                                   "\x00", ""),
    "2024-02-02-bom.md": "\ufeff---\ntitle: With BOM\n---\nBOM body.\n",
    "2024-02-04-script.md": ("---\ntitle: \"<script>alert('t')</script> ]]> &amp; title\"\n---\n"
                             "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
                             "[click](javascript:alert(1)) [data](data:text/html,hi)\n\n"
                             "<iframe src=\"https://evil.example\"></iframe>\n\n"
                             "<style>body{display:none}</style>\n\n"
                             "<svg><script>alert(2)</script></svg>\n\n"
                             "<a href=\"JaVaScRiPt:alert(3)\">x</a> <p onclick=\"alert(4)\">p</p>\n"
                             "<math><mi xlink:href=\"javascript:alert(5)\">m</mi></math>\n"),
    "2024-02-05-traversal.md": "---\ntitle: Traversal slug\nslug: ../../etc/passwd\n---\nx\n",
    "2024-02-06-slug-tricks.md": "---\ntitle: Slug tricks\nslug: \"a%2fb c/d\\\\e\"\n---\nx\n",
    "2024-02-07-long-title.md": "---\ntitle: " + "T" * 100_000 + "\n---\nx\n",
    "2024-02-08-deep-quotes.md": "---\ntitle: Deep quotes\n---\n" + ">" * 5000 + " deep\n",
    "2024-02-09-deep-lists.md": "---\ntitle: Deep lists\n---\n" + "".join(
        "  " * i + "- x\n" for i in range(400)),
    "2024-02-10-deep-html.html": "---\ntitle: Deep html\n---\n" + "<div>" * 20000 + "x",
    "2024-02-11-no-zone.md": "---\ntitle: No zone\ndate: 2024-02-11 10:00:00\n---\nx\n",
    "2024-02-12-only-front-matter.md": "---\ntitle: Only front matter\n---\n",
    "2024-02-13-title-number.md": "---\ntitle: 123\n---\nx\n",
}

# Left out and reported by `check`.
BROKEN_TEXT = {
    "bad-yaml.md": "---\ntitle: [unclosed\nother: x\n---\nbody\n",
    "bad-toml.md": "+++\ntitle = \n+++\nbody\n",
    "unterminated.md": "---\ntitle: never closed\n\nbody\n",
    "date-soon.md": "---\ntitle: Soon\ndate: soon\n---\nx\n",
    "tags-mapping.md": "---\ntitle: Tags\ntags: {a: b}\n---\nx\n",
    "year-zero.md": "---\ntitle: Y0\ndate: \"0000-01-01\"\n---\nx\n",
    "year-9999.md": "---\ntitle: Y9999\ndate: 9999-12-31T23:59:59Z\n---\nx\n",
    "empty.md": "",
    "alias-bomb.md": "---\n" + "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                     + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join(
                         [f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)) + "title: bomb\n---\nx\n",
    "deep-toml.md": "+++\na = " + "[" * 5000 + "]" * 5000 + "\ntitle = \"t\"\n+++\nx\n",
    "2024-03-01-dup-slug.md": "---\ntitle: Dup slug copy\nslug: good-one\n---\nx\n",
    "2024-03-02-dup-id.md": "---\ntitle: Dup id copy\nid: tag:example.org,2024:x\n---\nx\n",
    "2024-03-02-dup-id-first.md": "---\ntitle: Dup id first\nid: tag:example.org,2024:x\n---\nx\n",
}
BROKEN_BYTES = {
    "bad-utf8.md": b"---\ntitle: Bad \xff\xfe utf8\n---\nx\n",
    "binary.md": bytes(range(256)) * 4,
    "huge.md": b"---\ntitle: Huge\n---\n" + b"x" * 6_000_000,
}
# Published, but with content the parser had to decode specially.
UTF16 = {"2024-02-03-utf16.md": "---\ntitle: UTF-16 item\n---\nSixteen bits.\n"}

HOSTILE_MARKERS = [b"<script", b"javascript:", b"onerror=", b"onclick=", b"<iframe",
                   b"<style", b"data:text/html", b"/etc/passwd"]


def build(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**GOOD, **SERVED, **BROKEN_TEXT}.items():
        (folder / name).write_text(text, encoding="utf-8", errors="surrogatepass")
    for name, data in BROKEN_BYTES.items():
        (folder / name).write_bytes(data)
    for name, text in UTF16.items():
        (folder / name).write_bytes(text.encode("utf-16"))
    (folder / "folder.md").mkdir()
    (folder / "folder.md" / "2024-04-01-inside.md").write_text("---\ntitle: Inside\n---\nx\n")
    outside = folder.parent / "outside-secret.md"
    outside.write_text("---\ntitle: Secret outside\n---\nroot:x:0:0\n")
    os.symlink(outside, folder / "escape.md")
    published = (["Good one", "Good two", "Good three", "With BOM", "Traversal slug",
                  "Slug tricks", "Deep quotes", "Deep lists", "Deep html", "No zone",
                  "Only front matter", "123", "UTF-16 item", "Inside", "Ctltitle",
                  "Dup id first"])
    errors = (set(BROKEN_TEXT) - {"2024-03-02-dup-id-first.md"}) | set(BROKEN_BYTES) | {
        "escape.md"}
    return {"published": published, "errors": errors}
