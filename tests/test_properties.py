"""Property-based: whatever the bytes, the parser gives an Item or an ItemError, and every
Item makes valid feeds and pages."""

from __future__ import annotations

from datetime import datetime, timezone

import feedparser
from hypothesis import HealthCheck, example, given, settings, strategies as st

from feedsvc.config import Settings
from feedsvc.content import content_html, summary_text
from feedsvc.feeds import render
from feedsvc.selections import FeedSpec
from feedsvc.items import Item, ItemError, parse_item

from jsonfeed import parse_json_feed

SETTINGS = Settings(base_url="https://feeds.example.org/")
NAMES = st.sampled_from(["a.md", "b.markdown", "c.txt", "d.html", "2024-01-05-e.md",
                         "x/index.md"])
KEYS = st.sampled_from(["title", "date", "updated", "lastmod", "slug", "id", "author",
                        "authors", "tags", "categories", "summary", "description", "draft",
                        "lang", "path", "other"])
SCALARS = st.one_of(st.text(max_size=40), st.integers(), st.floats(allow_nan=True),
                    st.booleans(), st.none(), st.dates(), st.datetimes())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10)


def parse(name: str, data: bytes):
    try:
        return parse_item(name, data, SETTINGS, mtime=1_700_000_000)
    except ItemError as error:
        assert error.path == name and error.message
        return None


def assert_valid_everywhere(item: Item):
    assert isinstance(content_html(item), str) and isinstance(summary_text(item), str)
    spec = FeedSpec(id="tag:example.org,2024:feed", title="T", subtitle="S",
                    home_url=SETTINGS.url(), self_url=SETTINGS.url("feed"), items=(item,))
    for fmt in ("atom", "rss"):
        feed = feedparser.parse(render(fmt, spec, SETTINGS))
        assert not feed.bozo, (fmt, feed.get("bozo_exception"))
        assert len(feed.entries) == 1
    parse_json_feed(render("json", spec, SETTINGS))


common = settings(max_examples=150, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])


@common
@given(NAMES, st.binary(max_size=2000))
def test_random_bytes(name, data):
    item = parse(name, data)
    if item is not None:
        assert_valid_everywhere(item)


@common
@given(NAMES, st.text(max_size=2000))
def test_random_text(name, text):
    item = parse(name, text.encode("utf-8", "surrogatepass"))
    if item is not None:
        assert_valid_everywhere(item)


@common
@given(NAMES, st.dictionaries(KEYS, VALUES, max_size=8), st.text(max_size=500),
       st.sampled_from(["yaml", "toml"]))
def test_random_front_matter(name, meta, body, syntax):
    import json

    if syntax == "yaml":  # JSON is YAML: every value written exactly
        front = "---\n" + "\n".join(f"{key}: {json.dumps(value, default=str)}"
                                    for key, value in meta.items()) + "\n---\n"
    else:
        front = "+++\n" + "\n".join(f"{key} = {json.dumps(value, default=str)}"
                                    for key, value in meta.items()
                                    if isinstance(value, (str, int, bool))) + "\n+++\n"
    item = parse(name, (front + body).encode("utf-8", "surrogatepass"))
    if item is not None:
        assert_valid_everywhere(item)


