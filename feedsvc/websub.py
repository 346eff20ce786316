"""WebSub publishing: tell every configured hub which feed topics changed.

The store calls `Publisher.snapshot_changed(old, new)` after each new snapshot. Topics whose
items changed are queued; a background thread POSTs `hub.mode=publish` / `hub.url=<topic>` to
each hub, retrying with exponential backoff. A topic that changes again while queued or in
flight is queued again, so the hub always fetches the latest version at least once.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .config import Settings
from . import urls
from .feeds import MEDIA_TYPES
from .selections import selections
from .store import Snapshot

log = logging.getLogger("feedsvc.websub")
MAX_ATTEMPTS = 5
FIRST_BACKOFF = 1.0  # seconds; doubled after every failed attempt
TIMEOUT = 10.0


def changed_topics(old: Snapshot, new: Snapshot, settings: Settings) -> list[str]:
    """Topic URLs (every format of every site, tag and section feed) whose documents differ."""
    size = settings.feed_size
    before = {(s.kind, s.key): s for s in selections(old, settings)}
    after = {(s.kind, s.key): s for s in selections(new, settings)}
    topics = []
    for key in sorted(set(before) | set(after)):
        old_items = before[key].items if key in before else ()
        new_items = after[key].items if key in after else ()
        # Items are immutable: the same objects in the same order mean the same document,
        # unless the archive count (and so the prev-archive link) moved.
        same = (len(old_items[:size]) == len(new_items[:size])
                and all(a is b for a, b in zip(old_items[:size], new_items[:size]))
                and len(old_items) // size == len(new_items) // size)
        if not same:
            chosen = after.get(key) or before[key]
            topics.extend(urls.feed(settings, chosen.kind, chosen.key, fmt) for fmt in MEDIA_TYPES)
    return topics


class Publisher:
    def __init__(self, settings: Settings):
        self.settings = settings
        # With several server processes on one folder, each sees every change; the one that
        # holds this lock is the one that tells the hubs, so each change is announced once.
        key = hashlib.sha256(f"{Path(settings.items_dir).resolve()}\0{settings.base_url}"
                             .encode()).hexdigest()[:16]
        self._lock_path = Path(tempfile.gettempdir()) / f"feedsvc-websub-{key}.lock"
        self._pid = None  # the process the lock file and the sending thread belong to
        self._pending: dict[tuple[str, str], tuple[int, float]] = {}  # (hub, topic) -> tries, due
        self._condition = threading.Condition()
        # In a forked `serve` worker: the other workers' progress (workers.Changes), so that
        # a hub fetching the feed at once gets the new one from whichever worker answers.
        self.changes = None
        self._applied = 0  # how far this worker had applied the changes at the last snapshot

    def _attach(self) -> None:
        """The lock file and the sending thread, in this process. Server workers are forked
        from the process that built the app: threads do not cross a fork, and a lock file
        description shared with a sibling would make both of them leaders."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._lock_file = open(self._lock_path, "a")
        self._pending, self._condition = {}, threading.Condition()
        threading.Thread(target=self._run, name="feedsvc-websub", daemon=True).start()

    def is_leader(self) -> bool:
        """Whether this process announces changes (asked again each time: if the leader
        exits, another process takes over at the next change)."""
        self._attach()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def snapshot_changed(self, old: Snapshot, new: Snapshot) -> None:
        if not self.is_leader():
            return
        topics = changed_topics(old, new, self.settings)
        if self.changes is not None:
            self._applied = self.changes.position
        with self._condition:
            for hub in self.settings.hubs:
                for topic in topics:
                    self._pending[(hub, topic)] = (0, 0.0)  # a fresh change resets retries
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                job = self._next_due()
                if job is None:
                    self._condition.wait(timeout=self._wait_time())
                    continue
                key, tries = job
                del self._pending[key]
            hub, topic = key
            if self.changes is not None:
                self.changes.wait_for_workers(self._applied)
            if self._post(hub, topic):
                continue
            if tries + 1 >= MAX_ATTEMPTS:
                log.error("hub %s: giving up on %s after %d attempts", hub, topic, MAX_ATTEMPTS)
                continue
            with self._condition:
                # A newer change may have queued it meanwhile; that one keeps its fresh count.
                self._pending.setdefault(key, (tries + 1,
                                               time.monotonic() + FIRST_BACKOFF * 2 ** tries))

    def _next_due(self):
        now = time.monotonic()
        for key, (tries, due) in self._pending.items():
            if due <= now:
                return key, tries
        return None

    def _wait_time(self) -> float | None:
        if not self._pending:
            return None
        return max(0.0, min(due for _, due in self._pending.values()) - time.monotonic())

    def _post(self, hub: str, topic: str) -> bool:
        # Publishing is outside the WebSub Recommendation: PubSubHubbub-era hubs read hub.url,
        # others (flask-websub) hub.topic. Both, so every hub understands.
        body = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": topic,
                                       "hub.topic": topic}).encode()
        request = urllib.request.Request(hub, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                ok = 200 <= response.status < 300
        except (urllib.error.URLError, OSError, ValueError) as error:
            log.warning("hub %s: publish %s failed: %s", hub, topic, error)
            return False
        if ok:
            log.info("hub %s: published %s", hub, topic)
        return ok
