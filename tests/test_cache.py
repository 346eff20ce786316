"""The on-disk item cache: read back exactly, only ever read as data, never in the way.

A cache file sits in a folder that more hands can write than the code; these tests plant
hostile and broken files there, and write through real read-only and full filesystems (a
tmpfs when running as root, who ignores permission bits)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import marshal
import math
import os
import pickle
import subprocess
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feedsvc import cache
from feedsvc.config import Settings
from feedsvc.items import Author, Item, ItemError, Section, read_item
from feedsvc.media import Enclosure, Media, Transcript
from feedsvc.store import Store

from conftest import Clock, write

BASE_URL = "https://example.org/"


def settings_for(items: Path, cache_dir: Path, **more) -> Settings:
    return Settings(items_dir=items, base_url=BASE_URL, cache_dir=str(cache_dir), **more)


def cache_messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.levelno >= logging.WARNING and " cache " in record.getMessage()]


# -- exact comparison ------------------------------------------------------------------------

def assert_same(a, b, where: str = "value") -> None:
    """Equal *and* of the same types all the way down: a tuple is no list, a date no datetime,
    +02:00 not the same zone as UTC at the same instant, nan is nan."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: {a!r} != {b!r}"
        for index, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{index}]")
    elif isinstance(a, dict):
        assert len(a) == len(b), f"{where}: {a!r} != {b!r}"
        for index, ((ka, va), (kb, vb)) in enumerate(zip(a.items(), b.items())):
            assert_same(ka, kb, f"{where} key {index}")
            assert_same(va, vb, f"{where}[{ka!r}]")
    elif isinstance(a, (datetime, time)):
        assert a.replace(tzinfo=None) == b.replace(tzinfo=None) and a.fold == b.fold, \
            f"{where}: {a!r} != {b!r}"
        assert_same(a.tzinfo, b.tzinfo, f"{where}.tzinfo")
    elif isinstance(a, timezone):
        assert a.__getinitargs__() == b.__getinitargs__(), f"{where}: {a!r} != {b!r}"
    elif dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            assert_same(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    elif isinstance(a, ItemError):
        assert_same((a.path, a.line, a.message, a.skipped),
                    (b.path, b.line, b.message, b.skipped), where)
        assert str(a) == str(b)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def round_trip(tmp_path: Path, entries: dict) -> dict:
    settings = settings_for(tmp_path / "items", tmp_path / "cache")
    cache.save(settings, entries)
    return cache.load(settings)


def as_read(tmp_path: Path, entries: dict) -> dict:
    """`entries` as `round_trip` gives them back: an item's source is where this process
    finds its file, under items_dir, whatever the writer's was."""
    return {relpath: (key, dataclasses.replace(result, source=str(tmp_path / "items" / relpath))
                      if isinstance(result, Item) else result)
            for relpath, (key, result) in entries.items()}


# -- every value an entry holds ----------------------------------------------------------------

def zone(**offset) -> timezone:
    return timezone(timedelta(**offset))


# Everything YAML and TOML give front matter, and the corners of each.
EXTRA = {
    "text": "plain", "unicode": "naïve — 日本語 😀", "lone surrogate": "\ud800", "empty": "",
    "int": 42, "negative": -7, "beyond 64 bits": 2**80, "float": 1.5, "tiny": 5e-324,
    "negative zero": -0.0, "nan": math.nan, "infinity": math.inf, "-infinity": -math.inf,
    "true": True, "false": False, "null": None,
    "list": [1, "two", [3.0, None], {"k": "v"}], "empty list": [], "empty dict": {},
    "nested": {"deeper": {"deepest": [date(2024, 5, 1), {"x": [[[]]]}]}},
    1: "int key", 2.5: "float key", None: "null key", False: "bool key",
    date(2024, 1, 2): "date key", datetime(2024, 1, 2, 3, 4, 5): "datetime key",
    "date": date(2024, 5, 1),
    "naive datetime": datetime(2024, 5, 1, 9, 30, 15, 123456),
    "utc": datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc),
    "offset": datetime(2024, 5, 1, 9, 30, tzinfo=zone(hours=5, minutes=30)),
    "negative offset": datetime(2024, 5, 1, 9, 30, tzinfo=zone(hours=-8)),
    "odd offset": datetime(2024, 5, 1, 9, 30, tzinfo=zone(hours=1, seconds=30, microseconds=7)),
    "named offset": datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=2), "CEST")),
    "zero offset, named": datetime(2024, 5, 1, tzinfo=timezone(timedelta(0), "GMT")),
    "fold": datetime(2024, 11, 3, 1, 30, fold=1),
    "time": time(7, 32, 0, 999999), "zoned time": time(10, tzinfo=zone(hours=-3)),
    "tuple": (1, (2, "three"), ()),
    # Lists shaped like the format's own tagged values must stay lists.
    "looks tagged": ["date", "2024-01-01"], "looks like a dict": ["dict"],
    "looks like a list": ["list", ["list"]],
}


