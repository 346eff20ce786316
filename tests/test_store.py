"""The index: incremental re-parsing, live updates, deterministic conflicts."""

from __future__ import annotations

import os

from feedsvc.config import Settings
from feedsvc.store import Store

from conftest import Clock, wait_for, write


def make_store(items_dir, clock=None, **settings) -> Store:
    return Store(Settings(items_dir=items_dir, base_url="https://example.org/", **settings),
                 clock=clock or Clock())


def test_refresh_reparses_only_the_changed_file(items_dir):
    store = make_store(items_dir)
    parsed = store.parse_count
    assert store.refresh() is False and store.parse_count == parsed  # nothing changed
    path = items_dir / "2024-12-20-winter-solstice.md"
    path.write_text(path.read_text().replace("# The longest night", "# The longest night!"))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    assert store.refresh() is True
    assert store.parse_count == parsed + 1
    assert store.snapshot.by_slug["winter-solstice"].title == "The longest night!"


def test_snapshots_are_replaced_not_mutated(items_dir):
    store = make_store(items_dir)
    old = store.snapshot
    write(items_dir, "2026-01-01-new.md", "---\ntitle: New\n---\nx\n")
    store.refresh()
    assert "new" not in old.by_slug and "new" in store.snapshot.by_slug
    assert old.version != store.snapshot.version


def test_watcher_sees_add_edit_delete(items_dir):
    store = make_store(items_dir)
    store.start()
    try:
        path = write(items_dir, "2026-01-01-watched.md", "---\ntitle: Watched\n---\nx\n")
        assert wait_for(lambda: "watched" in store.snapshot.by_slug)
        path.write_text("---\ntitle: Watched again\n---\nx\n")
        assert wait_for(lambda: store.snapshot.by_slug["watched"].title == "Watched again")
        path.unlink()
        assert wait_for(lambda: "watched" not in store.snapshot.by_slug)
    finally:
        store.stop()


def test_what_a_git_checkout_changes_is_published_when_it_is_done(items_dir):
    """git holds .git/index.lock from the start of a checkout to its end; on a busy machine it
    can pause between files for longer than a batch of events lasts, and readers must still
    never see half of it."""
    (items_dir / ".git").mkdir()
    store = make_store(items_dir)
    announced = []
    store.listeners.append(lambda old, new: announced.append(new.version))
    store.start()
    try:
        write(items_dir, "2026-01-01-warm-up.md", "---\ntitle: Warm-up\n---\nx\n")
        assert wait_for(lambda: "warm-up" in store.snapshot.by_slug)  # past the first pass
        version, announced[:] = store.snapshot.version, []
        lock = items_dir / ".git" / "index.lock"
        lock.write_text("")
        write(items_dir, "2026-01-02-first.md", "---\ntitle: First\n---\nx\n")
        assert wait_for(lambda: store._watcher.held == {"2026-01-02-first.md"})
        write(items_dir, "2026-01-03-second.md", "---\ntitle: Second\n---\nx\n")
        assert wait_for(lambda: store._watcher.held == {"2026-01-02-first.md",
                                                        "2026-01-03-second.md"})
        assert store.snapshot.version == version and announced == []
        lock.unlink()  # git is done
        assert wait_for(lambda: {"first", "second"} <= set(store.snapshot.by_slug))
        assert len(announced) == 1
    finally:
        store.stop()


def test_duplicate_slug_first_path_wins_and_is_reported(items_dir):
    write(items_dir, "a/2026-01-01-twin.md", "---\ntitle: First\n---\nx\n")
    write(items_dir, "b/2026-01-01-twin.md", "---\ntitle: Second\n---\nx\n")
    snapshot = make_store(items_dir).snapshot
    assert snapshot.by_slug["twin"].title == "First"
    assert any(p.path == "b/2026-01-01-twin.md" and "already used" in p.message
               for p in snapshot.errors)


def test_a_broken_file_is_left_out_and_reported(items_dir):
    write(items_dir, "broken.md", "---\ntitle: [oops\n---\nx\n")
    snapshot = make_store(items_dir).snapshot
    assert len(snapshot.items) == 5
    assert [p.path for p in snapshot.errors] == ["broken.md"]


def test_restart_with_cache_parses_nothing(items_dir, tmp_path):
    first = make_store(items_dir, cache_dir=str(tmp_path / "c"))
    assert first.parse_count == 6
    second = make_store(items_dir, cache_dir=str(tmp_path / "c"))
    assert second.parse_count == 0
    assert [i.id for i in second.snapshot.items] == [i.id for i in first.snapshot.items]
    assert second.snapshot.version == first.snapshot.version
    path = items_dir / "2024-12-20-winter-solstice.md"
    path.write_text(path.read_text() + "\nMore.\n")
    os.utime(path, ns=(1, 1))
    assert make_store(items_dir, cache_dir=str(tmp_path / "c")).parse_count == 1


