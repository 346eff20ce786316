"""`feedsvc build OUT` at scale (issue 12): cold builds, incremental builds, export sizes.

    python benchmarks/export.py [--items 20000 100000] [--runs 3] [--baseline-max 20000]
                                [--work /tmp/feedsvc-export-bench] [--keep]

For each corpus (`corpus.py`, generated on first use), with the item cache warm, every build a
fresh `feedsvc build` process timed from start to exit, as a user runs it:

- baseline: the export before incremental builds (`git show BASELINE:feedsvc/export.py`:
  every URL through Flask's test client, every file written, no .gz/.br siblings), cold;
  only up to --baseline-max items (it takes 2.5 minutes at 20,000);
- cold: an empty OUT, with `archive_content` "full" (the default) and "summary";
- no change: the same build again (median of --runs);
- one edit: one item's text changed, then changed back, each a build (median of 2 x --runs);
- one new item, then deleted again: each a build (every listing page moves by one);
- sizes: files and bytes in OUT (apparent and on disk), and the share of the archives.

After the incremental builds, the documents they touched (the edited item's, its archives,
the feeds, the sitemaps, the first listing pages) are compared with what the app serves.
Everything is written under --work (outside the repository) and removed unless --keep.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "cc70b3b"  # the last commit whose export rendered and wrote every file every time
BASE_URL = "https://bench.example.org/"
LINE = re.compile(r"(\d+) documents rendered by (\d+) process(?:es)?; files: (\d+) written / "
                  r"(\d+) unchanged / (\d+) deleted")


def run_build(items: Path, out: Path, env: dict, *extra: str) -> tuple[float, dict]:
    """One `feedsvc build`: its wall time and what its last line says."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "feedsvc", "build", str(out), "--items",
                             str(items), "--base-url", BASE_URL, *extra], env=env,
                            capture_output=True, text=True, timeout=7200)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    match = LINE.search(result.stdout)
    counts = dict(zip(("rendered", "processes", "written", "unchanged", "deleted"),
                      map(int, match.groups())))
    return elapsed, counts


BASELINE_SCRIPT = textwrap.dedent("""
    import importlib.util, sys
    from pathlib import Path
    from feedsvc.web import create_app

    spec = importlib.util.spec_from_file_location("feedsvc._export_baseline", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = create_app({"items_dir": sys.argv[2], "base_url": sys.argv[4]}, watch=False)
    print(module.build(app, Path(sys.argv[3])), "files")
""")


def run_baseline(items: Path, out: Path, env: dict, work: Path) -> float:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASELINE}:feedsvc/export.py"],
                            capture_output=True, text=True, check=True).stdout
    module = work / "export_baseline.py"
    module.write_text(source)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", BASELINE_SCRIPT, str(module), str(items), str(out),
                    BASE_URL], env=env, check=True, capture_output=True, timeout=7200)
    return time.perf_counter() - started


def warm_cache(items: Path, env: dict) -> None:
    """Parse the corpus once into the item cache every build then reads."""
    subprocess.run([sys.executable, "-c", "import sys; from feedsvc.web import create_app; "
                    "create_app({'items_dir': sys.argv[1], 'base_url': sys.argv[2]}, "
                    "watch=False)", str(items), BASE_URL], env=env, check=True,
                   capture_output=True, timeout=3600)


