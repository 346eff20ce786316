"""Past one process: workers forked from one index, fed the changes the main process sees,
and an access log written off the request path."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal

import feedparser
import pytest

from conftest import wait_for, write
from feedsvc.accesslog import AccessLog
from feedsvc.workers import Changes


def child_takes(changes: Changes, published, queue) -> None:
    published.wait(timeout=30)
    queue.put(changes.take())


def test_changes_reach_a_forked_process_in_order_and_names_survive():
    changes = Changes(size=64)
    fork = multiprocessing.get_context("fork")
    queue, published = fork.Queue(), fork.Event()
    names = ["a.md", "b/ü.md", "bad-\udcff.md"]  # an undecodable name comes back the same
    changes.publish(names[:1])  # before the fork: the child's index would already have it
    child = fork.Process(target=child_takes, args=(changes, published, queue))
    child.start()
    changes.publish(names[1:])
    published.set()
    child.join(timeout=30)
    assert queue.get(timeout=5) == names[1:]
    assert changes.since_build == set(names) and not changes.rescan_since_build


def test_a_reader_a_whole_ring_behind_rescans_everything():
    changes = Changes(size=64)
    changes.position = 0  # a reader, as a forked worker is
    changes.publish(["x" * 20 + ".md"])
    changes.publish(["y" * 20 + ".md"])
    assert changes.take() == ["x" * 20 + ".md", "y" * 20 + ".md"]  # read across the wrap
    assert changes.take() == []
    for n in range(4):
        changes.publish([f"{n}" * 20 + ".md"])
    assert changes.take() is None  # overwritten before it was read: rescan
    changes.publish(None)
    assert changes.take() is None and changes.rescan_since_build
    changes.publish(["z" * 100 + ".md"])  # larger than the ring: rescan
    assert changes.take() is None


def worker(changes: Changes, ready, go, done) -> None:
    ready.set()  # its slot holds its pid from the fork on: it is a worker to wait for
    go.wait(timeout=30)
    changes.take()
    changes.acknowledge()  # as `follow` does once the paths are applied
    done.wait(timeout=30)


def test_hubs_are_told_once_every_worker_applied_the_change():
    fork = multiprocessing.get_context("fork")
    changes = Changes(size=1024)
    first, second, done = fork.Event(), fork.Event(), fork.Event()
    ready = [fork.Event(), fork.Event()]
    workers = [fork.Process(target=worker, args=(changes, up, go, done))
               for up, go in zip(ready, (first, second))]
    for process in workers:
        process.start()
    for up in ready:
        assert up.wait(timeout=30)
    changes.publish(["new.md"])
    mark = changes._written()  # where a worker that applied the change has read to
    first.set()
    # The second has not applied it: not yet (the wait gives up, and says so)...
    assert changes.wait_for_workers(mark, timeout=0.2) is False
    second.set()
    assert changes.wait_for_workers(mark, timeout=30) is True  # ...and then it is done
    done.set()
    for process in workers:
        process.join(timeout=30)
    assert changes.wait_for_workers(mark, timeout=30) is True  # the dead are not waited for


class HeldStore:
    """A worker's store whose change waits for the next clock second (store.py publishes at
    most one snapshot a second) until `release` is set; `looped` once `follow` has been round
    its loop again after applying the change."""

    class snapshot:
        next_change = None

    def __init__(self, release, looped):
        self.release, self.looped, self.unpublished, self.applied = release, looped, False, False

    def refresh(self, paths=None) -> bool:
        if paths == [] and self.applied:
            self.looped.set()
        self.applied = self.applied or bool(paths)
        self.unpublished = not self.release.is_set()
        return not self.unpublished


def following(changes: Changes, release, looped, done) -> None:
    changes.follow(HeldStore(release, looped))
    done.wait(timeout=30)


def test_a_change_waiting_for_its_second_is_not_yet_served():
    """A worker that applied a change but publishes it only next second still serves the old
    feed: the hub must not be told (it would fetch the old feed from there)."""
    fork = multiprocessing.get_context("fork")
    changes = Changes(size=1024)
    release, looped, done = fork.Event(), fork.Event(), fork.Event()
    process = fork.Process(target=following, args=(changes, release, looped, done))
    process.start()
    changes.publish(["new.md"])
    mark = changes._written()
    assert looped.wait(timeout=30)  # applied, and round the loop once more
    assert changes.wait_for_workers(mark, timeout=0) is False
    release.set()  # the next second: published, so served
    assert changes.wait_for_workers(mark, timeout=30) is True
    done.set()
    process.join(timeout=30)


def workers_of(server) -> list[int]:
    pid = server.process.pid
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        return [int(child) for child in file.read().split()]


def answers(server, path: str = "/feed.atom", times: int = 8) -> list[bytes]:
    """Several answers on new connections: each may come from either worker."""
    return [server.get(path)[2] for _ in range(times)]


def test_workers_share_one_index_and_all_follow_edits(serve, items_dir):
    server = serve(items_dir, "--workers", "2")
    wait_for(lambda: "Started worker-2" in server.log.read_text(), timeout=30)
    log = server.log.read_text()
    assert log.count("feedsvc: indexed ") == 1, log  # parsed once, before the fork
    write(items_dir, "2026-05-01-shared.md", "---\ntitle: Seen by both\n---\nx\n")
    wait_for(lambda: all(b"Seen by both" in body for body in answers(server)), timeout=15)
    (items_dir / "2026-05-01-shared.md").unlink()
    wait_for(lambda: not any(b"Seen by both" in body for body in answers(server)),
             timeout=15)


def test_a_replaced_worker_starts_with_every_change_since_the_index_was_built(
        serve, items_dir):
    server = serve(items_dir, "--workers", "2")
    write(items_dir, "2026-05-02-later.md", "---\ntitle: Written after start\n---\nx\n")
    (items_dir / "2020-01-01-hello.md").unlink(missing_ok=True)
    titles = lambda body: [e.title for e in feedparser.parse(body).entries]  # noqa: E731
    wait_for(lambda: all("Written after start" in titles(body) for body in answers(server)),
             timeout=15)
    expected = titles(server.get("/feed.atom")[2])
    before = workers_of(server)
    for pid in before:  # every answer from now on comes from a replacement
        os.kill(pid, signal.SIGKILL)

    def replaced_and_current():
        if len(set(workers_of(server)) - set(before)) < 2:
            return False
        try:
            return all(titles(body) == expected for body in answers(server))
        except OSError:  # the replacements are not listening yet
            return False
    wait_for(replaced_and_current, timeout=30)


def test_access_log_lines_are_combined_format_and_escape_what_clients_send(make_app,
                                                                          items_dir):
    app = make_app(items_dir)
    out = io.StringIO()
    svc = app.extensions["feedsvc"]
    svc.access_log = AccessLog(out)  # as `start` does, without its thread: flushed below
    client = app.test_client()
    client.get("/feed.atom", headers={"User-Agent": 'Reader/1.0 "quoted" \\ back',
                                      "Referer": "https://example.org/"})
    client.get("/feed.atom")  # answered from memory, without Flask
    client.get("/feed.atom", environ_overrides={"REMOTE_ADDR": "192.0.2.7"})  # the same again
    client.head("/feed.atom")
    # What a raw socket can send (a client library refuses to): a WSGI string of latin-1 bytes.
    client.get("/items/nothing-here",
               environ_overrides={"HTTP_USER_AGENT": "evil\x1b[31m\r\nforg\xc3\xa9d"})
    svc.access_log.flush()
    lines = out.getvalue().splitlines()
    assert len(lines) == 5, lines
    first, second, other, head, missing = lines
    size = len(client.get("/feed.atom").data)
    assert first.startswith("127.0.0.1 - - [") and " +0000] " in first
    assert first.endswith(f'"GET /feed.atom HTTP/1.1" 200 {size} "https://example.org/" '
                          '"Reader/1.0 \\x22quoted\\x22 \\x5C back"')
    assert f'"GET /feed.atom HTTP/1.1" 200 {size} "-" ' in second
    # Written once per distinct request in a flush (accesslog.py), but each with its address.
    assert other.startswith("192.0.2.7 - - [") and other.partition("]")[2] == \
        second.partition("]")[2]
    assert '"HEAD /feed.atom HTTP/1.1" 200 0 ' in head
    assert '"GET /items/nothing-here HTTP/1.1" 404 ' in missing
    assert missing.endswith('"evil\\x1B[31m\\x0D\\x0Aforg\\xC3\\xA9d"')  # one line: no forgery


@pytest.mark.parametrize("trust, expected", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_forwarded_for_is_believed_only_when_trusted(make_app, items_dir, trust, expected):
    app = make_app(items_dir, trust_forwarded=trust)
    out = io.StringIO()
    app.extensions["feedsvc"].access_log = AccessLog(out)
    response = app.test_client().get("/feed.atom", headers={
        "X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https"})
    app.extensions["feedsvc"].access_log.flush()
    assert out.getvalue().startswith(f"{expected} - - [")
    # Documents never take their URLs from the request, trusted or not.
    assert b"evil.example" not in response.data


def test_no_access_log_when_turned_off(serve, items_dir):
    server = serve(items_dir, env={"FEEDSVC_ACCESS_LOG": "false"})
    server.get("/feed.atom")
    server.get("/items/nothing-here")
    server.process.send_signal(signal.SIGTERM)  # lines still pending are written at exit
    assert server.process.wait(timeout=30) == 0
    assert "/feed.atom" not in server.log.read_text()


def test_pending_lines_are_written_when_the_server_stops(serve, items_dir):
    server = serve(items_dir)
    server.get("/feed.atom?stop-test")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert '"GET /feed.atom?stop-test HTTP/1.1" 200 ' in server.log.read_text()