# Plain spellings PyYAML reads as something other than text, or nearly so, and YAML's syntax.
SPELLINGS = st.sampled_from([
    "yes", "No", "on", "~", "null", "", "010", "0x1F", "1_000", "1e3", "1.5", ".inf", ".NaN",
    "1:20", "12:30:00", "2024-01-05", "2024-01-05 10:00:00 +01:00", "2024-01-05T10:00:00Z",
    "2024-13-45", "=", "<<", "!!str 12", "!!binary aGVsbG8=", "!!set {a, b}", "!!int x",
    "!custom x", "&anchor 1", "*anchor", "[a, b]", "{a: 1}", "'quoted'", '"2024-01-05"',
    "|\n  block", ">-\n  folded", "- item", "? [a]", "a: b", "#", "'", '"', "[", "{",
])
FRAGMENTS = st.lists(st.one_of(SPELLINGS, st.text(max_size=12)), min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(FRAGMENTS, FRAGMENTS, st.sampled_from(["", "  ", "- "]))
@example(["a"], ["&x [*x]"], "")  # a list that holds itself
@example(["a", "b"], ["&x [1]", "*x"], "")  # one list, twice
def test_fast_yaml_gives_what_pyyaml_gives(keys, values, indent):
    """frontmatter.load_yaml builds common nodes itself: whatever the text, it must give
    PyYAML's values (types included) or raise PyYAML's error."""
    assert_loads_as_pyyaml("\n".join(f"{indent}{key}: {value}"
                                     for key, value in zip(keys, values)))


# Characters with a meaning somewhere in YAML, and some that end lines or are refused.
TRICKY = " :#,[]{}'\"\\\t-_.+/()!&%@`|>?=~aZ09\x85\xa0\u2028\ufeff\x7fé"
FLAT_KEYS = st.one_of(st.sampled_from(["title", "date", "tags", "yes", "No", "null", "on",
                                       "a-b", "_x", "x1", "y", "n"]),
                      st.text(alphabet="aZ_-09:", min_size=1, max_size=6))
FLAT_WORDS = st.one_of(SPELLINGS, st.text(alphabet=TRICKY, max_size=16),
                       st.text(alphabet="ab 09-:.", min_size=1, max_size=12),
                       st.text(alphabet="a09 -:.,'\"é[]{}&!%|>", min_size=1, max_size=12))
FLAT_VALUES = st.one_of(
    FLAT_WORDS,
    FLAT_WORDS.map(lambda text: f'"{text}"'),
    FLAT_WORDS.map(lambda text: f"'{text}'"),
    st.lists(st.one_of(FLAT_WORDS, FLAT_WORDS.map(lambda text: f'"{text}"')), max_size=4)
    .flatmap(lambda words: st.sampled_from([", ", ",", " , "]).map(
        lambda comma: "[" + comma.join(words) + "]")),
)
FLAT_LINE = st.tuples(FLAT_KEYS, st.sampled_from(["", " ", "  "]), FLAT_VALUES).map(
    "{0[0]}:{0[1]}{0[2]}".format)
# Lines that are mostly flat: what sites write, with YAML's meaningful characters inside.
WORDS = st.text(alphabet="a09 -:.,'\"é[]{}&!%|>#", min_size=1, max_size=12)
USUAL_LINE = st.tuples(
    st.one_of(st.sampled_from(["title", "date", "tags", "yes", "null", "y"]),
              st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,5}", fullmatch=True)),
    st.one_of(st.from_regex(r"[A-Za-z0-9][^\n]{0,14}", fullmatch=True), SPELLINGS,
              WORDS.map(lambda text: f'"{text}"'), WORDS.map(lambda text: f"'{text}'"),
              st.lists(st.one_of(st.from_regex(r"[a-z0-9][a-z0-9 .:-]{0,6}", fullmatch=True),
                                 WORDS.map(lambda text: f'"{text}"')), max_size=3)
              .map(lambda words: "[" + ", ".join(words) + "]")),
).map("{0[0]}: {0[1]}".format)
FLAT_LINES = st.one_of(USUAL_LINE, USUAL_LINE, USUAL_LINE, USUAL_LINE, FLAT_LINE,
                       st.sampled_from(["", "# a comment", " # indented", "- a", "  b: 1",
                                        "---"]))


@settings(max_examples=600, deadline=None)
@given(st.lists(FLAT_LINES, min_size=1, max_size=6))
@example(['title: "Be article"', "date: 2012-01-01T08:08:00+01:00", "tags: [topic-65, a b]",
          "author: Writer 0", "when: 2024-01-05T10:00:00Z", "at: 12:30:00", "ok: yes"])
@example(["k" * 1025 + ": a key too long for YAML"])
def test_flat_front_matter_gives_what_pyyaml_gives(lines):
    """`key: value` lines are read without PyYAML's parser (frontmatter._flat): whatever the
    lines, the values (types and time zones included) or the error are PyYAML's."""
    assert_loads_as_pyyaml("\n".join(lines))


def test_flat_front_matter_skips_the_yaml_parser():
    from feedsvc.frontmatter import _flat

    source = ('title: "A title: with a colon"\ndate: 2024-01-05T10:00:00+01:00\n'
              "tags: [one, two words]\nauthor: Ann Example\nsummary: It's plain, isn't it\n")
    assert _flat(source) == {"title": "A title: with a colon", "tags": ["one", "two words"],
                             "date": datetime(2024, 1, 5, 9, tzinfo=timezone.utc),
                             "author": "Ann Example", "summary": "It's plain, isn't it"}
    assert _flat("tags:\n- one\n") is None and _flat("a: x # comment") is None


def assert_loads_as_pyyaml(source: str) -> None:
    import math
    import yaml

    from feedsvc.frontmatter import _YAML_LOADER, load_yaml

    def outcome(load):
        try:
            return load(source)
        except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as error:
            return ("error", type(error))

    def typed(value, inside=()):  # == with the types, NaN equal to itself, cycles named
        if isinstance(value, float) and math.isnan(value):
            return ("nan",)
        if isinstance(value, datetime):
            return (datetime, repr(value))  # the same instant in another zone is not the same
        if id(value) in inside:
            return ("cycle", inside.index(id(value)))
        inside += (id(value),)
        if isinstance(value, dict):
            return (dict, [(typed(k), typed(v, inside)) for k, v in value.items()])
        if isinstance(value, (list, tuple, set, frozenset)):
            items = sorted(map(repr, value)) if isinstance(value, (set, frozenset)) else value
            return (type(value), [typed(v, inside) for v in items])
        return (type(value), value)

    def shared(value):  # which values are one and the same object
        if isinstance(value, dict):
            return [id(v) == id(w) for v in value.values() for w in value.values()]
        return []

    expected = outcome(lambda text: yaml.load(text, Loader=_YAML_LOADER))
    got = outcome(load_yaml)
    assert typed(got) == typed(expected), source
    assert shared(got) == shared(expected), source
