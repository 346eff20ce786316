"""`feedsvc check`: every problem a publisher should fix before readers suffer it."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from .content import content_warnings
from .store import Problem, Store

# Remembers each file's entry id between runs, to warn when one changes. Hidden, so the store
# never takes it for an item.
STATE_FILE = ".feedsvc-check.json"


def check(store: Store, remember: bool = True) -> list[Problem]:
    problems = list(store.snapshot.problems)
    items = store.parsed_items()
    for item in items:
        problems.extend(Problem(item.path, None, "warning", w) for w in content_warnings(item))

    by_title = defaultdict(list)
    for item in items:
        by_title[item.title.casefold()].append(item.path)
    for paths in by_title.values():
        for path in paths[1:]:
            problems.append(Problem(path, None, "warning",
                                    f"same title as {paths[0]}: readers cannot tell them apart"))

    state_path = Path(store.root) / STATE_FILE
    previous = _load_state(state_path)
    for item in items:
        old_id = previous.get(item.path)
        if old_id and old_id != item.id:
            problems.append(Problem(item.path, None, "warning",
                                    f"entry id changed since the last check (was {old_id}): "
                                    "readers will show this item again as new"))
    if remember:
        try:
            state_path.write_text(json.dumps({i.path: i.id for i in items}, indent=0))
        except OSError:
            pass  # a read-only items folder still gets checked
    return sorted(problems, key=lambda p: (p.path, p.line or 0, p.severity, p.message))


def _load_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}
