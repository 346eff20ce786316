"""Hugo's and Zola's shortcodes in post bodies, for blogs that move here from either.

Both expand shortcodes in the raw text before Markdown, everywhere, code blocks included (that
is why both have an escape). A feed reader must never see that markup, so every call is either
rendered as Hugo's built-in template renders it, adapted for feed readers (which drop iframes
and scripts: a video becomes a link to it), or removed, keeping the text between a paired
call's tags, with a warning naming the line and the call as written: a site's own shortcodes
are templates we cannot run, and Zola has no built-in ones at all.

Both parsers are by hand and follow the real ones: Hugo's lexer
(parser/pageparser/pagelexer_shortcode.go) and Zola's grammar
(components/markdown/src/content.pest). Each is one forward scan in linear time that never
raises; the only recursion, Zola's arrays, has a depth limit.
"""

from __future__ import annotations

import bisect
import html
import json
import re
import tomllib
from array import array
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

Warnings = list[tuple[int, str]]

_SPACES = re.compile(r"[ \t\r\n]*")  # Hugo's isASCIISpace and Zola's WHITESPACE
_LINE_BLANKS = re.compile(r"[ \t]*")
_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")  # video, post, user and gist ids: nothing to inject
_DIGITS = re.compile(r"[0-9]{1,20}")
_LANGUAGE = re.compile(r"[\w+#.-]{1,50}")  # a fence's info string: go, c++, c#, objective-c
_WARNED_LENGTH = 120
# Highlight and details copy their inner text once per level of nesting: deeper ones are
# treated as a site's own shortcode, so hostile nesting stays linear.
MAX_CAPTURE_DEPTH = 32
MAX_ZOLA_ARRAY_DEPTH = 16


def render_hugo(text: str, first_line: int, page_params: Mapping, site_params: Mapping,
                resolve: Callable[[str], str | None]) -> tuple[str, list[tuple[int, str]]]:
    """Expand Hugo shortcodes in a post body (Markdown).
    first_line: the file's line number of the body's first line. page_params: the page's front
    matter (Hugo's .Params; also its `params` table if present); site_params: the site config's
    `params` table. resolve(target): for ref/relref, the path as written without its #anchor
    ("blog/post.md", "post", "/blog/post", "../x.md"); returns the target page's absolute URL
    or None.
    Returns (text, warnings); each warning is (file line number, message) naming the shortcode
    as written, e.g. (7, '{{< notice warning >}}: not a Hugo built-in shortcode: removed')."""
    if "{{<" not in text and "{{%" not in text:
        return text, []
    warnings: Warnings = []
    tokens = _hugo_tokens(text, first_line, warnings)
    output = _Hugo(text, page_params, site_params, resolve, warnings).render(tokens)
    warnings.sort(key=lambda warning: warning[0])
    return output, warnings


def strip_zola(text: str, first_line: int) -> tuple[str, list[tuple[int, str]]]:
    """Zola has no built-in shortcodes: every call is the site's own template, which we cannot
    run. Remove each call (`{{ name(...) }}`; `{% name(...) %}body{% end %}` keeps its body) and
    warn per call with line and call as written."""
    if "{{" not in text and "{%" not in text:
        return text, []
    warnings: Warnings = []
    lines = _Lines(text, first_line)
    zola = _Zola(text)
    output: list[str] = []
    open_bodies: list[tuple[int, str]] = []  # (warning's index, call) of bodies not ended yet
    done = search = 0
    while (match := _ZOLA_OPENING.search(text, search)) is not None:
        start = match.start()
        kind, end = zola.call(start)
        if kind is None:  # not a call: Zola prints it as it is
            search = start + 1
            continue
        output.append(text[done:start])
        line, call = lines.at(start), _as_written(text[start:end])
        if kind == "escaped":
            output.append(_unescape_zola(text[start:end]))
        elif kind == "escaped body":
            # Zola prints an escaped body as it is, calls in it too ("You won't need to escape
            # anything else until the closing tag"), up to `{%/* end */%}`.
            output.append(_unescape_zola(text[start:end]))
            closing = zola.escaped_end(end)
            if closing is not None:
                output.append(text[end:closing[0]] + _unescape_zola(text[slice(*closing)]))
                end = closing[1]
        elif kind == "body":
            open_bodies.append((len(warnings), call))
            warnings.append((line, f"{call}: {_ZOLA_REMOVED}, its body kept"))
        elif kind == "end" and open_bodies:
            open_bodies.pop()
        elif kind == "end":
            warnings.append((line, f"{call}: ends no shortcode: removed"))
        else:
            warnings.append((line, f"{call}: {_ZOLA_REMOVED}"))
        done = search = end
    output.append(text[done:])
    for index, call in open_bodies:
        warnings[index] = (warnings[index][0], f"{call}: no {{% end %}} follows it: removed")
    return "".join(output), warnings


