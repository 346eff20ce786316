"""RFC 9110 range requests (section 14) and preconditions (section 13) for files served from
the items folder as they are on disk: a podcast app seeks in an episode by asking for the
bytes from where the listener is, and resumes a broken download from where it stopped.

One range per request (`bytes=0-499`, `bytes=500-`, `bytes=-500`): what players ask for. A
request for several ranges gets the whole file, as section 14.2 allows; a range past the end
gets 416 with the file's length. The validators come from the file's stat, as nginx's do, so
they are the same in every worker and after a restart, and nothing is read to make them.
Nothing here knows about Flask.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .responses import parse_http_date

CHUNK = 256 * 1024
_ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')
_RANGE_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass(frozen=True)
class FileVersion:
    """What the validators of a file's current bytes are made of."""

    size: int
    etag: str  # strong, quoted
    last_modified: datetime  # whole seconds, never in the future


def file_version(status: os.stat_result, now: float) -> FileVersion:
    modified = min(status.st_mtime, now)  # RFC 9110 8.8.2.1: never later than the response
    return FileVersion(status.st_size, f'"{status.st_mtime_ns:x}-{status.st_size:x}"',
                       datetime.fromtimestamp(int(modified), timezone.utc))


@dataclass(frozen=True)
class Decision:
    status: int  # 200, 206, 304, 412 or 416
    start: int = 0
    stop: int = 0  # exclusive: the body is bytes start..stop-1


def decide(headers, version: FileVersion) -> Decision:
    """The answer to a GET or HEAD with these request headers (a mapping, case-insensitive
    as HTTP's are), in section 13.2.2's order."""
    whole = Decision(200, 0, version.size)
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not _tag_matches(if_match, version.etag, strong=True):
            return Decision(412)
    elif _date(headers.get("If-Unmodified-Since"), version.last_modified, later=True):
        return Decision(412)
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        if _tag_matches(if_none_match, version.etag, strong=False):
            return Decision(304)
    elif _date(headers.get("If-Modified-Since"), version.last_modified, later=False):
        return Decision(304)
    requested = headers.get("Range")
    if requested is None:
        return whole
    if_range = headers.get("If-Range")
    if if_range is not None and not _if_range_holds(if_range, version):
        return whole  # the client's copy is another version: it gets this one whole
    return _ranged(requested, version.size) or whole


def content_range(decision: Decision, size: int) -> str:
    if decision.status == 416:
        return f"bytes */{size}"
    return f"bytes {decision.start}-{decision.stop - 1}/{size}"


def _ranged(requested: str, size: int) -> Decision | None:
    """206 or 416 for one valid byte range; None to ignore the header (section 14.2: another
    unit, bad syntax, or several ranges)."""
    unit, _, specs = requested.partition("=")
    if unit.strip().lower() != "bytes" or "," in specs:
        return None
    match = _RANGE_SPEC.match(specs)
    if match is None or not (match[1] or match[2]):
        return None
    if match[1]:
        first = int(match[1])
        last = int(match[2]) if match[2] else size - 1
        if match[2] and last < first:
            return None  # invalid (section 14.1.1), so ignored
        if first >= size:
            return Decision(416)
        return Decision(206, first, min(last, size - 1) + 1)
    suffix = int(match[2])
    if suffix == 0 or size == 0:
        return Decision(416)
    return Decision(206, max(0, size - suffix), size)


def _tag_matches(header: str, etag: str, strong: bool) -> bool:
    """Section 13.1.1 and 13.1.2: `*`, or a listed tag equal to ours (strong comparison: no
    weak tag ever matches)."""
    if header.strip() == "*":
        return True
    return any(opaque == etag[1:-1] and not (strong and weak)
               for weak, opaque in _ENTITY_TAG.findall(header))


def _if_range_holds(header: str, version: FileVersion) -> bool:
    """Section 13.1.5: an entity tag by strong comparison, or a date exactly ours."""
    header = header.strip()
    if header.startswith(('"', "W/")):
        return _tag_matches(header, version.etag, strong=True) and "," not in header
    return parse_http_date(header) == version.last_modified


def _date(header: str | None, modified: datetime, later: bool) -> bool:
    """If-Unmodified-Since fails (`later`: modified after the date) / If-Modified-Since holds
    (not modified after it). An invalid date is ignored (section 13.1.3)."""
    since = parse_http_date(header) if header else None
    if since is None:
        return False
    return modified > since if later else modified <= since


# granian queues up to 4 chunks of a streamed body; a Python thread then waits until the
# client takes more. A slice of at most this many bytes never waits on the client.
UNHELD_BYTES = 4 * CHUNK


class FileSlice:
    """The bytes start..stop-1 of an open file, in chunks, as a WSGI body; closed by the
    server when done or when the client goes away. `release` (if any) is called once, at
    the close."""

    def __init__(self, file, start: int, stop: int, release=None):
        self.file, self.position, self.stop = file, start, stop
        self._release = release

    def __iter__(self):
        self.file.seek(self.position)
        while self.position < self.stop:
            chunk = self.file.read(min(CHUNK, self.stop - self.position))
            if not chunk:
                break  # the file shrank while sent: the client sees a short body
            self.position += len(chunk)
            yield chunk

    def close(self) -> None:
        self.file.close()
        release, self._release = self._release, None
        if release is not None:
            release()
