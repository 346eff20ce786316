"""Text that every output format can carry: XML-safe characters and URL-safe slugs."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# XML 1.0 cannot carry C0 controls other than tab/newline/CR, lone surrogates, U+FFFE/U+FFFF;
# C1 controls are legal but "discouraged" (XML 1.0 section 2.2) and the W3C validator flags them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NOT_SLUG = re.compile(r"[^\w]+|_{2,}")
MAX_SLUG_LENGTH = 120
# In tags, these name different things (C, C++, C#; .NET and NET; Node.js and nodejs): they are
# spelled out, so distinct tags never share a URL. A dot counts only before a letter or digit
# ("Mr. Robot" keeps its plain slug).
_TAG_SYMBOLS = {"+": " plus ", "#": " sharp ", "&": " and ", "@": " at "}
_TAG_SYMBOL = re.compile(r"[+#&@]|\.(?=\w)")


def clean_text(text: str) -> str:
    """`text` without the characters XML 1.0 (and so Atom and RSS) cannot carry."""
    return _NOT_XML.sub("", text)


def slugify(text: str) -> str:
    """Lowercase words joined by `-`: no `/`, `.`, `%`, spaces or controls survive.

    Letters of every script stay (URLs carry them percent-encoded), so a Greek or Japanese
    title still has a meaningful slug. No dot means `/items/<slug>.atom` is never ambiguous.
    """
    text = unicodedata.normalize("NFKC", clean_text(text)).lower()
    slug = _NOT_SLUG.sub("-", text).strip("-_")
    return slug[:MAX_SLUG_LENGTH].rstrip("-_")


@lru_cache(maxsize=16384)  # a site has few distinct tags, and 100,000 items name them
def tag_slug(tag: str) -> str:
    """The URL of a tag: `C++` -> `c-plus-plus`, `C#` -> `c-sharp`, `.NET` -> `dot-net`.

    A pure function of the tag (no counters that depend on which other tags exist), so a tag's
    URL never changes; case, spacing and `-` between words do not make another tag.
    """
    text = unicodedata.normalize("NFKC", clean_text(tag))
    return slugify(_TAG_SYMBOL.sub(lambda m: _TAG_SYMBOLS.get(m.group(), " dot "), text))
