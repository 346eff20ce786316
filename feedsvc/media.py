"""Front matter that makes an item more than text: its enclosures (a podcast episode's audio,
a download), its picture, and an episode's podcast details.

Read while the item is parsed, and only for an item that has one of these keys: most items
have none, and a cold start parses 100,000 of them. An enclosure that is a file of the item's
page bundle (`episode.mp3` beside `index.md`) gets its length and type from the file, so the
bundle's key (folder.py) covers the files beside its index: replacing the audio re-reads it.

A bad enclosure is an `ItemError` (an episode without its audio is no episode); a bad picture
or podcast detail is a warning and left out, since those keys are common in other generators'
front matter and an old post must not stop publishing over them.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from .frontmatter import ItemError
from .text import clean_text

ENCLOSURE_KEYS = ("enclosure", "enclosures")
IMAGE_KEYS = ("image", "images")
# An episode's details are read only for an item with an enclosure: on other items `duration`
# or `explicit` mean something else (a recipe's cooking time) and are left alone.
EPISODE_KEYS = ("duration", "episode", "season", "episode_type", "explicit", "transcript",
                "transcripts")
KEYS = frozenset(ENCLOSURE_KEYS + IMAGE_KEYS + EPISODE_KEYS)
EPISODE_TYPES = ("full", "trailer", "bonus")  # Apple's itunes:episodeType
# Types by name, before the platform's own table (which differs between machines and would
# change the feed's bytes with them). Apple's own names for its formats.
MEDIA_TYPES = {
    "mp3": "audio/mpeg", "m4a": "audio/x-m4a", "aac": "audio/aac", "opus": "audio/opus",
    "ogg": "audio/ogg", "oga": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav",
    "mp4": "video/mp4", "m4v": "video/x-m4v", "mov": "video/quicktime", "webm": "video/webm",
    "pdf": "application/pdf", "epub": "application/epub+zip",
    "vtt": "text/vtt", "srt": "application/x-subrip", "json": "application/json",
    "txt": "text/plain", "html": "text/html",
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
    "gif": "image/gif", "avif": "image/avif", "svg": "image/svg+xml",
}
UNKNOWN_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Enclosure:
    """A file that comes with the item: RSS <enclosure>, Atom link rel="enclosure", a JSON
    Feed attachment."""

    url: str  # absolute
    type: str  # its media type
    length: int = 0  # bytes; 0 when unknown (RSS Best Practices: "0" for unknown)
    duration: int = 0  # seconds; 0 when unknown
    title: str = ""
    file: str = ""  # its name beside the bundle's index.md when it is a bundle file

    @property
    def name(self) -> str:
        """What a page calls it: its title, else its file name."""
        return self.title or unquote(urlsplit(self.url).path.rpartition("/")[2]) or self.url

    @property
    def facts(self) -> str:
        """`MP3 audio, 57.2 MB, 1:02:03`: what a listener wants to know before a download."""
        suffix = posixpath.splitext(urlsplit(self.url).path)[1][1:].upper()
        kind = self.type.partition("/")[0]
        parts = [f"{suffix} {kind}".strip() if kind in ("audio", "video") else suffix]
        if self.length:
            parts.append(_size(self.length))
        if self.duration:
            hours, rest = divmod(self.duration, 3600)
            parts.append(f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else
                         f"{rest // 60}:{rest % 60:02d}")
        return ", ".join(part for part in parts if part)


@dataclass(frozen=True)
class Transcript:
    """Podcasting 2.0's podcast:transcript."""

    url: str
    type: str
    language: str = ""
    rel: str = ""  # "captions": timed captions


@dataclass(frozen=True)
class Media:
    enclosures: tuple[Enclosure, ...] = ()
    image: str = ""  # absolute URL of the item's own picture; "" when it names none
    image_alt: str = ""
    duration: int = 0  # the episode's seconds: its own, else its first enclosure's
    episode: int = 0
    season: int = 0
    episode_type: str = ""  # full, trailer or bonus
    explicit: bool | None = None
    transcripts: tuple[Transcript, ...] = ()


