"""Restart with a warm cache: the pickle cache (format 1) against today's JSON (format 2).

    python benchmarks/cache_format.py [--items 20000 100000] [--runs 5]

For each corpus size, both caches are written once by a cold start, then each run starts a
fresh interpreter per format (alternating, so both see the same machine) that times the whole
`Store(settings)` (scan, cache, index) and notes its memory (RSS), then `cache.load(settings)`
alone, then one `cache.save` of the same entries. Prints the median of each and the ratio
JSON/pickle.

The pickle format is kept below as it was (feedsvc/cache.py before format 2), so that the
baseline is measured in the same command on the same machine; only this script uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

FORMATS = ("pickle", "json")


# -- format 1, as it was -------------------------------------------------------------------

PICKLE_MAGIC = b"feedsvc-cache 1\n"
PICKLE_ALLOWED = {
    ("feedsvc.items", "Item"), ("feedsvc.items", "Author"), ("feedsvc.items", "Section"),
    ("feedsvc.frontmatter", "ItemError"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timezone"), ("datetime", "timedelta"),
}


def _pickle_fingerprint(settings) -> tuple:
    from feedsvc import templating
    from feedsvc.items import PARSE_RULES, Item

    return (version("feedsvc"), PARSE_RULES,
            tuple(field.name for field in dataclasses.fields(Item)),
            settings.base_url, settings.authority, settings.tag_date, settings.max_item_bytes,
            settings.permalink, settings.entry_id, settings.timezone, settings.permalink_dates,
            templating.fingerprint(settings))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cache file")
        return super().find_class(module, name)


def pickle_load(settings) -> dict:
    from feedsvc import cache

    path = cache.cache_path(settings).with_suffix(".pickle")
    try:
        data = path.read_bytes()
    except OSError:
        return {}  # the cold start that writes it
    start = len(PICKLE_MAGIC)
    assert data.startswith(PICKLE_MAGIC)
    digest, payload = data[start:start + 64], data[start + 64:]
    assert hashlib.sha256(payload).hexdigest().encode() == digest
    fingerprint, entries = _Unpickler(io.BytesIO(payload)).load()
    assert fingerprint == _pickle_fingerprint(settings) and isinstance(entries, dict)
    return entries


def pickle_save(settings, entries: dict) -> None:
    from feedsvc import cache

    path = cache.cache_path(settings).with_suffix(".pickle")
    payload = pickle.dumps((_pickle_fingerprint(settings), entries),
                           protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(payload).hexdigest().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as file:
        file.write(PICKLE_MAGIC + digest + payload)
    os.replace(file.name, path)


# -- one start, in a fresh interpreter -----------------------------------------------------

def child(fmt: str, items: str, cache_dir: str, measure: bool) -> None:
    import gc

    from feedsvc import cache
    from feedsvc.config import Settings
    from feedsvc.store import Store

    if fmt == "pickle":
        cache.load, cache.save = pickle_load, pickle_save  # the baseline, in this process only
    settings = Settings(items_dir=items, base_url="https://bench.example.org/",
                        cache_dir=cache_dir)
    if not measure:  # a cold start: parses everything and writes the cache
        print(json.dumps({"parsed": Store(settings).parse_count}))
        return
    started = time.perf_counter()
    store = Store(settings)
    constructed = time.perf_counter() - started
    memory = rss_mb()
    # Then the load alone, with the cyclic GC paused as Store pauses it.
    gc.disable()
    started = time.perf_counter()
    entries = cache.load(settings)
    loaded = time.perf_counter() - started
    gc.enable()
    del entries
    entries = {relpath: (state.key, state.result) for relpath, state in store._files.items()}
    started = time.perf_counter()
    cache.save(settings, entries)
    saved = time.perf_counter() - started
    size = sum(path.stat().st_size for path in (Path(cache_dir) / "feedsvc").iterdir())
    print(json.dumps({"load": loaded, "store": constructed, "save": saved, "bytes": size,
                      "rss": memory, "parsed": store.parse_count, "entries": len(entries)}))


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def run_child(*args: str) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure(count: int, runs: int) -> None:
    items = str(corpus.ensure(count))
    folder = Path(tempfile.mkdtemp(prefix="feedsvc-cache-format-"))
    try:
        dirs = {fmt: str(folder / fmt) for fmt in FORMATS}
        for fmt in FORMATS:
            run_child(fmt, items, dirs[fmt], "warm")
        results: dict[str, list[dict]] = {fmt: [] for fmt in FORMATS}
        for _ in range(runs):
            for fmt in FORMATS:
                result = run_child(fmt, items, dirs[fmt], "measure")
                assert result["parsed"] == 0, f"{fmt}: the cache was not used: {result}"
                results[fmt].append(result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{count} items, warm cache, median of {runs} runs (fresh interpreter each):")
    names = ("store", "load", "save", "bytes", "rss")
    medians = {fmt: {name: statistics.median(r[name] for r in results[fmt]) for name in names}
               for fmt in FORMATS}
    print(f"  {'':11} {'Store(settings)':>15} {'cache.load':>10} {'cache.save':>10} "
          f"{'file':>8} {'RSS':>8}")
    for fmt in FORMATS:
        m = medians[fmt]
        print(f"  {fmt:11} {m['store']:14.3f}s {m['load']:9.3f}s {m['save']:9.3f}s "
              f"{m['bytes'] / 1e6:6.1f}MB {m['rss']:6.0f}MB")
    ratio = {name: medians["json"][name] / medians["pickle"][name] for name in names}
    print(f"  {'json/pickle':11} {ratio['store']:14.2f}x {ratio['load']:9.2f}x "
          f"{ratio['save']:9.2f}x {ratio['bytes']:7.2f}x {ratio['rss']:7.2f}x")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        fmt, items, cache_dir, what = sys.argv[2:6]
        child(fmt, items, cache_dir, what == "measure")
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for count in args.items:
        measure(count, args.runs)


if __name__ == "__main__":
    main()
