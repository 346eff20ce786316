"""Bytes on disk -> text -> (front matter, body): the part of the item format that can fail
in the most ways. Every failure is an `ItemError` naming the file and line."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from functools import lru_cache

import yaml

# A YAML alias can make a tiny document expand into billions of nodes when walked.
MAX_FRONT_MATTER_NODES = 10_000


class ItemError(Exception):
    """A file that cannot be published, and why: `path:line: message`."""

    def __init__(self, path: str, line: int | None, message: str, skipped: bool = False):
        super().__init__(f"{path}:{line or 1}: {message}")
        self.path, self.line, self.message = path, line, message
        self.skipped = skipped  # no post, and rightly left out (a section file, a resource)

    def __reduce__(self):  # pickled back from the parser worker processes (store.py)
        return ItemError, (self.path, self.line, self.message, self.skipped)


def decode(relpath: str, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        # "utf-8-sig" by hand: that codec decodes in Python, "utf-8" in C.
        encoding = "utf-8"
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        label = "UTF-16" if encoding == "utf-16" else "UTF-8"
        raise ItemError(relpath, line, f"not valid {label} text (byte {error.start}): a "
                        "binary file, or another encoding; save it as UTF-8") from None
    if "\x00" in text:
        raise ItemError(relpath, text[: text.index("\x00")].count("\n") + 1,
                        "contains NUL bytes: a binary file, not text")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ItemError(relpath, None, "empty file")
    return text


def split_front_matter(relpath: str, text: str) -> tuple[dict, str, int]:
    """Return (front matter, body, line number where the body starts). Blank lines before
    the opening fence are allowed, as Zola allows them (its own theme pages start so)."""
    stripped = text.lstrip("\n")
    skipped = len(text) - len(stripped)
    first, _, rest = stripped.partition("\n")
    fence = first.rstrip()
    if fence not in ("---", "+++"):
        return {}, text, 1
    lines = rest.split("\n")
    for index, line in enumerate(lines):
        if line.rstrip() == fence:
            source = "\n".join(lines[:index])
            body = "\n".join(lines[index + 1:])
            break
    else:
        raise ItemError(relpath, skipped + 1,
                        f"front matter opened with {fence!r} is never closed")
    meta = _load_yaml(relpath, source) if fence == "---" else _load_toml(relpath, source)
    return meta, body, skipped + index + 3


def _load_yaml(relpath: str, source: str) -> dict:
    try:
        meta = load_yaml(source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ItemError(relpath, line, f"front matter is not valid YAML: {problem}") from None
    except (ValueError, OverflowError) as error:  # e.g. a timestamp like 2024-13-45
        raise ItemError(relpath, 1, f"front matter is not valid YAML: {error}") from None
    except RecursionError:
        raise ItemError(relpath, 1, "front matter is nested too deeply") from None
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ItemError(relpath, 2, "front matter must be a mapping of keys to values")
    if "*" in source or len(source) >= MAX_FRONT_MATTER_NODES:
        # Without aliases every value takes at least one character of the source, so only
        # front matter this long, or with an alias, can hold that many.
        _check_size(relpath, meta)
    return meta


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{name}" for name in ("str", "seq", "map"))


class _Unusual(Exception):
    """A mapping key that is not plain text: PyYAML's own constructor takes the document."""


def load_yaml(source: str):
    """`yaml.load(source, CSafeLoader)`, the same values, at two thirds of the cost: PyYAML's
    constructor spends as long as its C parser does, mostly on bookkeeping that only anchors
    and tags need. Strings, lists and mappings with text keys are built here; every other
    node (numbers, dates, booleans, tagged values) goes to PyYAML's constructor, and a
    document with an alias (shared or recursive values) or a key that is not a plain
    string is left to PyYAML whole. tests/test_properties.py holds it to yaml.load."""
    if "*" in source:
        return yaml.load(source, Loader=_YAML_LOADER)
    simple = _flat(source)
    if simple is not None:
        return simple
    loader = _YAML_LOADER(source)
    try:
        node = loader.get_single_node()
        return None if node is None else _construct(loader, node)
    except _Unusual:
        pass
    finally:
        loader.dispose()
    return yaml.load(source, Loader=_YAML_LOADER)


def _construct(loader, node):
    kind, tag = type(node), node.tag
    if kind is yaml.ScalarNode and tag == _STR:
        return node.value
    if kind is yaml.SequenceNode and tag == _SEQ:
        return [_construct(loader, child) for child in node.value]
    if kind is yaml.MappingNode and tag == _MAP:
        mapping = {}
        for key, value in node.value:
            if type(key) is not yaml.ScalarNode or key.tag != _STR:
                raise _Unusual  # a merge key (<<), a number or date as key, a complex key
            mapping[key.value] = _construct(loader, value)
        return mapping
    return loader.construct_object(node, deep=True)


