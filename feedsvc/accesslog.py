"""The access log: one line per request in nginx's "combined" format, off the request path.

A request only appends a tuple of what it already has to a deque (thread-safe, no lock, no
formatting); a background thread turns them into lines about once a second and writes each
batch with one system call. Formatting and writing a line per request in the request thread
cost ~40% of the requests per second of a polled feed (benchmarks/README.md).
"""

from __future__ import annotations

import os
import sys
import time

from .flusher import Flusher

# Lines waiting when the output cannot keep up (a blocked pipe): beyond this the oldest go,
# so a stuck log never takes the server's memory with it.
MAX_PENDING = 100_000
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Request lines, referers and user agents come from clients: quotes, backslashes and control
# characters are escaped as nginx does (\xHH), so no client can forge or break a line.
_ESCAPES = {c: f"\\x{c:02X}" for c in (*range(0x20), 0x22, 0x5C, *range(0x7F, 0x100))}


class AccessLog(Flusher):
    """`record(environ, status, size)` from any request thread; lines reach `stream` (standard
    output, where granian's own access log went) within about a second of `start()`."""

    name = "feedsvc-access-log"

    def __init__(self, stream=None):
        super().__init__(MAX_PENDING)
        self._stream = stream
        self._stamp = (-1, "")  # (second, its formatted time), reused within the second

    def record(self, environ, status: int, size: int | str) -> None:
        # The fields, not the environ: a second of requests must not hold their environs.
        get = environ.get
        self._pending.append((time.time(), get("REMOTE_ADDR"), (
            get("REQUEST_METHOD"), get("RAW_URI") or get("REQUEST_URI"), get("PATH_INFO"),
            get("QUERY_STRING"), get("SERVER_PROTOCOL"), status, size, get("HTTP_REFERER"),
            get("HTTP_USER_AGENT"))))

    def flush(self) -> None:
        lines = []
        pending, line = self._pending, self._line
        tails: dict[tuple, str] = {}  # one formatting per distinct request in a flush
        while True:
            try:
                when, address, request = pending.popleft()
            except IndexError:
                break
            tail = tails.get(request)
            if tail is None:
                tail = tails[request] = self._tail(*request)
            lines.append(line(when, address, tail))
        if lines:
            data = "".join(lines).encode("utf-8", "backslashreplace")
            stream = self._stream or sys.stdout
            try:
                fd = stream.fileno()
                while data:
                    data = data[os.write(fd, data):]
            except (OSError, ValueError, AttributeError):
                try:  # not a file descriptor (a test's buffer), or it failed: the stream
                    stream.write(data.decode("utf-8"))
                    stream.flush()
                except (OSError, ValueError):
                    pass  # nowhere to write: losing log lines must not stop the server

    def _line(self, when: float, address, tail: str) -> str:
        second = int(when)
        if second != self._stamp[0]:
            t = time.gmtime(second)
            self._stamp = (second, f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
                                   f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")
        return f"{address or '-'} - - [{self._stamp[1]}] {tail}\n"

    @staticmethod
    def _tail(method, raw, path, query, protocol, status, size, referer, agent) -> str:
        """What follows the time: the request line, status, size, referer and user agent,
        the same for every poll of a feed by one reader software."""
        target = raw or (path or "") + (f"?{query}" if query else "")
        request, referer, agent = f"{method} {target} {protocol}", referer or "-", agent or "-"
        line = f'"{request}" {status} {size} "{referer}" "{agent}"'
        if not (line.isascii() and line.isprintable() and line.count('"') == 6
                and "\\" not in line):  # one look at the whole line, usually all it takes
            line = f'"{_clean(request)}" {status} {size} "{_clean(referer)}" "{_clean(agent)}"'
        return line


def _clean(text: str) -> str:
    """WSGI strings are bytes as latin-1: escape what a line must not hold."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return text.translate(_ESCAPES)
