"""Retrieval: a path or an http(s) URL -> the bytes to import, and what they are."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

from .article import SourceError

PAGE_SUFFIXES = {".html": "html", ".htm": "html", ".xhtml": "html", ".txt": "text"}
PAGE_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "text/plain": "text"}
# A saved page or a feed export can be large (a whole blog in one RSS file), but not this.
MAX_SOURCE_BYTES = 50_000_000
TIMEOUT = 30  # seconds: a server that sends nothing for this long is not going to
USER_AGENT = f"feedsvc/{version('feedsvc')} (import)"


@dataclass(frozen=True)
class Source:
    name: str  # as the user gave it: what every message names
    data: bytes
    kind: str  # "html", "text" or "" (unknown: a feed, or a page by its bytes)
    url: str = ""  # the URL the bytes came from, after redirects; "" for a file
    path: str = ""  # the absolute path of a file; "" for a URL
    charset: str = ""  # the charset the server declared, if any


def is_url(name: str) -> bool:
    return urlsplit(name).scheme in ("http", "https")


def expand(names: list[str]) -> list[str]:
    """The sources named: URLs and files as given, folders as the pages in them (sorted)."""
    found = []
    for name in names:
        path = Path(name)
        if not is_url(name) and path.is_dir():
            found.extend(str(file) for file in sorted(path.rglob("*"))
                         if file.suffix.lower() in PAGE_SUFFIXES and file.is_file()
                         and not any(part.startswith(".") for part in file.parts[-1:]))
        else:
            found.append(name)
    return list(dict.fromkeys(found))


def retrieve(name: str) -> Source:
    """The bytes of the file or URL `name`, or a SourceError saying why not."""
    if is_url(name):
        return _download(name)
    path = Path(name)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SOURCE_BYTES + 1)
    except FileNotFoundError:
        raise SourceError(name, "no such file") from None
    except IsADirectoryError:
        raise SourceError(name, "is a folder") from None
    except OSError as error:
        raise SourceError(name, f"cannot read: {error.strerror or error}") from None
    _check_size(name, data)
    return Source(name=name, data=data, kind=PAGE_SUFFIXES.get(path.suffix.lower(), ""),
                  path=str(path.resolve()))


def _download(url: str) -> Source:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            data = response.read(MAX_SOURCE_BYTES + 1)
            final_url = response.geturl()
            headers: Message = response.headers
    except urllib.error.HTTPError as error:
        raise SourceError(url, f"the server answered {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise SourceError(url, f"cannot fetch: {error.reason}") from None
    except (OSError, ValueError) as error:  # timeouts, resets, a malformed URL
        raise SourceError(url, f"cannot fetch: {error}") from None
    _check_size(url, data)
    media_type = headers.get_content_type()
    kind = PAGE_TYPES.get(media_type) or PAGE_SUFFIXES.get(
        Path(urlsplit(final_url).path).suffix.lower(), "")
    return Source(name=url, data=data, kind=kind, url=final_url,
                  charset=headers.get_content_charset() or "")


def _check_size(name: str, data: bytes) -> None:
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceError(name, f"larger than {MAX_SOURCE_BYTES // 1_000_000} MB: not a page "
                                "or feed this importer reads")