def full_item(**changes) -> Item:
    """An Item with every field away from its default."""
    values = dict(
        path="posts/2024-05-01-every-value.md", slug="every-value", id="tag:example.org,2024:1",
        url="https://example.org/items/every-value", title="Every value ✓",
        published=datetime(2024, 5, 1, 7, 30, tzinfo=timezone.utc),
        updated=datetime(2024, 6, 2, 8, 0, 0, 1, tzinfo=timezone.utc),
        date_source="front matter",
        authors=(Author("Jane Doe", "jane@example.org"), Author("Bob", uri="https://bob.example"),
                 Author("Jane Doe", "jane@example.org")),
        tags=("Feeds", "open web"), summary="A summary.", body="# Body\n\nText.\n",
        format="markdown", draft=True, lang="pt-BR", extra=dict(EXTRA),
        warnings=((3, "a warning on line 3"), (None, "one with no line")),
        tag_keys=("feeds", "open-web"), source="/srv/items/posts/2024-05-01-every-value.md",
        aliases=("old/path", "older/path"), bundle=True, expanded=True,
        contributors=(Author("Ann Editor", "ann@example.org", "https://ann.example"),),
        media=Media(
            enclosures=(Enclosure("https://example.org/items/every-value/episode.mp3",
                                  "audio/mpeg", 12345, 3723, "", "episode.mp3"),
                        Enclosure("https://cdn.example/notes.pdf", "application/pdf",
                                  title="Show notes")),
            image="https://example.org/cover.jpg", image_alt="A cover", duration=3723,
            episode=3, season=1, episode_type="bonus", explicit=False,
            transcripts=(Transcript("https://example.org/t.vtt", "text/vtt", "en",
                                    "captions"),)))
    values.update(changes)
    assert set(values) == {field.name for field in dataclasses.fields(Item)}
    return Item(**values)


def test_every_value_an_entry_holds_round_trips_exactly(tmp_path):
    entries = {
        "posts/2024-05-01-every-value.md": ((1_700_000_000_123_456_789, 4096, 12345, ""),
                                            full_item()),
        # the defaults: no body (dropped to save memory), no extra, no warnings
        "plain.md": ((1, 2, 3, ""), full_item(
            path="plain.md", body=None, extra={}, warnings=(), aliases=(), authors=(),
            contributors=(), media=None,
            tags=(), tag_keys=(), draft=False, bundle=False, expanded=False, lang="",
            updated=datetime(2024, 5, 1, 7, 30, tzinfo=timezone.utc))),
        # a path that is not the entry's own, and dates in a zone other than UTC
        "elsewhere.md": ((1, 2, 3, ""), full_item(
            path="other.md", tag_keys=("feeds", "open-web", "more"),
            published=datetime(2024, 5, 1, 7, 30, tzinfo=zone(hours=2)),
            updated=datetime(2024, 5, 1, 7, 30, tzinfo=timezone(timedelta(hours=2), "X")))),
        "docs/_index.md": ((5, 6, 7, "a section file"), Section(
            path="docs/_index.md", folder="docs", title="Docs", description="",
            url="https://example.org/docs/")),
        "broken.md": ((8, 9, 10, ""), ItemError("broken.md", 4, "front matter is not valid YAML")),
        "stub.md": ((8, 9, 11, ""), ItemError("stub.md", None, "neither a title nor a body",
                                              skipped=True)),
        "link.md": (("outside", ""), ItemError("link.md", None, "points outside")),
    }
    loaded = round_trip(tmp_path, entries)
    assert list(loaded) == list(entries)
    assert_same(loaded, as_read(tmp_path, entries), "entries")
    # The parse workers hand their entries back marshalled (tuples stay tuples, which JSON
    # makes lists): the main process must build the same results from them.
    encoded = [cache.entry_and_text(relpath, key, result)
               for relpath, (key, result) in entries.items()]
    handed_back = marshal.loads(marshal.dumps([entry for entry, _ in encoded]))
    assert_same(cache.entries_from_values(handed_back, str(tmp_path / "items")), loaded,
                "handed back")