# Front matter as most sites write it, one `key: value` a line, is read without PyYAML's parser
# (3/4 of a cold start's YAML time). `_flat` takes only lines whose meaning in YAML is plain:
# a key of letters, digits, `_` and `-`, then a double- or single-quoted string with no
# escapes, a flow list of such strings or plain words, or a plain scalar with none of YAML's
# indicators. A plain scalar is resolved and built by PyYAML's own resolver and constructors
# (so `yes`, `010`, `12:30:00` and dates mean what they mean there). Anything else, or any
# doubt, gives None: the whole document goes to PyYAML. tests/test_properties.py holds it to
# yaml.load.
# (YAML's parser refuses a key longer than 1,024 characters.)
_FLAT_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]{0,199}):(?: +(.*))?")
_PLAIN = re.compile(r"[A-Za-z0-9](?:[^#\t:]|:(?! ))*(?<![: ])")
_QUOTED = re.compile(r'"[^"\\\t]*"|\'[^\'\t]*\'')
_FLOW_ITEM = re.compile(r' *("[^"\\\t,]*"|\'[^\'\t,]*\'|[A-Za-z0-9][A-Za-z0-9 ._+/()-]*?) *(,|$)')
# Line breaks of YAML 1.1 beyond \n, a byte order mark, and what YAML refuses to read.
_NOT_FLAT = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
                       "\U00010000-\U0010ffff]")
_NOT_FLAT_ASCII = re.compile("[^\n\x20-\x7e]")
_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)")


class _NotFlat(Exception):
    pass


def _flat(source: str) -> dict | None:
    """What yaml.load gives for `source` when every line is a flat `key: value` (above), or
    None to leave it to PyYAML (errors included: PyYAML reports them its own way)."""
    if (_NOT_FLAT_ASCII if source.isascii() else _NOT_FLAT).search(source):
        return None
    mapping = {}
    try:
        for line in source.split("\n"):
            if not line or line[0] == "#":
                continue
            match = _FLAT_LINE.fullmatch(line)
            if match is None:
                return None
            key, text = match.groups()
            if not _text_key(key):
                return None  # `yes:` or `null:`: a key that is not text
            mapping[key] = _flat_value(text)
    except (_NotFlat, ValueError, OverflowError):
        return None
    return mapping or None


def _flat_value(text: str | None):
    if text is None:
        return None
    if not text:
        raise _NotFlat  # `key:` and trailing spaces
    if text[0] in "\"'":
        if not _QUOTED.fullmatch(text):
            raise _NotFlat
        return text[1:-1]
    if text[0] == "[":
        if text[-1] != "]":
            raise _NotFlat
        inner, items, at = text[1:-1], [], 0
        if inner.strip(" "):
            while at < len(inner):
                match = _FLOW_ITEM.match(inner, at)
                if match is None or not match.group(1):
                    raise _NotFlat
                value = match.group(1)
                items.append(value[1:-1] if value[0] in "\"'" else _plain(value))
                at = match.end()
            if inner.rstrip(" ").endswith(","):
                raise _NotFlat
        return items
    if not _PLAIN.fullmatch(text):
        raise _NotFlat
    return _plain(text)


@lru_cache(maxsize=1024)  # sites use a few dozen keys
def _text_key(key: str) -> bool:
    return _plain(key) is key


def _plain(text: str):
    """A plain scalar as PyYAML's SafeLoader resolves and builds it."""
    if _ISO_SECONDS.fullmatch(text):  # what most dates look like: a timestamp, nothing else
        return datetime.fromisoformat(text)
    for tag, pattern in _RESOLVERS.get(text[0], ()):
        if pattern.match(text):
            construct = _CONSTRUCTOR.yaml_constructors.get(tag)
            if construct is None or tag == _STR:
                raise _NotFlat
            return construct(_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    return text


def _load_toml(relpath: str, source: str) -> dict:
    try:
        return tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        line = int(match.group(1)) + 1 if match else source.count("\n") + 2
        raise ItemError(relpath, line, f"front matter is not valid TOML: {error}") from None
    except RecursionError:
        raise ItemError(relpath, 1, "front matter is nested too deeply") from None


def _check_size(relpath: str, meta) -> None:
    """Refuse front matter that is small on disk but huge in memory (YAML alias bombs)."""
    budget = MAX_FRONT_MATTER_NODES
    stack = [meta]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise ItemError(relpath, 1, f"front matter has more than "
                            f"{MAX_FRONT_MATTER_NODES} values (YAML alias expansion?)")
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