def hugo_site_config(content_root: Path) -> dict | None:
    """The config of the Hugo site whose content folder is `content_root` (the parent folder's
    hugo.toml/hugo.yaml/hugo.yml/hugo.json, else config.toml/.yaml/.yml/.json, else
    config/_default/hugo.* or config.*), parsed (tomllib, yaml.safe_load, json); None when there
    is none or it cannot be parsed (never raises).
    In the config folder every file is one root key (Hugo's rule), so its params.* is merged
    into `params`."""
    try:
        site = Path(content_root).parent
        folder = site / "config" / "_default"
        path = _config_file(site, ("hugo", "config")) or _config_file(folder, ("hugo", "config"))
        config = _load_config(path) if path else {}
        params_path = _config_file(folder, ("params",)) if not path or path.parent == folder \
            else None
        params = _load_config(params_path) if params_path else None
        if config is None or not (path or params):
            return None
        if params:
            own = config.get("params")
            config["params"] = {**own, **params} if isinstance(own, dict) else params
        return config
    except (OSError, ValueError, RecursionError):
        return None


_CONFIG_SUFFIXES = (".toml", ".yaml", ".yml", ".json")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _config_file(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for suffix in _CONFIG_SUFFIXES:
            if (folder / (name + suffix)).is_file():
                return folder / (name + suffix)
    return None


def _load_config(path: Path) -> dict | None:
    source = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix == ".toml":
            config = tomllib.loads(source)
        elif path.suffix == ".json":
            config = json.loads(source)
        else:
            config = yaml.load(source, Loader=_YAML_LOADER) or {}
    except (ValueError, yaml.YAMLError, RecursionError):
        return None
    return config if isinstance(config, dict) else None


# -- scanning, shared by both ----------------------------------------------------------------------

class _Occurrences:
    """Where a pattern matches, found in one pass per pattern, so "the next closing backtick
    after here" is a binary search: no run of unterminated strings makes scanning quadratic."""

    def __init__(self, text: str):
        self.text = text
        self.starts: dict[str, array] = {}

    def after(self, pattern: str, start: int) -> int:
        """Where the first match of the regular expression `pattern` at or after `start`
        begins, or -1."""
        starts = self.starts.get(pattern)
        if starts is None:
            starts = self.starts[pattern] = array(
                "q", (match.start() for match in re.finditer(pattern, self.text)))
        index = bisect.bisect_left(starts, start)
        return starts[index] if index < len(starts) else -1


class _Lines:
    """Line numbers and indentation of positions visited in increasing order, in one pass."""

    def __init__(self, text: str, first_line: int):
        self.text, self.line, self.position = text, first_line, 0
        self.line_start, self.blanks_end = 0, -1

    def at(self, position: int) -> int:
        newline = self.text.rfind("\n", self.position, position)
        if newline >= 0:
            self.line += self.text.count("\n", self.position, newline + 1)
            self.line_start, self.blanks_end = newline + 1, -1
        self.position = max(self.position, position)
        return self.line

    def indent(self, position: int) -> str | None:
        """The blanks before `position` (after `at(position)`) when only blanks precede it."""
        if self.blanks_end < 0:  # once per line: many calls on one line stay linear
            self.blanks_end = _LINE_BLANKS.match(self.text, self.line_start).end()
        return self.text[self.line_start:position] if position == self.blanks_end else None


def _skip_spaces(text: str, position: int) -> int:
    return _SPACES.match(text, position).end()


def _as_written(source: str) -> str:
    """A call as written, on one line and cut short, for a warning."""
    source = " ".join(source[:2 * _WARNED_LENGTH].split())
    return source if len(source) <= _WARNED_LENGTH else source[:_WARNED_LENGTH - 1] + "…"


# -- Hugo's tags, as its lexer reads them ----------------------------------------------------------

_HUGO_OPENING = re.compile(r"\{\{[<%]")
# A "quoted" argument ends at a `"` not preceded by a backslash and never crosses a line.
_QUOTED = re.compile(r'(?:[^"\\\n]|\\"?)*')


@dataclass(slots=True)
class _Call:
    """One shortcode tag: `{{< name args >}}`, `{{< /name >}}` or `{{< name args />}}`."""
    name: str
    closing: bool
    end: int = 0  # where the tag ends in the text
    source: str = ""  # as written, for warnings
    line: int = 0
    indent: str | None = None  # the blanks before it when nothing else precedes it on its line
    self_closing: bool = False
    args: list[str] = field(default_factory=list)
    named: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, index: int | None = None) -> str:
        """Hugo's `or (.Get "key") (.Get index)`."""
        if key in self.named:
            return self.named[key]
        return self.arg(index) if index is not None else ""

    def arg(self, index: int) -> str:
        return self.args[index] if index < len(self.args) else ""