def test_front_matter_as_yaml_and_toml_parse_it_round_trips_exactly(tmp_path):
    items = tmp_path / "items"
    settings = settings_for(items, tmp_path / "cache")
    write(items, "2024-05-01-yaml.md", """---
title: Yaml
date: 2024-05-01 09:30:00 +02:00
updated: 2024-06-01T10:00:00Z
author:
  - Jane Doe <jane@example.org>
  - name: Bob
    uri: https://bob.example
tags: [feeds, Open Web]
lang: not a language!
aliases: [/old/yaml]
when: 2001-12-14t21:59:43.10-05:00
zulu: 2001-12-15T02:59:43.1Z
naive: 2001-12-14 21:59:43.10
day: 2002-12-14
nothing: ~
flag: yes
count: 12
huge: 123456789012345678901234567890
ratio: 1.0e+3
not a number: .nan
minus infinity: -.inf
text: "naïve 日本語 😀"
nested: {a: [1, {b: [2, 2002-12-14]}], 3: three, 2024-01-01: dated, null: nul, 1.5: f}
---
Body.
""")
    write(items, "2024-05-02-toml.md", """+++
title = "Toml"
date = 2024-05-02T09:30:00-05:30
local = 1979-05-27T07:32:00
day = 1979-05-27
at = 07:32:00.999999
offset = 1979-05-27T00:32:00.999999-07:00
zulu = 1979-05-27T07:32:00Z
not_a_number = nan
infinity = -inf
largest = 9223372036854775807
mixed = [1, [2, 3], { x = 1, y = [1979-05-27] }]
[table]
inner = { deeper = { deepest = 1979-05-27T07:32:00+01:00 } }
+++
Body.
""")
    write(items, "docs/_index.md", "---\ntitle: Docs\ndescription: About.\n---\n")
    write(items, "broken.md", "---\ntitle: [oops\n---\nx\n")
    write(items, "stub.md", "---\ndraft: false\n---\n")
    entries = {}
    for name in ("2024-05-01-yaml.md", "2024-05-02-toml.md", "docs/_index.md", "broken.md",
                 "stub.md"):
        try:
            result = read_item(items / name, items, settings, keep_body=False)
        except ItemError as error:
            result = error
        entries[name] = ((1, 2, 3, ""), result)
    yaml_item, toml_item = entries["2024-05-01-yaml.md"][1], entries["2024-05-02-toml.md"][1]
    # What the parsers gave, so that the round trip below covers it.
    assert isinstance(yaml_item, Item) and isinstance(toml_item, Item)
    assert yaml_item.warnings and yaml_item.aliases and len(yaml_item.authors) == 2
    assert type(yaml_item.extra["day"]) is date and yaml_item.extra["huge"] > 2**64
    assert yaml_item.extra["when"].utcoffset() == timedelta(hours=-5)
    assert type(toml_item.extra["at"]) is time and toml_item.extra["local"].tzinfo is None
    assert isinstance(entries["docs/_index.md"][1], Section)
    assert entries["broken.md"][1].line and entries["stub.md"][1].skipped
    assert_same(round_trip(tmp_path, entries), as_read(tmp_path, entries), "entries")


