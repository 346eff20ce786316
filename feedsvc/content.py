"""An item's body as safe HTML for feeds and pages, and a plain-text summary for listings.

Rendering is lazy and cached per item version (an `Item` is immutable, so its identity is its
version): start-up and listings never pay for Markdown or sanitizing.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options

from .items import Item, body_of
from .text import clean_text
from .urls import resource_base

SUMMARY_LENGTH = 280
# cmark-gfm is a CommonMark superset (tables, strikethrough, autolinks, footnotes). Raw HTML
# passes through here because nh3 sanitizes everything afterwards with an allow-list.
_CMARK_OPTIONS = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_SMART | Options.CMARK_OPT_FOOTNOTES
# GitHub's extensions except "tagfilter", which shows <script> and friends as literal text:
# nh3 below removes them, content and all, which is what a reader should see.
_GFM_EXTENSIONS = ["table", "autolink", "strikethrough", "tasklist"]
# cmark-gfm registers its extensions on first use, and that registration is not thread-safe:
# two server threads rendering their first posts at once aborted the whole worker ("flag
# initialization error in cmark_register_node_flag"). Rendering once here, at import, in the
# thread that builds the app and before any request thread exists, registers them for good.
cmarkgfm.markdown_to_html_with_extensions("*", options=_CMARK_OPTIONS, extensions=_GFM_EXTENSIONS)
_URL_SCHEMES = {"http", "https", "mailto"}
# Elements whose content is code or chrome, not text: dropped with their content.
_DROP_WITH_CONTENT = {"script", "style", "template", "iframe", "object", "embed", "noscript",
                      "svg", "math", "title", "textarea", "select"}
_TAGS = set(nh3.ALLOWED_TAGS) - {"center", "strike", "tt", "acronym"} | {
    "picture", "source", "video", "audio", "section"}
_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "img": set(nh3.ALLOWED_ATTRIBUTES["img"]) | {"srcset", "sizes"},
    "source": {"src", "srcset", "sizes", "type", "media", "width", "height"},
    # GFM footnotes: the reference and its way back are links between these ids.
    "a": set(nh3.ALLOWED_ATTRIBUTES["a"]) | {"id", "aria-label"},
    "li": set(nh3.ALLOWED_ATTRIBUTES.get("li", ())) | {"id"},
    "video": {"src", "poster", "controls", "width", "height"},
    "audio": {"src", "controls"},
    "time": {"datetime"},
    "code": {"class"},  # only `language-*`: a fenced block's language, for readers that colour
    "th": {"scope", "colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
    "*": {"lang", "title", "dir"},
}
_CLASSES = {"sup": {"footnote-ref"}, "section": {"footnotes"}, "a": {"footnote-backref"}}
_LANGUAGE_CLASS = re.compile(r"(?<!\S)language-[\w+#.-]{1,50}(?!\S)")
_FOOTNOTE_ID = re.compile(r"^fn(?:ref)?-[\w-]{1,64}$")
_DESCRIPTOR = re.compile(r"^\d+(?:\.\d+)?[wxh]$")
_BLOCK_TAG = re.compile(r"</?(?:p|div|li|ul|ol|h[1-6]|br|blockquote|pre|table|tr|td|th|figure|"
                        r"figcaption|hr|dl|dt|dd|section|article|aside|header|footer)\b[^>]*>",
                        re.I)
_TAG = re.compile(r"<[^>]*>")


# Deeper markup is refused: the sanitizer's time grows faster than linearly with nesting
# (50,000 nested <div>s took 3 s here), and no article nests 256 levels on purpose.
MAX_NESTING = 256
_OPEN_OR_CLOSE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*?(/?)>")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr", "p", "li"}  # p and li close themselves; counting them would overshoot


@lru_cache(maxsize=4096)
def content_html(item: Item) -> str:
    """The item body as sanitized HTML with every relative URL made absolute."""
    raw = raw_html(item)
    if nesting_depth(raw) > MAX_NESTING:
        # Served safely rather than not at all: the words survive, the markup does not.
        return text_to_html(html.unescape(_TAG.sub("", raw)))
    # A bundle's pictures sit in its folder: `map.png` is <url>/map.png, not a sibling page.
    return sanitize(raw, resource_base(item.url) if item.bundle else item.url)


def content_warnings(item: Item) -> list[str]:
    """What `feedsvc check` should say about an item's content."""
    warnings = []
    if not body_of(item).strip():
        warnings.append("no content: readers will show the title alone")
    elif nesting_depth(raw_html(item)) > MAX_NESTING:
        warnings.append(f"markup nested more than {MAX_NESTING} levels deep: "
                        "published as plain text")
    if not item.summary and len(_plain_text(item)) > SUMMARY_LENGTH:
        # A text short enough is shown whole: only a cut one needs a summary.
        warnings.append(f"no summary: listings show the text's first {SUMMARY_LENGTH} "
                        "characters, cut at a word")
    return warnings