def _hugo_tokens(text: str, first_line: int, warnings: Warnings) -> list[str | _Call]:
    """The text as plain pieces and tags. A tag Hugo would refuse to build is removed to the end
    of its line, never shown as raw markup, with a warning."""
    tokens: list[str | _Call] = []
    occurrences = _Occurrences(text)
    lines = _Lines(text, first_line)
    done = search = 0
    while (match := _HUGO_OPENING.search(text, search)) is not None:
        start = match.start()
        tokens.append(text[done:start])
        right = ">}}" if text[start + 2] == "<" else "%}}"
        if text.startswith("/*", start + 3):
            # Hugo's escape: `{{</* name */>}}` is printed as `{{< name >}}`.
            close = occurrences.after(re.escape("*/" + right), start + 5)
            if close >= 0:
                tokens.append(text[start:start + 3] + text[start + 5:close] + right)
                done = search = close + 5
                continue
        call = _parse_call(text, start, right, occurrences)
        line = lines.at(start)
        if call is None:
            line_end = text.find("\n", start)
            done = search = len(text) if line_end < 0 else line_end
            warnings.append((line, f"{_as_written(text[start:done])}: unterminated or "
                                   "malformed shortcode: removed to the end of its line"))
            continue
        call.source, call.line, call.indent = _as_written(text[start:call.end]), line, \
            lines.indent(start)
        tokens.append(call)
        done = search = call.end
    tokens.append(text[done:])
    return [token for token in tokens if token != ""]


def _parse_call(text: str, start: int, right: str, occurrences: _Occurrences) -> _Call | None:
    """The tag at `start` as Hugo's lexer reads it, or None where Hugo fails the build. Only
    leniency: a bare value stops at the closing delimiter (Hugo's runs to a space)."""
    position = _skip_spaces(text, start + 3)
    closing = text.startswith("/", position)
    if closing:
        position = _skip_spaces(text, position + 1)
    name_end = _name_end(text, position, right)
    if name_end == position:
        return None
    call = _Call(text[position:name_end], closing)
    position = name_end
    while True:
        position = _skip_spaces(text, position)
        if position >= len(text):
            return None
        if text.startswith(right, position):
            call.end = position + len(right)
            return call
        if call.closing or call.self_closing:  # nothing more in `{{< /name >}}`, `/>}}`
            return None
        character = text[position]
        if _self_closes(text, position, right):
            call.self_closing, position = True, position + 1
        elif character in "\"`":
            value, position = _string(text, position, occurrences)
            if value is None:
                return None
            call.args.append(value)
        elif _is_word(character, "-."):
            word_end = position + 1
            while word_end < len(text) and _is_word(text[word_end], "-."):
                word_end += 1
            word, after = text[position:word_end], _skip_spaces(text, word_end)
            if text.startswith("=", after):  # `key=value`, and Hugo allows `key = value`
                value, position = _named_value(text, _skip_spaces(text, after + 1), right,
                                               occurrences)
                if value is None:
                    return None
                call.named[word] = value
            else:
                call.args.append(word)
                position = word_end
        else:  # Hugo: "unrecognized character in shortcode action"
            return None