def test_a_value_that_cannot_be_written_drops_only_its_entry(tmp_path):
    deep: list = []
    for _ in range(cache.MAX_DEPTH + 5):
        deep = [deep]

    class Text(str):
        pass

    good = ((1, 2, 3, ""), full_item())
    entries = {
        "good.md": good,
        "set.md": ((1, 2, 3, ""), full_item(extra={"tags": {"a", "b"}})),
        "object.md": ((1, 2, 3, ""), full_item(extra={"what": object()})),
        "zoneinfo.md": ((1, 2, 3, ""), full_item(
            extra={"when": datetime(2024, 5, 1, tzinfo=ZoneInfo("Europe/Lisbon"))})),
        "deep.md": ((1, 2, 3, ""), full_item(extra={"deep": deep})),
        # Python refuses to print an int this long: the JSON writer fails on it, not us.
        "long int.md": ((1, 2, 3, ""), full_item(extra={"n": 10**5000})),
        "subclass.md": ((1, 2, 3, ""), full_item(title=Text("a str subclass"))),
        "key.md": ((1.5, 2, 3, ""), full_item()),
        "also good.md": good,
    }
    loaded = round_trip(tmp_path, entries)
    assert list(loaded) == ["good.md", "also good.md"]
    assert_same(loaded["good.md"], as_read(tmp_path, {"good.md": good})["good.md"])


def test_a_restart_reads_what_the_last_start_wrote(items_dir, tmp_path):
    settings = settings_for(items_dir, tmp_path / "cache")
    first = Store(settings, clock=Clock())
    assert first.parse_count == 6
    path = cache.cache_path(settings)
    assert path.suffix == ".json" and path.read_bytes().startswith(cache.MAGIC)
    second = Store(settings, clock=Clock())
    assert second.parse_count == 0
    assert_same(second.parsed_items(), Store(settings_for(items_dir, tmp_path / "c2", cache=False),
                                             clock=Clock()).parsed_items())
    assert second.snapshot.version == first.snapshot.version
    assert [problem.path for problem in second.snapshot.errors] == \
        [problem.path for problem in first.snapshot.errors]
    # A changed file is parsed again; only it.
    changed = items_dir / "2024-12-20-winter-solstice.md"
    changed.write_text(changed.read_text() + "\nMore.\n")
    os.utime(changed, ns=(1, 1))
    assert Store(settings, clock=Clock()).parse_count == 1
    # A few changed files are read again at the next start rather than the whole cache
    # written again at this one (store.SAVE_AT_START); a save (the watcher's rescan) ends it.
    again = Store(settings, clock=Clock())
    assert again.parse_count == 1
    again.save_cache()
    assert Store(settings, clock=Clock()).parse_count == 0


def test_bodies_are_read_back_however_the_folder_is_named(items_dir, tmp_path, monkeypatch):
    """A cache written by `--items items` in one working folder, read by a process that
    names the folder otherwise or runs elsewhere: every body is still read back (it was read
    from a path relative to the writer's working folder, and so came back empty)."""
    from feedsvc.items import body_of

    monkeypatch.chdir(items_dir.parent)
    relative = Store(settings_for(Path(items_dir.name), tmp_path / "cache"), clock=Clock())
    assert relative.parse_count > 0
    expected = {item.path: body_of(item) for item in relative.parsed_items()}
    assert all(expected.values())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = Store(settings_for(items_dir, tmp_path / "cache"), clock=Clock())
    assert again.parse_count == 0  # all from the cache
    assert {item.path: body_of(item) for item in again.parsed_items()} == expected