def nesting_depth(fragment: str) -> int:
    """An upper bound of the element nesting depth, in one linear pass."""
    depth = deepest = 0
    for closing, name, self_closing in _OPEN_OR_CLOSE.findall(fragment):
        if self_closing or name.lower() in _VOID:
            continue
        depth = max(0, depth - 1) if closing else depth + 1
        deepest = max(deepest, depth)
    return deepest


def raw_html(item: Item) -> str:
    body = body_of(item)
    if item.format == "markdown":
        return cmarkgfm.markdown_to_html_with_extensions(body, options=_CMARK_OPTIONS,
                                                         extensions=_GFM_EXTENSIONS)
    if item.format == "text":
        return text_to_html(body)
    return body


def text_to_html(text: str) -> str:
    """Blank-line separated blocks are paragraphs; line breaks inside a block are kept."""
    blocks = [block.strip("\n") for block in re.split(r"\n\s*\n", text) if block.strip()]
    return "\n".join("<p>" + "<br>\n".join(html.escape(line.strip()) for line in
                                            block.split("\n")) + "</p>" for block in blocks)


def sanitize(fragment: str, base_url: str) -> str:
    def attribute(tag: str, name: str, value: str) -> str | None:
        if name == "srcset":  # a list of URLs, which nh3 leaves alone: checked and rewritten here
            return absolute_srcset(value, base_url)
        if name == "id":  # only footnotes' own ids: others could clash with the page's
            return value if _FOOTNOTE_ID.match(value) else None
        if name == "class" and tag == "code":
            return " ".join(_LANGUAGE_CLASS.findall(value)) or None
        return value

    return clean_text(nh3.clean(
        fragment,
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=attribute,
        allowed_classes=_CLASSES,
        url_schemes=_URL_SCHEMES,
        url_relative=("rewrite_with_base", base_url),
        link_rel="noopener noreferrer",
    ))


def absolute_srcset(value: str, base_url: str) -> str | None:
    """`srcset` with every URL made absolute and anything but http(s) dropped, parsed as
    HTML's srcset algorithm does (URLs may hold commas: `w_400,h_300/a.jpg 2x`)."""
    candidates = []
    position, end = 0, len(value)
    while True:
        while position < end and (value[position].isspace() or value[position] == ","):
            position += 1
        if position >= end:
            break
        start = position
        while position < end and not value[position].isspace():
            position += 1
        url, descriptor = value[start:position], ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            start = position
            while position < end and value[position] != ",":
                position += 1
            descriptor = value[start:position].strip()
        absolute = urljoin(base_url, url)
        if urlsplit(absolute).scheme in ("http", "https") and \
                (not descriptor or _DESCRIPTOR.match(descriptor)):
            candidates.append(f"{absolute} {descriptor}".rstrip())
    return ", ".join(candidates) or None


_FIRST_IMAGE = re.compile(r'<img\b[^>]*?\ssrc="(https?://[^"]+)"', re.I)


@lru_cache(maxsize=4096)
def picture(item: Item) -> str:
    """The item's picture, for readers that show one beside the title and for link previews:
    its front matter `image`, else the first picture in its content; "" when it has none."""
    if item.media is not None and item.media.image:
        return item.media.image
    match = _FIRST_IMAGE.search(content_html(item))  # sanitized: src is absolute, quoted
    return html.unescape(match.group(1)) if match else ""


@lru_cache(maxsize=16384)
def summary_text(item: Item) -> str:
    """The front matter summary, else the start of the body as plain text."""
    if item.summary:
        return item.summary
    text = _plain_text(item)
    if len(text) <= SUMMARY_LENGTH:
        return text
    cut = text[:SUMMARY_LENGTH].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.-") + "…"


def _plain_text(item: Item) -> str:
    """The item's text as one line of words, markup gone."""
    return " ".join(html.unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", content_html(item)))).split())