def _is_word(character: str, extra: str = "") -> bool:
    return character.isalnum() or character == "_" or character in extra


def _self_closes(text: str, position: int, right: str) -> bool:
    """`/>}}` (or `/ >}}`) at `position`."""
    return text.startswith("/", position) and \
        text.startswith(right, _skip_spaces(text, position + 1))


def _name_end(text: str, position: int, right: str) -> int:
    """Hugo's names: a letter, digit or `_`, then those, `-`, `/` (namespaces) and a final
    `.inline` (inline shortcodes)."""
    if position >= len(text) or not _is_word(text[position]):
        return position
    end = position + 1
    while end < len(text):
        if _is_word(text[end], "-") or text[end] == "/" and not _self_closes(text, end, right):
            end += 1
        elif text.startswith(".inline", end) and not _is_word(text[end + 7:end + 8] or " "):
            return end + 7
        else:
            break
    return end


def _string(text: str, position: int, occurrences: _Occurrences) -> tuple[str | None, int]:
    """A "quoted" or `raw` argument at `position`: (value, end), or (None, position)."""
    if text[position] == "`":  # raw: anything, newlines too, up to the next backtick
        close = occurrences.after("`", position + 1)
        return (None, position) if close < 0 else (text[position + 1:close], close + 1)
    end = _QUOTED.match(text, position + 1).end()
    if not text.startswith('"', end):
        return None, position  # Hugo: "unterminated quoted string"
    value = text[position + 1:end]
    # Hugo drops every backslash of a value with an escaped quote, and keeps them otherwise.
    return (value.replace("\\", "") if '\\"' in value else value), end + 1


def _named_value(text: str, position: int, right: str,
                 occurrences: _Occurrences) -> tuple[str | None, int]:
    if position < len(text) and text[position] in "\"`":
        return _string(text, position, occurrences)
    end = position
    while end < len(text) and text[end] not in " \t\r\n" and not text.startswith(right, end) \
            and not _self_closes(text, end, right):
        # A quote or another call inside a bare value is a broken call, not a value: this is
        # also what keeps scanning linear (a string then always starts at a quote).
        if text[end] in "\"`" or text.startswith("{{", end):
            return None, position
        end += 1
    return text[position:end], end


def _pair(tokens: list[str | _Call]) -> dict[int, int]:
    """Openings and closings that belong together, both ways, by index. A closing tag ends the
    nearest open call of its name; calls left open between them have no closing tag."""
    partners: dict[int, int] = {}
    open_calls: list[int] = []
    open_names: Counter[str] = Counter()
    for index, token in enumerate(tokens):
        if isinstance(token, str) or token.self_closing:
            continue
        if not token.closing:
            open_calls.append(index)
            open_names[token.name] += 1
        elif open_names[token.name]:
            while True:
                opening = open_calls.pop()
                open_names[tokens[opening].name] -= 1
                if tokens[opening].name == token.name:
                    break
            partners[opening], partners[index] = index, opening
    return partners


# -- Hugo's built-ins, as its templates render them ------------------------------------------------

_CAPTURES = {"highlight", "details"}  # built-ins that rewrite their inner text
_X_NAMES = {"x", "x_simple", "tweet", "twitter", "twitter_simple"}


