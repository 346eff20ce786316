"""What parsing one item file costs, against a baseline commit, in the same run:
`python benchmarks/parse_cost.py [--baseline REV] [--items 2000] [--rounds 7]`.

The baseline (default: the merge base with `main`) is exported with `git archive` into a
temporary folder; each round parses the corpus of benchmarks/corpus.py once with the
baseline's code and once with this checkout's, alternately, each in a fresh process that
counts its own CPU time, so the machine's load falls on both alike and other processes'
work is not counted. It prints the median microseconds per file of each and
their ratio; with this checkout's code also for posts that carry enclosures and a picture
(`media.py`), against the plain posts.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from corpus import ensure  # noqa: E402

# Run in a child process with the code under test first on sys.path: time read_file on
# every file of the folder, after one warm-up pass (imports, caches of the first files).
CHILD = r"""
import os, sys, time
from feedsvc.config import Settings
from feedsvc.items import read_file
root = sys.argv[1]
settings = Settings(items_dir=root, base_url="https://example.org/")
paths = sorted(os.path.relpath(os.path.join(d, n), root)
               for d, _, names in os.walk(root) for n in names if n.endswith(".md"))
for path in paths[:200]:
    read_file(path, os.path.join(root, path), settings, keep_body=False)
started = time.process_time()  # CPU time: the machine is shared
for path in paths:
    read_file(path, os.path.join(root, path), settings, keep_body=False)
print((time.process_time() - started) / len(paths) * 1e6)
"""


def microseconds(code: Path, folder: Path) -> float:
    result = subprocess.run([sys.executable, "-c", CHILD, str(folder)], check=True,
                            capture_output=True, text=True,
                            env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"})
    return float(result.stdout)


def with_media(plain: Path, out: Path, count: int) -> Path:
    """The first `count` posts of `plain`, each as a page bundle with its audio, a remote
    enclosure, a picture and an episode's details."""
    for number, source in enumerate(sorted(plain.rglob("*.md"))[:count]):
        bundle = out / f"post-{number}"
        bundle.mkdir(parents=True, exist_ok=True)
        (bundle / "episode.mp3").write_bytes(b"\0" * 1000)
        front, body = source.read_text().split("---\n", 2)[1:]
        (bundle / "index.md").write_text(
            "---\n" + front + "enclosures:\n  - episode.mp3\n  - {url: https://cdn.example.org/"
            f"{number}.m4a, length: 1234, type: audio/x-m4a}}\nimage: cover.jpg\n"
            "duration: 1:02:03\nepisode: 3\n---\n" + body)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    baseline = args.baseline or subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True,
        check=True).stdout.strip()
    plain = ensure(args.items)
    with tempfile.TemporaryDirectory() as temporary:
        old = Path(temporary) / "baseline"
        old.mkdir()
        archive = subprocess.run(["git", "archive", baseline, "feedsvc"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        rich = with_media(plain, Path(temporary) / "rich", args.items)
        times: dict[str, list[float]] = {"baseline": [], "this": [], "this, media": []}
        for _ in range(args.rounds):
            times["baseline"].append(microseconds(old, plain))
            times["this"].append(microseconds(ROOT, plain))
            times["this, media"].append(microseconds(ROOT, rich))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.items} posts of ~3 KB, {args.rounds} rounds, baseline {baseline[:10]}")
    for name, value in medians.items():
        print(f"  {name:12} {value:7.1f} us per file (min {min(times[name]):.1f})")
    print(f"  this / baseline, plain posts: {medians['this'] / medians['baseline']:.3f}")
    print(f"  posts with media / plain posts: {medians['this, media'] / medians['this']:.3f}")


if __name__ == "__main__":
    main()