def test_a_parallel_start_writes_the_cache_its_workers_handed_back(items_dir, tmp_path,
                                                                    monkeypatch):
    """A cold start's parse workers hand back cache entries; the cache is written from them.
    A result the format cannot hold still arrives whole, and only it is parsed again."""
    from feedsvc import parsing, store as store_module

    (items_dir / "a-set.md").write_text("---\ntitle: A set\ndate: 2024-05-01\n"
                                        "colours: !!set {red, blue}\n---\nText.\n")
    serial = Store(settings_for(items_dir, tmp_path / "serial", cache=False), clock=Clock())
    monkeypatch.setattr(store_module, "PARALLEL_MIN", 1)
    monkeypatch.setattr(parsing, "PARALLEL_CHUNK", 2)
    settings = settings_for(items_dir, tmp_path / "cache")
    parallel = Store(settings, clock=Clock())
    assert parallel.parse_count == serial.parse_count == 7
    assert_same(parallel.parsed_items(), serial.parsed_items())
    assert parallel.parser.encoded == {}  # not held past the start
    restart = Store(settings, clock=Clock())
    assert restart.parse_count == 1  # the set: no entry in the cache
    assert_same(restart.parsed_items(), serial.parsed_items())
    assert restart.snapshot.version == parallel.snapshot.version == serial.snapshot.version


# -- a cache file that does not check out ------------------------------------------------------