class _Hugo:
    """What Hugo's embedded templates (tpl/tplimpl/embedded/templates/_shortcodes/*.html)
    render, for feed readers."""

    def __init__(self, text: str, page_params: Mapping, site_params: Mapping,
                 resolve: Callable[[str], str | None], warnings: Warnings):
        self.text, self.resolve, self.warnings = text, resolve, warnings
        self.captures: list[tuple[_Call, int]] = []  # highlights and details open, and where
        # in the output their inner text began
        own = page_params.get("params") if isinstance(page_params, Mapping) else None
        # Page.Param: the page's front matter (and its `params` table), then the site's.
        self.params = [params for params in (page_params, own, site_params)
                       if isinstance(params, Mapping)]

    def warn(self, call: _Call, message: str) -> str:
        self.warnings.append((call.line, f"{call.source}: {message}"))
        return ""

    def render(self, tokens: list[str | _Call]) -> str:
        partners = _pair(tokens)
        output: list[str] = []
        captures = self.captures
        index = 0
        while index < len(tokens):
            token, partner = tokens[index], partners.get(index)
            index += 1
            if isinstance(token, str):
                output.append(token)
            elif token.closing:
                if partner is None:
                    self.warn(token, "closes no shortcode: removed")
                elif captures and captures[-1][0] is tokens[partner]:
                    call, mark = captures.pop()
                    inner = "".join(output[mark:])
                    del output[mark:]
                    output.append(self.captured(call, inner, token))
            elif partner is not None and token.name == "comment":
                index = partner + 1  # Hugo's comment renders nothing of its inner text
            elif partner is not None and token.name.endswith(".inline"):
                index = partner + 1  # the inner text is a template, not content
                self.warn(token, "inline shortcode (a template, not run here): removed")
            elif partner is not None and token.name in _CAPTURES:
                if len(captures) < MAX_CAPTURE_DEPTH:
                    captures.append((token, len(output)))
                else:
                    self.warn(token, "nested too deeply: removed, its inner text kept")
            else:
                output.append(self.alone(token))
        return "".join(output)

    def alone(self, call: _Call) -> str:
        """A call without a closing tag, or whose inner text stays as it is."""
        render = _RENDERERS.get(call.name)
        if render is not None:
            return render(self, call)
        if call.name in _CAPTURES:
            if not call.self_closing:
                self.warn(call, f"no {{{{< /{call.name} >}}}} follows it: rendered empty")
            return self.captured(call, "", call)
        if call.name == "comment":
            return ""
        if call.name.endswith(".inline"):
            return self.warn(call, "inline shortcode (a template, not run here): removed")
        if call.name == "qr":
            return self.warn(call, "Hugo's QR code image is not made here: removed")
        return self.warn(call, "not a Hugo built-in shortcode: removed")

    def captured(self, call: _Call, inner: str, closing: _Call) -> str:
        if call.name == "highlight":
            return self.highlight(call, inner, closing)
        return self.details(call, inner, closing)

    def after_block(self, end: int, html: bool = True) -> str:
        """What makes the text after a block ending at `end` Markdown again: a blank line when
        text follows on its line, and after HTML when text follows on the next line (an HTML
        block runs to a blank line, and would swallow that line raw)."""
        blanks_end = _LINE_BLANKS.match(self.text, end).end()
        if blanks_end >= len(self.text):
            return ""
        if self.text[blanks_end] != "\n":
            return "\n\n"
        if not html:
            return ""
        next_line = _LINE_BLANKS.match(self.text, blanks_end + 1).end()
        return "" if next_line >= len(self.text) or self.text[next_line] == "\n" else "\n"

    # One method per built-in, as Hugo's template files are named.

    def details(self, call: _Call, inner: str, closing: _Call) -> str:
        attributes = " open" if call.get("open") in ("true", "1") else ""
        if call.get("title"):
            attributes += f' title="{_escape(call.get("title"))}"'
        summary = _escape(call.get("summary") or "Details")
        before = "" if call.indent is not None else "\n\n"
        inner = inner.strip("\n")
        # Blank lines around the inner text keep it Markdown (Hugo renders it as Markdown).
        return (f"{before}<details{attributes}><summary>{summary}</summary>\n\n{inner}\n\n"
                f"</details>{self.after_block(closing.end)}")

    def figure(self, call: _Call) -> str:
        # Hugo's figure.html, on one line: Markdown keeps one HTML block whole.
        src = call.get("src")
        if not src:
            return self.warn(call, "no src: removed")
        image = f'<img src="{_escape(src)}"'
        if call.get("alt") or call.get("caption"):
            image += f' alt="{_escape(call.get("alt") or call.get("caption"))}"'
        image += "".join(f' {key}="{_escape(call.get(key))}"'
                         for key in ("width", "height", "loading") if call.get(key)) + ">"
        if call.get("link"):
            image = (f'<a href="{_escape(call.get("link"))}"'
                     + "".join(f' {key}="{_escape(call.get(key))}"'
                               for key in ("target", "rel") if call.get(key))
                     + f">{image}</a>")
        title, caption, attr = call.get("title"), call.get("caption"), call.get("attr")
        figcaption = ""
        if title or caption or attr:
            figcaption = f"<h4>{_escape(title)}</h4>" if title else ""
            if caption or attr:
                credit = _escape(attr)
                if call.get("attrlink"):  # the template leaves a space before this link only
                    credit = f' <a href="{_escape(call.get("attrlink"))}">{credit}</a>'
                figcaption += f"<p>{_escape(caption)}{credit}</p>"
            figcaption = f"<figcaption>{figcaption}</figcaption>"
        css_class = f' class="{_escape(call.get("class"))}"' if call.get("class") else ""
        in_code = any(open_call.name == "highlight" for open_call, _ in self.captures)
        after = self.after_block(call.end) if call.indent is not None and not in_code else ""
        return f"<figure{css_class}>{image}{figcaption}</figure>{after}"

    def gist(self, call: _Call) -> str:
        # Removed from Hugo in v0.156.0 (it was a script); sites moving here predate that.
        user, gist, file = call.arg(0), call.arg(1), call.arg(2)
        if not (_ID.fullmatch(user) and _ID.fullmatch(gist)):
            return self.warn(call, "needs a GitHub user and a gist id: removed")
        url = f"https://gist.github.com/{user}/{gist}"
        if file:  # GitHub's anchor of one file of a gist
            url += "#file-" + re.sub(r"[^a-z0-9_-]", "-", file.lower())
        text = f"{file}, a GitHub gist by {user}" if file else f"GitHub gist {user}/{gist}"
        return _link(url, text)

    def highlight(self, call: _Call, inner: str, closing: _Call) -> str:
        # Hugo renders the shortcodes inside first, like those of any other inner text
        # (hugolib/shortcode.go, doRenderShortcode): so `inner` is already expanded, and the
        # docs' way to show a shortcode in code is the escape. Then highlight.html:
        # `highlight (trim .InnerDeindent "\n\r") LANG OPTIONS`.
        indent = call.indent or ""
        if indent:
            inner = "\n".join(line.removeprefix(indent) for line in inner.split("\n"))
        inner = inner.strip("\n\r")
        if not inner:
            return ""
        language = call.arg(0) if _LANGUAGE.fullmatch(call.arg(0)) else ""
        longest = max((len(run) for run in re.findall("`+", inner)), default=0)
        fence = "`" * max(3, longest + 1)
        code = "".join(f"\n{indent}{line}" if line else "\n" for line in inner.split("\n"))
        before = "" if call.indent is not None else "\n\n"
        after = self.after_block(closing.end, html=False)
        return f"{before}{fence}{language}{code}\n{indent}{fence}{after}"

    def instagram(self, call: _Call) -> str:
        post = call.get("id", 0)
        if not _ID.fullmatch(post):
            return self.warn(call, "no valid Instagram post id: removed")
        return _link(f"https://www.instagram.com/p/{post}/", "View this post on Instagram")

    def param(self, call: _Call) -> str:
        name = call.arg(0)
        if not name:
            return self.warn(call, "names no parameter: removed")
        value = _param(self.params, name)
        if not value:  # Hugo's `with`: false, 0 and "" are not found either
            return self.warn(call, f'parameter "{name}" not found for the page or the site: '
                                   "left empty")
        text = _go_text(value)
        if text is None:
            return self.warn(call, f'parameter "{name}" is a table, not text: left empty')
        return _escape(text)

    def ref(self, call: _Call) -> str:
        target = call.get("path", 0)
        path, hash_mark, anchor = target.partition("#")
        if not path and not anchor:
            return self.warn(call, "names no page: removed")
        if not path:  # Hugo: `#anchor` alone links within the page
            return _escape(hash_mark + anchor)
        url = self.resolve(path)
        if url is None:
            return self.warn(call, f'no page "{path}" found: link left empty')
        if call.name == "relref":
            try:
                url = urlsplit(url).path
            except ValueError:
                pass
        return _escape(url + hash_mark + anchor)

    def vimeo(self, call: _Call) -> str:
        video = call.get("id", 0)
        if not _ID.fullmatch(video):
            return self.warn(call, "no valid Vimeo video id: removed")
        return _link(f"https://vimeo.com/{video}", call.get("title", 2) or "Vimeo video")

    def x(self, call: _Call) -> str:
        user, post = call.get("user"), call.get("id")
        if _ID.fullmatch(user) and _DIGITS.fullmatch(post):
            return _link(f"https://x.com/{user}/status/{post}", f"Post by @{user} on X")
        post = call.get("id", 0)
        if call.name != "x" and _DIGITS.fullmatch(post):  # `{{< tweet ID >}}`, Hugo < 0.89
            return _link(f"https://x.com/i/web/status/{post}", "Post on X")
        return self.warn(call, "cannot link to the post without user= and id=: removed")

    def youtube(self, call: _Call) -> str:
        video = call.get("id", 0)
        if not _ID.fullmatch(video):
            return self.warn(call, "no valid YouTube video id: removed")
        url, start = f"https://www.youtube.com/watch?v={video}", call.get("start")
        if _DIGITS.fullmatch(start):
            url += f"&t={start}"
        elif start:
            self.warn(call, "start is not a number of seconds: ignored")
        title = call.get("title") or "YouTube video"
        return (f'<a href="{_escape(url)}"><img src="https://i.ytimg.com/vi/{video}/hqdefault.jpg"'
                f' alt="{_escape(title)}"></a>')


