"""Faults an operator meets (issue 11): what readers get while they last and after.

The real server runs where the fault is about deploys; the store alone, on an injected clock,
where it is about the order of events. Nothing here sleeps for a fixed time: every wait is on
a condition, with a deadline only as a safety net.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import feedparser

from conftest import Clock, write
from feedsvc.config import Settings
from feedsvc.store import Store

DEADLINE = 30.0


def wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def titles(server) -> set[str]:
    status, _, body = server.get("/feed.atom")
    assert status == 200
    return {entry.title for entry in feedparser.parse(body).entries}


def health(server) -> tuple[int, dict]:
    import json

    status, _, body = server.get("/healthz")
    return status, json.loads(body)


def test_a_vanished_folder_keeps_the_last_good_feed(serve, items_dir):
    server = serve(items_dir)
    before = titles(server)
    assert len(before) == 5
    away = items_dir.with_name("items-away")
    items_dir.rename(away)  # an unmounted share, a deploy that moves the folder
    status, body = wait_for(lambda: (s := health(server))[0] == 503 and s, "/healthz 503")
    assert body["status"] == "stale" and "does not exist" in body["faults"][0]
    assert titles(server) == before  # never an empty feed
    away.rename(items_dir)
    wait_for(lambda: health(server)[0] == 200, "/healthz 200 again")
    assert titles(server) == before
    write(items_dir, "back.md", "---\ntitle: Back again\ndate: 2025-01-01\n---\nx\n")
    wait_for(lambda: "Back again" in titles(server), "a new item after the fault")


def test_a_swapped_symlink_is_followed(serve, tmp_path):
    for release in ("1", "2"):
        write(tmp_path / "releases" / release, "post.md",
              f"---\ntitle: Release {release}\ndate: 2024-01-0{release}\n---\nx\n")
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "releases/1")
    server = serve(current)
    assert titles(server) == {"Release 1"}
    # The usual zero-downtime deploy: a new link, renamed over the old one in one step.
    (tmp_path / "next").symlink_to(tmp_path / "releases/2")
    os.replace(tmp_path / "next", current)
    wait_for(lambda: titles(server) == {"Release 2"}, "the new release")
    assert health(server)[0] == 200


def store_for(folder) -> Store:
    return Store(Settings(items_dir=folder, base_url="https://example.org/", cache=False),
                 clock=Clock())


def test_emptied_at_once_is_held_one_by_one_is_published(tmp_path):
    for n in range(3):
        write(tmp_path, f"post-{n}.md", f"---\ntitle: Post {n}\ndate: 2024-01-0{n + 1}\n---\nx\n")
    store = store_for(tmp_path)
    saved = tmp_path.with_name(tmp_path.name + "-saved")
    shutil.copytree(tmp_path, saved)
    for path in tmp_path.glob("*.md"):
        path.unlink()
    store.refresh()  # all three gone in one go: held, and said
    assert len(store.snapshot.items) == 3
    assert "all 3 items vanished at once" in store.faults["held"]
    for path in saved.glob("*.md"):
        shutil.copy2(path, tmp_path / path.name)
    store.refresh()
    assert len(store.snapshot.items) == 3 and not store.faults
    for n in range(3):  # one by one: each loss is explained by the one before
        (tmp_path / f"post-{n}.md").unlink()
        store.refresh([f"post-{n}.md"])
        assert len(store.snapshot.items) == 2 - n and not store.faults


def test_a_folder_empty_at_start_is_published_as_it_is(tmp_path):
    store = store_for(tmp_path)
    assert store.snapshot.items == () and not store.faults


def test_a_failing_listener_stops_nothing(tmp_path):
    write(tmp_path, "a.md", "---\ntitle: A\ndate: 2024-01-01\n---\nx\n")
    store = store_for(tmp_path)
    seen = []

    def broken(old, new):
        raise RuntimeError("hub down")

    store.listeners += [broken, lambda old, new: seen.append(len(new.items))]
    write(tmp_path, "b.md", "---\ntitle: B\ndate: 2024-01-02\n---\nx\n")
    assert store.refresh()
    assert seen == [2] and len(store.snapshot.items) == 2
    [fault] = store.faults.values()
    assert "hub down" in fault
    store.listeners.remove(broken)
    write(tmp_path, "c.md", "---\ntitle: C\ndate: 2024-01-03\n---\nx\n")
    assert store.refresh() and seen == [2, 3]


def test_first_renders_from_many_threads_at_once(tmp_path):
    # cmark-gfm's extension registration raced when two threads rendered their first post
    # at once and aborted the process; a fresh interpreter per run makes every render a
    # first one.
    script = """
import sys, threading
from pathlib import Path
from feedsvc.config import Settings
from feedsvc.content import content_html
from feedsvc.items import read_item
root = Path(sys.argv[1])
settings = Settings(items_dir=root)
items = [read_item(path, root, settings) for path in sorted(root.glob("*.md"))]
barrier = threading.Barrier(len(items))
def render(item):
    barrier.wait()
    assert "<table>" in content_html(item)
threads = [threading.Thread(target=render, args=(item,)) for item in items]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
print("rendered", len(items))
"""
    for n in range(32):
        write(tmp_path, f"t{n}.md", f"---\ntitle: T{n}\n---\n| a | b |\n|---|---|\n| {n} | ~x~ |\n")
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", script, str(tmp_path)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "rendered 32"


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        return [int(child) for child in file.read().split()]


def test_a_killed_worker_is_replaced_and_sigterm_exits_cleanly(serve, items_dir):
    import signal

    server = serve(items_dir)
    before = titles(server)
    [worker] = children(server.process.pid)
    os.kill(worker, signal.SIGKILL)  # as the OOM killer would
    new = wait_for(lambda: [pid for pid in children(server.process.pid) if pid != worker],
                   "a new worker")
    wait_for(lambda: _answers(server), "the new worker to answer")
    assert titles(server) == before and server.process.poll() is None and new
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0


def _answers(server) -> bool:
    try:
        return health(server)[0] == 200
    except OSError:
        return False


def test_a_crowd_of_idle_and_slow_connections_leaves_room_for_a_reader(serve, items_dir):
    import resource
    import socket

    import pytest

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"the open files hard limit ({hard}) is too low for this test")
    # Most systems start a service with a soft limit of 1024 open files: at 1024 connections
    # the old server could accept no more, and a new reader waited forever.
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        server = serve(items_dir)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), hard))
    crowd = []
    try:
        for n in range(1500):  # granian's default admitted 1024 at once
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            if n % 2:
                sock.sendall(b"GET /feed.atom HTTP/1.1\r\nHost: x\r\n")  # half a request
            crowd.append(sock)
        status, _, body = server.get("/feed.atom")
        assert status == 200 and len(feedparser.parse(body).entries) == 5
    finally:
        for sock in crowd:
            sock.close()
