"""Text that every output format can carry: XML-safe characters and URL-safe slugs."""

from __future__ import annotations

import re
import unicodedata

# XML 1.0 cannot carry C0 controls other than tab/newline/CR, lone surrogates, U+FFFE/U+FFFF;
# C1 controls are legal but "discouraged" (XML 1.0 section 2.2) and the W3C validator flags them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NOT_SLUG = re.compile(r"[^\w]+|_{2,}")
MAX_SLUG_LENGTH = 120


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