_RENDERERS: dict[str, Callable[[_Hugo, _Call], str]] = {
    "figure": _Hugo.figure, "gist": _Hugo.gist, "instagram": _Hugo.instagram,
    "instagram_simple": _Hugo.instagram, "param": _Hugo.param, "ref": _Hugo.ref,
    "relref": _Hugo.ref, "vimeo": _Hugo.vimeo, "vimeo_simple": _Hugo.vimeo,
    "youtube": _Hugo.youtube, **{name: _Hugo.x for name in _X_NAMES},
}


def _escape(value: str) -> str:
    """Text or an attribute value, escaped, and on one line: a blank line would end the HTML
    block in Markdown."""
    return html.escape(value.replace("\r", " ").replace("\n", " "))


def _link(url: str, text: str) -> str:
    return f'<a href="{_escape(url)}">{_escape(text)}</a>'


def _param(candidates: list[Mapping], name: str):
    """Hugo's Page.Param (hmaps.GetNestedParam): keys are lowercased; an exact key in any
    candidate first, then the dotted path walked in each."""
    key = name.lower()
    for candidate in candidates:
        value = _lookup(candidate, key)
        if value is not None:
            return value
    for candidate in candidates:
        value = candidate
        for segment in key.split("."):
            value = _lookup(value, segment)
            if value is None:
                break
        else:
            return value
    return None