def broken(good: bytes) -> dict[str, bytes]:
    header = len(cache.MAGIC) + 65
    payload = b'{"not": "what we write"}'
    flipped = bytearray(good)
    flipped[header + 50] ^= 1  # inside the JSON: only the checksum can tell
    return {
        "garbage": b"\x00\xffnot a cache at all",
        "empty": b"",
        "truncated": good[:len(good) // 2],
        "truncated header": good[:len(cache.MAGIC) + 10],
        "a flipped bit": bytes(flipped),
        "another format": b"feedsvc-cache 3\n" + good[len(cache.MAGIC):],
        "well-formed, not ours": cache.MAGIC + hashlib.sha256(payload).hexdigest().encode()
        + b"\n" + payload,
    }


@pytest.mark.parametrize("kind", list(broken(b"x" * 200)))
def test_a_broken_cache_is_ignored_with_one_warning_and_rebuilt(items_dir, tmp_path, caplog,
                                                                kind):
    settings = settings_for(items_dir, tmp_path / "cache")
    Store(settings, clock=Clock())
    path = cache.cache_path(settings)
    path.write_bytes(broken(path.read_bytes())[kind])
    with caplog.at_level(logging.WARNING, logger="feedsvc"):
        assert cache.load(settings) == {}
    [message] = cache_messages(caplog)
    assert message.startswith(f"ignoring cache {path}")
    store = Store(settings, clock=Clock())
    assert store.parse_count == 6 and len(store.snapshot.items) == 5
    assert Store(settings, clock=Clock()).parse_count == 0


def test_a_cache_from_other_settings_is_ignored_quietly(items_dir, tmp_path, caplog):
    Store(settings_for(items_dir, tmp_path / "cache"), clock=Clock())
    other = settings_for(items_dir, tmp_path / "cache", tag_date="2020-01-01")
    with caplog.at_level(logging.WARNING, logger="feedsvc"):
        assert cache.load(other) == {}
        assert Store(other, clock=Clock()).parse_count == 6
    assert cache_messages(caplog) == []
    assert Store(other, clock=Clock()).parse_count == 0


class Planted:
    """Unpickling this opens (so creates) a file: proof that a pickle was run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_pickle_is_never_unpickled(items_dir, tmp_path, caplog):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(Planted(control)))
    assert control.exists()  # the plant works: loading it would leave the marker

    settings = settings_for(items_dir, tmp_path / "cache")
    Store(settings, clock=Clock())
    path = cache.cache_path(settings)
    marker = tmp_path / "marker"
    payload = pickle.dumps((None, {"x": Planted(marker)}))
    digest = hashlib.sha256(payload).hexdigest().encode()
    old = b"feedsvc-cache 1\n" + digest + payload  # as the pickle format wrote it
    for planted in (payload, old, cache.MAGIC + digest + b"\n" + payload):
        path.write_bytes(planted)
        with caplog.at_level(logging.WARNING, logger="feedsvc"):
            assert cache.load(settings) == {}
            assert Store(settings, clock=Clock()).parse_count == 6
        assert not marker.exists()
    # Where the pickle format kept it: never read, and removed on the next write.
    path.unlink()
    path.with_suffix(".pickle").write_bytes(old)
    assert Store(settings, clock=Clock()).parse_count == 6
    assert not marker.exists()
    assert not path.with_suffix(".pickle").exists() and path.exists()


# -- a cache that cannot be written ------------------------------------------------------------

@pytest.fixture
def mount(tmp_path):
    """mount(folder, options): a tmpfs there for this test; skips where mounting is not
    allowed."""
    mounted: list[Path] = []

    def do(folder: Path, options: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "feedsvc-test",
                               str(folder)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield do
    for folder in reversed(mounted):
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def read_only(mount):
    """read_only(folder): a folder nothing can be written in. Permission bits for a user;
    for root, whom they do not stop, a read-only filesystem."""
    chmodded: list[Path] = []

    def do(folder: Path) -> Path:
        if os.geteuid() == 0:
            return mount(folder, "ro,size=64k")
        folder.mkdir(parents=True)
        folder.chmod(0o555)
        chmodded.append(folder)
        return folder

    yield do
    for folder in chmodded:
        folder.chmod(0o755)  # so that pytest can remove it


@pytest.mark.parametrize("where", ["the cache folder", "the folder above it"])
def test_a_read_only_cache_folder_warns_once_and_the_store_works(items_dir, tmp_path, caplog,
                                                                 read_only, where):
    # Either feedsvc/ is there and cannot take the file, or it cannot even be created.
    cache_dir = tmp_path / "cache"
    read_only(cache_dir / "feedsvc" if where == "the cache folder" else cache_dir)
    settings = settings_for(items_dir, cache_dir)
    with caplog.at_level(logging.WARNING, logger="feedsvc"):
        store = Store(settings, clock=Clock())
        assert store.parse_count == 6 and len(store.snapshot.items) == 5
        write(items_dir, "2026-01-01-new.md", "---\ntitle: New\n---\nx\n")
        assert store.refresh() and "new" in store.snapshot.by_slug
        store.save_cache()  # the same failure again: not another warning
    [message] = cache_messages(caplog)
    assert message.startswith("cannot write cache")
    assert store.faults["cache"].startswith("cannot write cache")  # shown on /healthz
    assert cache.load(settings) == {}
    assert Store(settings, clock=Clock()).parse_count == 7


def test_a_full_disk_warns_once_and_leaves_no_partial_file(items_dir, tmp_path, caplog, mount):
    folder = mount(tmp_path / "cache" / "feedsvc", "size=64k")
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as file:  # unbuffered: nothing left to flush
        try:
            while True:
                file.write(b"\0" * 4096)
        except OSError:
            pass  # full
    settings = settings_for(items_dir, tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="feedsvc"):
        store = Store(settings, clock=Clock())
        assert store.parse_count == 6 and len(store.snapshot.items) == 5
    [message] = cache_messages(caplog)
    assert message.startswith("cannot write cache") and "No space left" in message
    assert sorted(os.listdir(folder)) == ["filler"]  # the temporary file was removed
    filler.unlink()
    Store(settings, clock=Clock())
    assert Store(settings, clock=Clock()).parse_count == 0  # room again: cached again


def test_a_write_killed_midway_leaves_no_file_behind_for_long(items_dir, tmp_path):
    # kill -9 during a write leaves its temp file (test_faults); the next save removes such
    # leftovers once they are older than any write takes, and never a young one, which may be
    # another process's write in progress.
    settings = settings_for(items_dir, tmp_path / "cache")
    Store(settings, clock=Clock())
    path = cache.cache_path(settings)
    old, young = (path.with_name(path.name + suffix) for suffix in (".k1ll3d", ".wr1t1ng"))
    for leftover in (old, young):
        leftover.write_bytes(b"feedsvc-cache 2\npartial")
    hours_ago = datetime.now().timestamp() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    write(items_dir, "2026-01-02-more.md", "---\ntitle: More\n---\nx\n")
    store = Store(settings, clock=Clock())
    store.save_cache()  # one changed file: the start itself leaves the cache as it is
    assert store.parse_count == 1 and not old.exists() and young.exists()
