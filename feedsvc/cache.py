"""An optional on-disk cache of parsed items, so a restart with unchanged files parses nothing.

Entries are keyed by path and the file's (mtime, size, inode); the whole file is keyed by the
feedsvc version and the settings that shape parsing. It is safe to delete at any time.

A cache file is data, and is only ever read as data: it is JSON, which the reader turns into
strings, numbers, lists and dicts and nothing else, and this module builds `Item`, `Author`,
`Section` and `ItemError` objects from those by position. (It used to be a pickle, and reading
a pickle runs whatever the file tells it to; an allow-list narrowed that, but a cache folder
is writable by more hands than the code is.) Nothing in the file names a class or a function.

The file is three parts:

    feedsvc-cache 2\\n                  the format (FORMAT below)
    <sha256 of the rest, hex>\\n        a torn or corrupt file never half-loads
    [fingerprint, [entry, ...]]         JSON

A file that does not check out (another format, a bad checksum, JSON that is not what we
write) is ignored with one warning and rebuilt; one from another feedsvc version or other
settings is ignored quietly, as that is expected after an upgrade or a settings change.

JSON has no tuples, dates or non-string keys, so values are written by what they are:
the fields of an Item by position (its dates as ISO strings), and front matter values (`extra`)
as JSON's own scalars, or as a list whose first element names what follows (`["date",
"2024-05-01"]`). An entry holding a value this cannot write back exactly is left out of the
file, so that file is parsed again on the next start, rather than cached wrong.

What is read is taken to be what was written (the checksum catches accidents, and checking
every field's type on every start would cost what the cache saves): a file crafted by hand
can make wrong items, never run code. Write failures (a read-only folder, a full disk) are
logged once and cost only a slower next start.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
import tempfile
from datetime import date, datetime, time, timedelta, timezone
from importlib.metadata import version
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

from .config import Settings
from . import templating
from .frontmatter import ItemError
from .items import PARSE_RULES, Author, Item, Section
from .media import Enclosure, Media, Transcript

log = logging.getLogger("feedsvc")
# Bumped whenever the layout below changes (1 was the pickle, in files named *.pickle).
FORMAT = 2
MAGIC = b"feedsvc-cache %d\n" % FORMAT
SUFFIX = ".json"
OLD_SUFFIXES = (".pickle",)  # earlier formats' files, removed when the new one is written
# Front matter nests; JSON readers recurse. Deeper values are not cached (the file is parsed
# again instead) so that reading the cache can never hit the recursion limit.
MAX_DEPTH = 64
# Write failures reported since the last successful write (path, errno): a read-only cache
# folder would otherwise warn on every periodic rescan.
_reported: set[tuple[str, int | None]] = set()


class Unencodable(ValueError):
    """A value the format cannot write back exactly: its entry is left out of the file."""


def cache_path(settings: Settings) -> Path | None:
    if not settings.cache:
        return None
    folder = Path(settings.cache_dir or os.environ.get("XDG_CACHE_HOME")
                  or Path.home() / ".cache") / "feedsvc"
    items = str(Path(settings.items_dir).resolve())
    return folder / (hashlib.sha256(items.encode()).hexdigest()[:16] + SUFFIX)


def _fingerprint(settings: Settings) -> str:
    # Item's field names too (and its media's): entries are read back by position, so a
    # build whose Item has other fields must not trust them, even under the same version.
    return repr((version("feedsvc"), PARSE_RULES,
                 *(tuple(field.name for field in dataclasses.fields(kind))
                   for kind in (Item, Media, Enclosure, Transcript)),
                 settings.base_url, settings.authority, settings.tag_date,
                 settings.max_item_bytes, settings.permalink, settings.entry_id,
                 settings.timezone, settings.permalink_dates, templating.fingerprint(settings)))


# -- reading -------------------------------------------------------------------------------


def load(settings: Settings) -> dict:
    """{relative path: (stat key, Item, Section or ItemError)}; empty when there is no usable
    cache. Never raises."""
    try:
        path = cache_path(settings)
        if path is None:
            return {}
        data = path.read_bytes()
    except Exception:
        return {}  # none yet, or unreadable: parse everything, as on a first start
    try:
        payload = _checked_payload(data)
        del data  # 60 MB at 100,000 items, no longer needed while the objects are built
        fingerprint, entries = json.loads(payload)
        del payload
        if fingerprint != _fingerprint(settings):
            return {}  # another version or other settings: start afresh, quietly
        return _decode_entries(entries, str(settings.items_dir))
    except Exception as error:  # corrupt in any way at all: ignore it, it will be rebuilt
        log.warning("ignoring cache %s: %s", path, error)
        return {}


def _checked_payload(data: bytes) -> str:
    """The JSON text after the header, once the header and checksum check out."""
    if not data.startswith(MAGIC):
        first = data.split(b"\n", 1)[0][:40]
        if first.startswith(b"feedsvc-cache "):
            raise ValueError(f"format {first[14:].decode(errors='replace')!r}, this feedsvc "
                             f"reads {FORMAT}")
        raise ValueError("not a feedsvc cache file")
    start = len(MAGIC) + 65
    digest, payload = data[len(MAGIC):start], memoryview(data)[start:]  # no copy of 60 MB
    if digest != hashlib.sha256(payload).hexdigest().encode() + b"\n":
        raise ValueError("checksum mismatch (truncated or corrupt)")
    return str(payload, "ascii")  # what _dumps writes; json.loads would decode bytes anyway


_ITEM_FIELDS = tuple(field.name for field in dataclasses.fields(Item))
_new_item = Item.__new__
_from_iso = datetime.fromisoformat


def _decode_entries(entries: list, root: str) -> dict:
    """{relative path: (stat key, result)} from the file's entries, each
    [relative path, stat key, kind, *fields]. An item's `source` (where its body is read
    back from) is its path under `root`, the items folder as this process names it: the
    process that wrote the entry may have named it otherwise (`--items items` from another
    working folder), and its bodies would then be read from nowhere."""
    authors: dict[tuple, tuple[Author, ...]] = {}
    decoded = {}
    for entry in entries:
        kind = entry[2]
        if kind == "item":
            entry[_SOURCE] = os.path.join(root, entry[0])
            result = _decode_item(entry, authors)
        elif kind == "error":
            result = ItemError(*entry[_FIRST:])
        elif kind == "section":
            result = Section(*entry[_FIRST:])
        else:
            raise ValueError(f"unknown entry kind {kind!r}")
        decoded[entry[0]] = (tuple(entry[1]), result)
    return decoded


def _decode_item(entry: list, authors: dict[tuple, tuple[Author, ...]]) -> Item:
    """The inverse of `_encode_item`. One function, not one per field: this runs for every
    item on every start."""
    # In place: the entry is thrown away after, and a copy per item shows at 100,000.
    if entry[_PATH] is None:
        entry[_PATH] = entry[0]
    published = entry[_PUBLISHED]
    published = entry[_PUBLISHED] = \
        _from_iso(published) if type(published) is str else _decode_value(published)
    updated = entry[_UPDATED]
    entry[_UPDATED] = published if updated is None else \
        _from_iso(updated) if type(updated) is str else _decode_value(updated)
    names = tuple(map(tuple, entry[_AUTHORS]))
    entry[_AUTHORS] = authors.get(names) or authors.setdefault(
        names, tuple(Author(*fields) for fields in names))  # one object each: sites have few
    contributors = entry[_CONTRIBUTORS]
    entry[_CONTRIBUTORS] = tuple(Author(*fields) for fields in contributors) \
        if contributors else ()
    media = entry[_MEDIA]
    if media is not None:
        entry[_MEDIA] = _decode_media(media)
    tags = entry[_TAGS] = tuple(entry[_TAGS])
    keys = entry[_TAG_KEYS]
    entry[_TAG_KEYS] = tags if keys is None else tuple(keys)
    entry[_ALIASES] = tuple(entry[_ALIASES])
    extra = entry[_EXTRA]
    entry[_EXTRA] = {} if extra is None else _decode_value(extra)
    warnings = entry[_WARNINGS]
    entry[_WARNINGS] = tuple(map(tuple, warnings)) if warnings else ()
    for index in _OTHER_FIELDS:
        entry[index] = _decode_value(entry[index])
    # As pickle did, the fields are set without calling __init__ (a frozen dataclass's
    # costs a call per field and checks nothing). Set pair by pair, in field order, the
    # instance keeps the class's shared-key dict: a third of the memory of a plain one.
    item = _new_item(Item)
    item.__dict__.update(zip(_ITEM_FIELDS, islice(entry, _FIRST, None), strict=True))
    return item


def _decode_media(fields: list) -> Media:
    """`_encode_media` read back: Media's fields by position, its enclosures and transcripts
    as lists of their fields."""
    enclosures, transcripts = fields[0], fields[-1]
    return Media(tuple(Enclosure(*enclosure) for enclosure in enclosures), *fields[1:-1],
                 tuple(Transcript(*transcript) for transcript in transcripts))


def _decode_value(value) -> Any:
    """A front matter value (or any field without a codec of its own), as `_encode_value`
    wrote it."""
    if type(value) is not list:
        return value
    kind = value[0]
    if kind == "list":
        return [_decode_value(element) for element in value[1:]]
    if kind == "dict":
        it = map(_decode_value, value[1:])
        return dict(zip(it, it, strict=True))
    if kind == "tuple":
        return tuple(_decode_value(element) for element in value[1:])
    if kind == "date":
        return date.fromisoformat(value[1])
    if kind == "datetime":
        return datetime.fromisoformat(value[1]).replace(tzinfo=_decode_zone(value[2]),
                                                         fold=value[3])
    if kind == "time":
        return time.fromisoformat(value[1]).replace(tzinfo=_decode_zone(value[2]),
                                                    fold=value[3])
    raise ValueError(f"unknown value kind {kind!r}")


def _decode_zone(value: list | None) -> timezone | None:
    if value is None:
        return None
    offset = timedelta(value[0], value[1], value[2])
    return timezone(offset) if value[3] is None else timezone(offset, value[3])


# -- writing -------------------------------------------------------------------------------


def save(settings: Settings, entries: dict, encoded: dict[str, str] | None = None) -> str:
    """Write atomically (temp file + rename), so a crash or a second process never leaves a
    torn cache behind. Never raises: a cache that cannot be written only costs a slower start.
    Returns why it could not be written (logged once), or "" when it was.

    `encoded`: more entries, already written as text (`entry_text`), by relative path; an
    entry in both is written from `entries`."""
    path = None
    try:
        path = cache_path(settings)
        if path is None:
            return ""
        payload = _encode(_fingerprint(settings), entries, encoded or {})
        digest = hashlib.sha256(payload).hexdigest().encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, MAGIC + digest + b"\n" + payload)
    except Exception as error:  # read-only, disk full, or a bug of ours: the store goes on
        reported = (str(path), getattr(error, "errno", None))
        (log.debug if reported in _reported else log.warning)("cannot write cache %s: %s",
                                                              path, error)
        _reported.add(reported)
        return f"cannot write cache {path}: {error}"
    _reported.difference_update({failure for failure in _reported if failure[0] == str(path)})
    for suffix in OLD_SUFFIXES:  # an older format's file would otherwise stay forever
        try:
            path.with_suffix(suffix).unlink(missing_ok=True)
        except OSError:
            pass
    return ""


def _write_atomically(path: Path, data: bytes) -> None:
    _remove_abandoned(path)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with open(descriptor, "wb") as file:
            file.write(data)
        os.replace(name, path)
    except BaseException:
        try:
            os.unlink(name)  # a full disk must not keep a half-written file around
        except OSError:
            pass
        raise


ABANDONED_AFTER = 3600  # seconds: no write takes that long; another process's may be younger


def _remove_abandoned(path: Path) -> None:
    """Temp files of writes that never finished (the process was killed mid-write)."""
    now = datetime.now().timestamp()
    for leftover in path.parent.glob(glob.escape(path.name) + ".*"):
        try:
            if leftover.suffix not in OLD_SUFFIXES and \
                    now - leftover.stat().st_mtime > ABANDONED_AFTER:
                leftover.unlink()
        except OSError:
            pass


def _encode(fingerprint: str, entries: dict, encoded: dict[str, str]) -> bytes:
    texts = [text for relpath, text in encoded.items() if relpath not in entries]
    for relpath, (key, result) in entries.items():
        text = entry_text(relpath, key, result)
        if text is not None:
            texts.append(text)
    return ("[" + _dumps(fingerprint) + ",[" + ",".join(texts) + "]]").encode()


def entry_text(relpath: str, key: tuple, result) -> str | None:
    """The cache entry for one file, as the JSON text the cache file holds; None for a result
    the format cannot write back exactly (the file is parsed again at the next start)."""
    encoded = entry_and_text(relpath, key, result)
    return encoded and encoded[1]


def entry_and_text(relpath: str, key: tuple, result) -> tuple[list, str] | None:
    """`entry_text`, and the entry as the values that text holds.

    The parse workers of a cold start hand their results back in both forms
    (`parsing._parse_chunk`): the values, marshalled, for the main process to build its
    items from (marshal reads them back five times as fast as JSON), and the text, which the
    cache file is then written from without encoding again."""
    try:
        entry = _encode_entry(relpath, key, result)
        return entry, _dumps(entry)
    except (Unencodable, RecursionError, ValueError, TypeError) as error:
        # ValueError, TypeError: what only the JSON writer refuses (an integer too long).
        log.debug("not caching %s: %s", relpath, error)
        return None


def entries_from_values(entries: list, root: str) -> dict:
    """{relative path: (stat key, result)} from entries `entry_and_text` made (their JSON
    text read back, or the values themselves: the decoders take a tuple where JSON gives a
    list), for the items folder `root`."""
    return _decode_entries(entries, root)


def _dumps(value) -> str:
    # ASCII only: a lone surrogate in a string (YAML can write one) must not break the write.
    return json.dumps(value, ensure_ascii=True, allow_nan=True, check_circular=False,
                      separators=(",", ":"))


def _encode_entry(relpath: str, key: tuple, result) -> list:
    # Tuples are written as JSON arrays: the decoders know which ones to make tuples again.
    if type(relpath) is not str or type(key) is not tuple or not _types(key) <= {int, str}:
        raise Unencodable(f"unexpected entry key {relpath!r}: {key!r}")
    if type(result) is Item:
        return _encode_item(relpath, key, result)
    if type(result) is Section:
        values = [getattr(result, field.name) for field in dataclasses.fields(Section)]
        if _types(values) != {str}:
            raise Unencodable(f"unexpected section {result!r}")
        return [relpath, key, "section", *values]
    if type(result) is ItemError:
        values = [result.path, result.line, result.message, result.skipped]
        if type(values[0]) is not str or type(values[2]) is not str or \
                type(values[3]) is not bool or not (values[1] is None or type(values[1]) is int):
            raise Unencodable(f"unexpected error {result!r}")
        return [relpath, key, "error", *values]
    raise Unencodable(f"cannot cache a {type(result).__name__}")


def _types(values) -> set[type]:
    return set(map(type, values))


def _encode_item(relpath: str, key: tuple, item: Item) -> list:
    """[relpath, key, "item", the Item's fields by position, each as JSON can hold it]."""
    entry = [relpath, key, "item", *_item_values(vars(item))]
    # JSON's own values are written as they are, once checked to be what they should be: a
    # str subclass, say, would come back as a plain str.
    if _types(_text_values(entry)) != {str} or not _types(_flag_values(entry)) <= {bool}:
        raise Unencodable("a text or flag field holds something else")
    _text_or_none(entry[_BODY])
    published = entry[_PUBLISHED] = _encode_datetime(entry[_PUBLISHED])
    updated = _encode_datetime(entry[_UPDATED])
    tags, keys = _texts(entry[_TAGS]), _texts(entry[_TAG_KEYS])
    # Most items were never updated, and most tags are their own key: these are written
    # once, and share one object when read back.
    entry[_UPDATED] = None if updated == published else updated
    entry[_TAG_KEYS] = None if keys == tags else keys
    entry[_PATH] = None if entry[_PATH] == relpath else entry[_PATH]
    entry[_AUTHORS] = _encode_authors(entry[_AUTHORS])
    entry[_CONTRIBUTORS] = _encode_authors(entry[_CONTRIBUTORS]) or None
    if entry[_MEDIA] is not None:
        entry[_MEDIA] = _encode_media(entry[_MEDIA])
    _texts(entry[_ALIASES])
    extra = entry[_EXTRA]
    if type(extra) is not dict:
        raise Unencodable(f"extra is a {type(extra).__name__}, not a dict")
    entry[_EXTRA] = _encode_value(extra) if extra else None  # most items have none
    _check_warnings(entry[_WARNINGS])
    for index in _OTHER_FIELDS:
        entry[index] = _encode_value(entry[index])
    return entry


def _text_or_none(value) -> str | None:
    if value is not None and type(value) is not str:
        raise Unencodable(f"expected text or None, not {type(value).__name__}")
    return value


def _texts(value: tuple) -> tuple:
    if type(value) is not tuple or (value and _types(value) != {str}):
        raise Unencodable(f"expected a tuple of text, not {value!r}")
    return value


def _encode_datetime(value: datetime) -> str | list:
    # An ISO string comes back exactly (offset included) when the zone is a plain offset
    # and fold is 0, as for every Item (UTC); anything else takes the general form.
    if type(value) is datetime and value.fold == 0 and (
            value.tzinfo is _UTC or value.tzinfo is None or _unnamed_offset(value.tzinfo)):
        return value.isoformat()
    return _encode_value(value)


def _unnamed_offset(zone) -> bool:
    return type(zone) is timezone and len(zone.__getinitargs__()) == 1


def _encode_authors(value: tuple) -> list:
    if type(value) is not tuple or (value and _types(value) != {Author}):
        raise Unencodable(f"unexpected authors {value!r}")
    authors = [(author.name, author.email, author.uri) for author in value]
    if authors and _types(field for author in authors for field in author) != {str}:
        raise Unencodable(f"unexpected authors {value!r}")
    return authors


def _encode_media(media: Media) -> list:
    if type(media) is not Media or type(media.enclosures) is not tuple or \
            type(media.transcripts) is not tuple:
        raise Unencodable(f"unexpected media {media!r}")
    values = [getattr(media, field.name) for field in dataclasses.fields(Media)]
    enclosures = [_plain_fields(enclosure, Enclosure) for enclosure in media.enclosures]
    transcripts = [_plain_fields(transcript, Transcript) for transcript in media.transcripts]
    if not _types(values[1:-1]) <= {str, int, bool, type(None)}:
        raise Unencodable(f"unexpected media {media!r}")
    return [enclosures, *values[1:-1], transcripts]


def _plain_fields(value, kind: type) -> list:
    """The fields of a dataclass of text and numbers, by position."""
    if type(value) is not kind:
        raise Unencodable(f"expected a {kind.__name__}, not {value!r}")
    fields = [getattr(value, field.name) for field in dataclasses.fields(kind)]
    if not _types(fields) <= {str, int}:
        raise Unencodable(f"unexpected {kind.__name__} {value!r}")
    return fields


def _check_warnings(value: tuple) -> None:
    if type(value) is not tuple:
        raise Unencodable(f"unexpected warnings {value!r}")
    for warning in value:
        if type(warning) is not tuple or len(warning) != 2 or type(warning[1]) is not str \
                or not (warning[0] is None or type(warning[0]) is int):
            raise Unencodable(f"unexpected warning {warning!r}")


def _encode_value(value, depth: int = 0) -> Any:
    """Any front matter value YAML or TOML produce, in a form `_decode_value` reads back
    exactly; `Unencodable` for anything else."""
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return value
    if depth >= MAX_DEPTH:
        raise Unencodable(f"nested more than {MAX_DEPTH} deep")
    depth += 1
    if kind is list:
        return ["list", *(_encode_value(element, depth) for element in value)]
    if kind is tuple:
        return ["tuple", *(_encode_value(element, depth) for element in value)]
    if kind is dict:
        flat = ["dict"]
        for key, element in value.items():
            flat += (_encode_value(key, depth), _encode_value(element, depth))
        return flat
    if kind is date:
        return ["date", value.isoformat()]
    if kind is datetime:
        return ["datetime", value.replace(tzinfo=None).isoformat(),
                _encode_zone(value.tzinfo), value.fold]
    if kind is time:
        return ["time", value.replace(tzinfo=None).isoformat(),
                _encode_zone(value.tzinfo), value.fold]
    raise Unencodable(f"cannot cache a {kind.__name__} value")


def _encode_zone(zone) -> list | None:
    """A fixed offset, as YAML and TOML write them (named or not); None for no zone."""
    if zone is None:
        return None
    if type(zone) is not timezone:
        raise Unencodable(f"cannot cache the time zone {zone!r}")
    offset, *name = zone.__getinitargs__()
    return [offset.days, offset.seconds, offset.microseconds, name[0] if name else None]


# -- the Item's fields, by position -------------------------------------------------------

_UTC = timezone.utc
_TEXT_FIELDS = ("path", "slug", "id", "url", "title", "date_source", "summary", "format",
                "lang", "source")
_FLAG_FIELDS = ("draft", "bundle", "expanded")
_CODED_FIELDS = ("published", "updated", "authors", "tags", "body", "extra", "warnings",
                 "tag_keys", "aliases", "contributors", "media")  # by _encode_item, _decode_item
_FIRST = 3  # an item's entry: [relative path, stat key, "item", *fields]


def _position(name: str) -> int:
    return _FIRST + _ITEM_FIELDS.index(name)


(_PUBLISHED, _UPDATED, _AUTHORS, _TAGS, _BODY, _EXTRA, _WARNINGS, _TAG_KEYS,
 _ALIASES, _CONTRIBUTORS, _MEDIA) = map(_position, _CODED_FIELDS)
_PATH = _position("path")  # a text field, but most often the entry's own path
_SOURCE = _position("source")
# A field added to Item and not named above goes through the general codec, both ways.
_OTHER_FIELDS = [_position(name) for name in _ITEM_FIELDS
                 if name not in {*_TEXT_FIELDS, *_FLAG_FIELDS, *_CODED_FIELDS}]
_item_values = itemgetter(*_ITEM_FIELDS)
_text_values = itemgetter(*map(_position, _TEXT_FIELDS))
_flag_values = itemgetter(*map(_position, _FLAG_FIELDS))