def _lookup(mapping, key: str):
    if not isinstance(mapping, Mapping):
        return None
    if key in mapping:
        return mapping[key]
    return next((value for name, value in mapping.items()
                 if isinstance(name, str) and name.lower() == key), None)


def _go_text(value) -> str | None:
    """A value as Go's templates print it (`true`, `1.5`, `[a b]`); None for a table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (list, tuple)):
        items = [_go_text(item) for item in value if not isinstance(item, (list, tuple))]
        if len(items) < len(value) or None in items:
            return None
        return "[" + " ".join(items) + "]"
    if isinstance(value, Mapping):
        return None
    return str(value)


# -- Zola's calls, as its grammar reads them -------------------------------------------------------

_ZOLA_OPENING = re.compile(r"\{[{%]")
_ZOLA_REMOVED = "Zola shortcode (a template of the site, not run here): removed"
_ZOLA_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ZOLA_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_ZOLA_ESCAPED_END = re.compile(r"\{%/\*[ \t\r\n]*end[ \t\r\n]*\*/%\}")


class _Zola:
    """Zola's grammar (content.pest) for one call, by hand: whitespace between any two tokens,
    keyword arguments only, strings in "", '' or `` without escapes, booleans, numbers and
    arrays. Anything else is not a call, and Zola prints it as it is."""

    def __init__(self, text: str):
        self.text = text
        self.occurrences = _Occurrences(text)

    def call(self, start: int) -> tuple[str | None, int]:
        """(kind, end) of the call at `start`: kind is "inline", "body", "end", "escaped" or
        "escaped body"; None when there is no call."""
        text = self.text
        body = text[start + 1] == "%"
        escaped = text.startswith("/*", start + 2)
        close = ("*/" if escaped else "") + ("%}" if body else "}}")
        ident = _ZOLA_IDENT.match(text, _skip_spaces(text, start + 4 if escaped else start + 2))
        if ident is None:
            return None, start
        position = _skip_spaces(text, ident.end())
        if body and ident.group() == "end" and text.startswith(close, position):
            return ("escaped" if escaped else "end"), position + len(close)
        if not text.startswith("(", position):
            return None, start
        position = self.arguments(position + 1)
        if position < 0:
            return None, start
        position = _skip_spaces(text, position)
        if not text.startswith(close, position):
            return None, start
        if escaped:
            return ("escaped body" if body else "escaped"), position + len(close)
        return ("body" if body else "inline"), position + len(close)

    def arguments(self, position: int) -> int:
        """After `(`: where the arguments and `)` end, or -1. `kwargs*` in the grammar: groups
        of comma-separated `name=value`, and the groups need no comma between them."""
        text, after_comma = self.text, False
        while True:
            position = _skip_spaces(text, position)
            if text.startswith(")", position) and not after_comma:
                return position + 1
            ident = _ZOLA_IDENT.match(text, position)
            if ident is None:
                return -1
            position = _skip_spaces(text, ident.end())
            if not text.startswith("=", position):
                return -1
            position = self.literal(_skip_spaces(text, position + 1), 0)
            if position < 0:
                return -1
            position = _skip_spaces(text, position)
            after_comma = text.startswith(",", position)
            position += after_comma

    def literal(self, position: int, depth: int) -> int:
        text = self.text
        if text.startswith(("\"", "'", "`"), position):
            close = self.occurrences.after(re.escape(text[position]), position + 1)
            return close + 1 if close >= 0 else -1
        for word in ("true", "false"):
            if text.startswith(word, position):
                return position + len(word)
        if text.startswith("[", position):
            if depth >= MAX_ZOLA_ARRAY_DEPTH:
                return -1
            position += 1
            while True:  # "[" ~ (literal ~ ",")* ~ literal? ~ "]"
                position = _skip_spaces(text, position)
                if text.startswith("]", position):
                    return position + 1
                position = self.literal(position, depth + 1)
                if position < 0:
                    return -1
                position = _skip_spaces(text, position)
                if text.startswith(",", position):
                    position += 1
                elif not text.startswith("]", position):
                    return -1
        number = _ZOLA_NUMBER.match(text, position)
        return number.end() if number else -1

    def escaped_end(self, position: int) -> tuple[int, int] | None:
        start = self.occurrences.after(_ZOLA_ESCAPED_END.pattern, position)
        return None if start < 0 else (start, _ZOLA_ESCAPED_END.match(self.text, start).end())


def _unescape_zola(source: str) -> str:
    """`{{/* name() */}}` as Zola prints it: `{{ name() }}` (and `{%/* */%}` likewise)."""
    return source[:2] + source[4:-4] + source[-2:]