def _size(length: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if length < 1000 or unit == "GB":
            return f"{length} {unit}" if unit == "bytes" else f"{length:.1f} {unit}"
        length /= 1000
    return ""


def media_type(name: str) -> str:
    """The media type of a file by its name (a URL's path will do)."""
    suffix = posixpath.splitext(name)[1][1:].lower()
    found = MEDIA_TYPES.get(suffix)
    if found is None:
        import mimetypes  # rare: only for names the table above does not know

        found = mimetypes.guess_type("x." + suffix)[0] if suffix else None
    return found or UNKNOWN_TYPE


@dataclass(frozen=True)
class Place:
    """Where an item's references resolve: `page` (its URL, or its bundle's base), the bundle
    folder on disk ("" for an item that is no bundle), the items folder and `base_url`."""

    relpath: str
    page: str
    folder: str
    root: str
    base_url: str


def read_media(relpath: str, meta: dict, place: Place,
               warnings: list[str]) -> Media | None:
    """The item's `Media`, or None when its front matter names none."""
    enclosures = _enclosures(meta, place, warnings)
    image, alt = _image(meta, place, warnings)
    if not enclosures:
        return Media(image=image, image_alt=alt) if image else None
    duration = _duration(meta, "duration", warnings)
    if duration and not enclosures[0].duration:
        first = enclosures[0]
        enclosures = (Enclosure(first.url, first.type, first.length, duration, first.title,
                                first.file), *enclosures[1:])
    return Media(
        enclosures=enclosures, image=image, image_alt=alt,
        duration=duration or enclosures[0].duration,
        episode=_number(meta, "episode", warnings), season=_number(meta, "season", warnings),
        episode_type=_choice(meta, "episode_type", EPISODE_TYPES, warnings),
        explicit=_flag(meta, "explicit", warnings),
        transcripts=_transcripts(meta, place, warnings))


# -- enclosures ----------------------------------------------------------------------------

def _enclosures(meta: dict, place: Place, warnings: list[str]) -> tuple[Enclosure, ...]:
    found = []
    for key in ENCLOSURE_KEYS:
        value = meta.get(key)
        if value is None:
            continue
        for entry in value if isinstance(value, list) else [value]:
            found.append(_enclosure(key, entry, meta, place, warnings))
    return tuple(found)


def _enclosure(key: str, entry, meta: dict, place: Place, warnings: list[str]) -> Enclosure:
    line = _key_line(meta, key)
    if isinstance(entry, str):
        entry = {"url": entry}
    if not isinstance(entry, dict):
        raise ItemError(place.relpath, line, f"{key!r} must be a URL, a file beside index.md, "
                        "or a mapping with url, length and type (or a list of those)")
    reference = _text(entry.get("url") or entry.get("href") or entry.get("file"))
    if not reference:
        raise ItemError(place.relpath, line, f"{key!r}: an enclosure needs a url")
    url, path = _resolve(reference, place)
    if not url:
        raise ItemError(place.relpath, line, f"{key!r}: {reference[:80]!r} is not an http(s) "
                        "URL, a /path under base_url or a file beside a bundle's index.md")
    kind = _text(entry.get("type") or entry.get("mime_type")) or media_type(urlsplit(url).path)
    duration = _duration(entry, "duration", warnings, f"{key} duration")
    title = _text(entry.get("title"))
    if path:
        return Enclosure(url, kind, _file_size(reference, path, place, line), duration, title,
                         posixpath.basename(path))
    length = entry.get("length", entry.get("size_in_bytes"))
    if length is not None and not (isinstance(length, int) and not isinstance(length, bool)
                                   and length >= 0):
        if not (isinstance(length, str) and length.strip().isdigit()):
            raise ItemError(place.relpath, line, f"{key!r}: length must be the file's size "
                            f"in bytes, not {str(length)[:40]!r}")
    length = int(length or 0)
    if not length:
        warnings.append(f"enclosure {url[:80]} has no length: podcast apps show no size "
                        "(give length: in bytes)")
    if kind == UNKNOWN_TYPE:
        warnings.append(f"enclosure {url[:80]}: no type given and none known for its name "
                        "(give type:, e.g. audio/mpeg)")
    return Enclosure(url, kind, length, duration, title)


def _file_size(reference: str, path: str, place: Place, line: int) -> int:
    """The size of a bundle file, which must really be in the bundle (and the items folder)."""
    try:
        status = os.lstat(path)
        # The name has no `/` and the store reads no folder through a link, so only a link
        # here can lead outside (the root itself is not cached: a deploy may swap it).
        inside = not stat.S_ISLNK(status.st_mode) or os.path.realpath(path).startswith(
            os.path.realpath(place.root) + os.sep)
        status = os.stat(path) if stat.S_ISLNK(status.st_mode) else status
    except (OSError, ValueError):
        status, inside = None, False
    if status is None or not stat.S_ISREG(status.st_mode) or not inside:
        folder = place.relpath.rpartition("/")[0]
        raise ItemError(place.relpath, line, f"enclosure {reference[:80]!r} is not a file in "
                        f"{folder}/: copy it there beside index.md, or give its URL")
    return status.st_size


def _resolve(reference: str, place: Place) -> tuple[str, str]:
    """(absolute URL, bundle file path or "") of a reference; ("", "") when it is neither a
    web URL nor a path we can make one of."""
    parts = urlsplit(reference)
    if parts.scheme or reference.startswith("//"):
        absolute = reference if parts.scheme else "https:" + reference
        ok = urlsplit(absolute).scheme in ("http", "https") and urlsplit(absolute).netloc
        return (absolute, "") if ok else ("", "")
    if reference.startswith("/") or not place.folder:
        # Site paths, as Jekyll's and Hugo's `image` are: under base_url.
        return place.base_url + quote(reference.lstrip("/"), safe="/-._~!$&'()*+,;=:@%"), ""
    name = unquote(reference)
    if "/" in name or name.startswith(".") or name.lower().startswith("index."):
        return "", ""  # a bundle's files are the ones beside its index.md
    return place.page + quote(name), os.path.join(place.folder, name)


# -- the picture ---------------------------------------------------------------------------

def _image(meta: dict, place: Place, warnings: list[str]) -> tuple[str, str]:
    """(URL, alt text) of `image` (a URL or path, or Jekyll SEO's mapping with path and alt)
    or of the first of Hugo's `images`."""
    for key in IMAGE_KEYS:
        value = meta.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            value = value[0] if value else None
        alt = ""
        if isinstance(value, dict):
            alt = _text(value.get("alt"))
            value = value.get("path") or value.get("url") or value.get("src")
        reference = _text(value)
        url = _resolve(reference, place)[0] if reference else ""
        if url:
            return url, alt
        warnings.append(f"{key} {str(value)[:60]!r} is not a picture's URL or path: ignored")
    return "", ""


# -- an episode's details ------------------------------------------------------------------

def _transcripts(meta: dict, place: Place, warnings: list[str]) -> tuple[Transcript, ...]:
    found = []
    for key in ("transcript", "transcripts"):
        value = meta.get(key)
        for entry in (value if isinstance(value, list) else [value]) if value else ():
            if isinstance(entry, str):
                entry = {"url": entry}
            reference = _text(entry.get("url")) if isinstance(entry, dict) else ""
            url = _resolve(reference, place)[0] if reference else ""
            if not url:
                warnings.append(f"{key} {str(entry)[:60]!r} is not a URL or a file beside "
                                "index.md: ignored")
                continue
            found.append(Transcript(url, _text(entry.get("type")) or media_type(url),
                                    _text(entry.get("language")), _text(entry.get("rel"))))
    return tuple(found)


def _duration(meta: dict, key: str, warnings: list[str], name: str = "") -> int:
    """Seconds from `3723`, `"1:02:03"` or `"62:03"` (YAML reads an unquoted 1:02:03 as
    3723 itself, base 60)."""
    value = meta.get(key)
    if value is None:
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return int(round(value))
    parts = str(value).strip().split(":")
    if 1 <= len(parts) <= 3 and all(part.isdigit() for part in parts) and \
            all(int(part) < 60 for part in parts[1:]):
        seconds = 0
        for part in parts:
            seconds = seconds * 60 + int(part)
        return seconds
    warnings.append(f"{name or key} {str(value)[:40]!r} is not a duration (write 1:02:03, "
                    "or seconds): ignored")
    return 0


def _number(meta: dict, key: str, warnings: list[str]) -> int:
    value = meta.get(key)
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    warnings.append(f"{key} {str(value)[:40]!r} is not a whole number from 1: ignored")
    return 0


def _choice(meta: dict, key: str, choices: tuple[str, ...], warnings: list[str]) -> str:
    value = meta.get(key)
    if value is None:
        return ""
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    warnings.append(f"{key} {str(value)[:40]!r} is none of {', '.join(choices)}: ignored")
    return ""


def _flag(meta: dict, key: str, warnings: list[str]) -> bool | None:
    value = meta.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no",
                                                            "clean"):
        return value.strip().lower() in ("true", "yes")
    warnings.append(f"{key} {str(value)[:40]!r} is neither true nor false: ignored")
    return None


def _text(value) -> str:
    return clean_text(str(value)).strip() if isinstance(value, (str, int, float)) else ""


def _key_line(meta: dict, key: str) -> int:
    """As items._key_line: front matter starts on line 2, dicts keep the file's order."""
    try:
        return list(meta).index(key) + 2
    except ValueError:
        return 1