def test_corrupt_or_hostile_cache_is_ignored_and_rebuilt(items_dir, tmp_path):
    import pickle

    from feedsvc import cache

    settings = Settings(items_dir=items_dir, base_url="https://example.org/",
                        cache_dir=str(tmp_path / "c"))
    make_store(items_dir, cache_dir=str(tmp_path / "c"))
    path = cache.cache_path(settings)
    good = path.read_bytes()
    payload = pickle.dumps(os.system)  # would run code if it were trusted
    import hashlib
    for bad in (b"garbage", good[:-100], good[:40] + b"x" + good[41:],
                cache.MAGIC + hashlib.sha256(payload).hexdigest().encode() + payload):
        path.write_bytes(bad)
        store = make_store(items_dir, cache_dir=str(tmp_path / "c"))
        assert store.parse_count == 6 and len(store.snapshot.items) == 5
        assert make_store(items_dir, cache_dir=str(tmp_path / "c")).parse_count == 0


def test_cache_can_be_turned_off(items_dir, tmp_path):
    make_store(items_dir, cache=False, cache_dir=str(tmp_path / "c"))
    assert not (tmp_path / "c").exists()


def test_a_file_recreated_between_two_events_is_one_change(items_dir):
    store = make_store(items_dir)
    path = write(items_dir, "2026-01-01-again.md", "---\ntitle: Once\n---\nx\n")
    store.refresh(["2026-01-01-again.md"])
    path.unlink()
    write(items_dir, "2026-01-01-again.md", "---\ntitle: Twice\n---\nlonger body\n")
    store.refresh(["2026-01-01-again.md", "2026-01-01-again.md"])  # watchers repeat paths
    ids = [item.id for item in store.snapshot.items]
    assert len(ids) == len(set(ids))
    assert store.snapshot.by_slug["again"].title == "Twice"


def test_incremental_updates_match_a_rebuild(items_dir):
    """Whatever order changes arrive in, the snapshot equals one built from scratch."""
    import random

    store = make_store(items_dir)
    rng = random.Random(5)
    for step in range(60):
        n = rng.randrange(8)
        name = f"2026-01-{n + 1:02d}-churn-{n}.md"
        action = rng.choice(["write", "write", "delete", "draft", "retag"])
        if action == "delete":
            (items_dir / name).unlink(missing_ok=True)
        else:
            tags = rng.sample(["a", "b", "c"], 2) if action == "retag" else ["a"]
            draft = "true" if action == "draft" else "false"
            write(items_dir, name, f"---\ntitle: C{n} {step}\ntags: {tags}\ndraft: {draft}\n"
                  f"date: 2026-01-{rng.randrange(1, 28):02d}\n---\nx\n")
        os.utime(items_dir / name, ns=(step, step)) if (items_dir / name).exists() else None
        store.refresh([name])
        fresh = make_store(items_dir, cache=False).snapshot
        got = store.snapshot
        assert [i.path for i in got.items] == [i.path for i in fresh.items], step
        assert {t: [i.path for i in v] for t, v in got.by_tag.items()} == \
            {t: [i.path for i in v] for t, v in fresh.by_tag.items()}, step
        assert dict(got.tag_names) == dict(fresh.tag_names)
        assert got.updated == fresh.updated and got.version == fresh.version


def test_a_cold_start_on_every_core_never_opens_a_pipe_or_a_file_outside(items_dir, tmp_path,
                                                                       monkeypatch):
    """The workers parse what the scan finds while it goes on: never a FIFO (opening one
    waits for a writer forever) nor what a link out of the folder points to."""
    from feedsvc import parsing, store as store_module

    published = [item.id for item in make_store(items_dir, cache=False).snapshot.items]
    os.mkfifo(items_dir / "pipe.md")
    outside = tmp_path / "secret.md"
    outside.write_text("---\ntitle: Secret\n---\nNot to be published.\n")
    (items_dir / "link.md").symlink_to(outside)
    monkeypatch.setattr(store_module, "PARALLEL_MIN", 1)
    monkeypatch.setattr(parsing, "PARALLEL_CHUNK", 2)
    store = make_store(items_dir, cache=False)
    assert [item.id for item in store.snapshot.items] == published
    assert [p.message for p in store.snapshot.errors if p.path == "link.md"] == \
        ["symbolic link points outside the items folder"]
    assert "pipe.md" not in {p.path for p in store.snapshot.problems}


def test_parallel_parse_gives_the_same_index(items_dir, monkeypatch):
    from feedsvc import parsing, store as store_module

    serial = make_store(items_dir, cache=False)
    monkeypatch.setattr(store_module, "PARALLEL_MIN", 1)
    monkeypatch.setattr(parsing, "PARALLEL_CHUNK", 2)
    parallel = make_store(items_dir, cache=False)
    assert parallel.parse_count == serial.parse_count == 6
    assert [i.id for i in parallel.snapshot.items] == [i.id for i in serial.snapshot.items]
    assert parallel.snapshot.version == serial.snapshot.version
    # The workers hash each file's key for the index: the same digests (export tokens).
    assert all(parallel.file_digest(path) == serial.file_digest(path)
               for path in serial.file_keys())
