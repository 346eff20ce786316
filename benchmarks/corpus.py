"""Generate a realistic items folder: `python benchmarks/corpus.py OUT N [--body-kb 3] [--seed 1]`.

Markdown files of about BODY-KB kilobytes with YAML front matter (title, date with a zone,
2-3 tags from a pool of 200, author, summary), spread over year folders like a real site.
The same seed gives the same bytes. OUT defaults to benchmarks/corpus/N (git-ignored).
"""

from __future__ import annotations

import argparse
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

WORDS = ("feed reader publish archive update subscribe cache network article author "
         "editor morning harbour winter signal river market policy council library music "
         "garden travel science history language kitchen coffee bicycle station weather "
         "the of and to in is that for it as was with be by on not this are or from at "
         "which but have an they you were she there been one all we their has would when").split()
TAGS = [f"topic-{n}" for n in range(200)]


def paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def item_text(rng: random.Random, number: int, published: datetime, body_bytes: int) -> str:
    tags = ", ".join(rng.sample(TAGS, rng.randint(2, 3)))
    body, parts = [], 0
    while parts < body_bytes:
        block = paragraph(rng, rng.randint(30, 90))
        if rng.random() < 0.2:
            block = f"## {paragraph(rng, 4)[:-1]}\n\n{block} See [the archive](/items/post-{number - 1})."
        body.append(block)
        parts += len(block) + 2
    return (f"---\ntitle: \"{paragraph(rng, rng.randint(4, 9))[:-1]}\"\n"
            f"date: {published.isoformat()}\ntags: [{tags}]\n"
            f"author: Writer {number % 40}\nsummary: \"{paragraph(rng, 20)}\"\n---\n\n"
            + "\n\n".join(body) + "\n")


def generate(out: Path, count: int, body_kb: float = 3, seed: int = 1) -> Path:
    rng = random.Random(seed)
    start = datetime(2012, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=1)))
    for number in range(count):
        published = start + timedelta(minutes=number * 70 + rng.randint(0, 50))
        folder = out / f"{published:%Y}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{published:%Y-%m-%d}-post-{number}.md"
        path.write_text(item_text(rng, number, published, int(body_kb * 1024)), encoding="utf-8")
    return out


def ensure(count: int, body_kb: float = 3) -> Path:
    """The corpus for `count` items, generated on first use and reused after."""
    out = Path(__file__).parent / "corpus" / f"{count}-{body_kb:g}kb"
    if not (out / ".complete").exists():
        generate(out, count, body_kb)
        (out / ".complete").write_text("")
    return out


def warm(folder: Path) -> None:
    """Read every file once, so that a run finds them in the page cache as the one before it
    did. This machine's memory manager drops pages idle for a while (DAMON): a corpus left
    alone for minutes is read from the disk again, at a tenth of the speed, and a "cold
    start" would then time the disk."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as file:
                while file.read(1 << 20):
                    pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--body-kb", type=float, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    generate(args.out, args.count, args.body_kb, args.seed)
    print(f"{args.count} items in {args.out}")