def sizes(out: Path) -> dict:
    """Files and bytes in OUT: all, the .gz/.br siblings, and the archives (with theirs)."""
    found = {key: 0 for key in ("files", "bytes", "disk", "sibling_bytes", "archive_bytes",
                                "archive_files")}
    stack = [str(out)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                if entry.name.startswith("."):
                    continue  # the manifest and the lock
                stat = entry.stat(follow_symlinks=False)
                found["files"] += 1
                found["bytes"] += stat.st_size
                found["disk"] += stat.st_blocks * 512
                if entry.name.endswith((".gz", ".br")):
                    found["sibling_bytes"] += stat.st_size
                if "/archive/" in entry.path[len(str(out)):] + "/":
                    found["archive_bytes"] += stat.st_size
                    found["archive_files"] += 1
    return found


def verify(out: Path, items: Path, edited: Path, env: dict) -> int:
    """Compare the documents the incremental builds touched with what the app serves."""
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from feedsvc.export import file_for
        from feedsvc.web import create_app
        from feedsvc import selections, sitemap, urls

        items, out, edited, base = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
        app = create_app({"items_dir": items, "base_url": base}, watch=False)
        snapshot = app.extensions["feedsvc"].store.snapshot
        settings = app.extensions["feedsvc"].settings
        item = next(i for i in snapshot.items if i.path == edited)
        paths = [item.url, urls.document_url(item.url, "atom"),
                 urls.document_url(item.url, "json"), base, base + "?page=2",
                 urls.sitemap(settings)]
        paths += [urls.sitemap(settings, n) for n in range(1, sitemap.part_count(snapshot) + 1)
                  if sitemap.part_count(snapshot) > 1]
        for chosen in [selections.selection(snapshot, None, settings)] + [
                selections.selection(snapshot, tag, settings) for tag in item.tag_keys]:
            block = chosen.items[::-1].index(item) // settings.feed_size + 1
            for fmt in ("atom", "rss", "json"):
                paths.append(urls.feed(settings, chosen.kind, chosen.key, fmt))
                if block <= selections.archive_count(chosen, settings):
                    paths.append(urls.archive(settings, chosen.kind, chosen.key, block, fmt))
        client = app.test_client()
        for url in paths:
            path = "/" + url[len(base):]
            assert (out / file_for(path)).read_bytes() == client.get(path).data, path
        print(len(paths))
    """)
    result = subprocess.run([sys.executable, "-c", script, str(items), str(out),
                             edited.relative_to(items).as_posix(), BASE_URL], env=env,
                            capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise AssertionError(f"the export differs from the app: {result.stderr[-2000:]}")
    return int(result.stdout.split()[-1])


def edit(path: Path, text: str):
    """Change an item's text (its size too, so the store sees it)."""
    path.write_text(text + "\nOne more paragraph, written for the benchmark.\n",
                    encoding="utf-8")


def bench(count: int, args, work: Path) -> dict:
    items = corpus.ensure(count)
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDSVC_")}
    env["XDG_CACHE_HOME"] = str(work / "cache")
    warm_cache(items, env)
    result: dict = {"items": count}
    if count <= args.baseline_max:
        result["baseline"] = run_baseline(items, work / "baseline", env, work)
        result["baseline_size"] = sizes(work / "baseline")
        shutil.rmtree(work / "baseline")
        print(f"{count}: baseline {result['baseline']:.1f} s", flush=True)
    summary = work / f"summary-{count}"
    result["cold_summary"], _ = run_build(items, summary, {**env,
                                          "FEEDSVC_ARCHIVE_CONTENT": "summary"})
    result["summary_size"] = sizes(summary)
    shutil.rmtree(summary)
    print(f"{count}: cold, summary archives {result['cold_summary']:.1f} s", flush=True)
    out = work / f"out-{count}"
    result["cold"], result["cold_counts"] = run_build(items, out, env)
    result["size"] = sizes(out)
    print(f"{count}: cold {result['cold']:.1f} s {result['cold_counts']}", flush=True)
    result["none"], result["none_counts"] = [], []
    for _ in range(args.runs):
        seconds, counts = run_build(items, out, env)
        result["none"].append(seconds)
        result["none_counts"].append(counts)
    print(f"{count}: no change {result['none']}", flush=True)
    files = sorted(items.rglob("*.md"))
    edited = files[len(files) // 2]
    original, stat = edited.read_text(encoding="utf-8"), edited.stat()
    result["edit"], result["edit_counts"] = [], []
    try:
        for _ in range(args.runs):
            edit(edited, original)
            for step in ("edit", "revert"):
                seconds, counts = run_build(items, out, env)
                result["edit"].append(seconds)
                result["edit_counts"].append(counts)
                edited.write_text(original, encoding="utf-8")
        # Now as before: the same mtime, size and inode, so the item cache stays valid.
        os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        print(f"{count}: one edit {result['edit']}", flush=True)
        new = items / "9999" / "2026-01-01-benchmark-new.md"
        new.parent.mkdir(exist_ok=True)
        new.write_text("---\ntitle: A new post\ndate: 2026-01-01T00:00:00Z\ntags: [topic-1]\n"
                       "---\n\nNew.\n", encoding="utf-8")
        result["add"] = run_build(items, out, env)
        shutil.rmtree(new.parent)
        result["delete"] = run_build(items, out, env)
        print(f"{count}: add {result['add']}, delete {result['delete']}", flush=True)
        result["verified"] = verify(out, items, edited, env)
    finally:
        edited.write_text(original, encoding="utf-8")
        os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        shutil.rmtree(items / "9999", ignore_errors=True)
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    return result


def mb(value: int) -> str:
    return f"{value / 1e6:,.0f} MB"


def report(result: dict) -> None:
    count, size, summary = result["items"], result["size"], result["summary_size"]
    print(f"\n### {count:,} items\n")
    print("| build | seconds | rendered | written / unchanged / deleted |")
    print("| --- | --- | --- | --- |")
    if "baseline" in result:
        print(f"| baseline (before: every URL rendered, every file written, no siblings) | "
              f"{result['baseline']:.1f} | all | {result['baseline_size']['files']:,} / - / - |")
    counts = result["cold_counts"]
    print(f"| cold, {counts['processes']} processes | {result['cold']:.1f} | "
          f"{counts['rendered']:,} | {counts['written']:,} / 0 / 0 |")
    print(f"| cold, archive_content = summary | {result['cold_summary']:.1f} | | |")
    for name, label in (("none", "no change"), ("edit", "one edit (and back)")):
        counts = result[f"{name}_counts"][len(result[name]) // 2]
        print(f"| {label}: median of {len(result[name])} | "
              f"{statistics.median(result[name]):.2f} "
              f"(min {min(result[name]):.2f}, max {max(result[name]):.2f}) | "
              f"{counts['rendered']:,} | {counts['written']:,} / {counts['unchanged']:,} / "
              f"{counts['deleted']:,} |")
    for name, label in (("add", "one new item"), ("delete", "that item deleted")):
        seconds, counts = result[name]
        print(f"| {label} | {seconds:.2f} | {counts['rendered']:,} | {counts['written']:,} / "
              f"{counts['unchanged']:,} / {counts['deleted']:,} |")
    print(f"\nverified against the app: {result['verified']} documents\n")
    print("| export | files | bytes | on disk | .gz/.br | archives (with siblings) |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = [("archive_content = full", size), ("archive_content = summary", summary)]
    if "baseline_size" in result:
        rows.insert(0, ("baseline (no siblings)", result["baseline_size"]))
    for label, found in rows:
        print(f"| {label} | {found['files']:,} | {mb(found['bytes'])} | {mb(found['disk'])} | "
              f"{mb(found['sibling_bytes'])} | {mb(found['archive_bytes'])} "
              f"({found['archive_bytes'] / found['bytes']:.0%}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-max", type=int, default=20000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/feedsvc-export-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the exports")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    results = [bench(count, args, args.work) for count in args.items]
    for result in results:
        report(result)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
