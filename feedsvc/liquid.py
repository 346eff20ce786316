"""Jekyll's Liquid in post bodies, rendered as Jekyll renders it, for blogs that move here.

Jekyll renders a post's Liquid before its Markdown, so old posts keep `{{ site.repository }}`,
`{% post_url %}`, `{% link %}`, `{% highlight %}` and `{% raw %}` in their text. A feed reader
must see what the Jekyll site showed and never template code, so whatever cannot be rendered is
removed, with a warning naming the file line and the tag as written: a plugin's tag (`{% seo %}`)
loses its markup and keeps the text it wraps; a syntax error anywhere publishes the text with
every tag and output statement removed (`{% raw %}` content stays, as it is text).

python-liquid runs in its strict mode so that every problem reaches us as an error to report;
Jekyll's laxness (an undefined variable is empty, an unknown filter is ignored) is put back
here, with warnings where the reader would see a hole. Posts are untrusted input: loops, output,
nesting, numbers and text sizes are bounded, and `render` never raises.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

import yaml
from dateutil import parser as date_parser  # python-liquid's own dependency, for its `date`
from liquid import BoundTemplate, Environment, RenderContext, Tag, Token, TokenStream, Undefined
from liquid.ast import BlockNode, IllegalNode, Node
from liquid.builtin.tags.for_tag import ForNode, ForTag
from liquid.builtin.tags.tablerow_tag import TablerowNode, TablerowTag
from liquid.builtin.expressions import (BooleanExpression, StringLiteral, parse_primitive,
                                        tokenize)
from liquid.expression import Expression
from liquid.exceptions import (FilterArgumentError, LiquidError, LiquidSyntaxError,
                               LoopIterationLimitError, ResourceLimitError,
                               TemplateInheritanceError, UnknownFilterError)
from liquid.filter import with_context
from liquid.parser import get_parser
from liquid.stringify import to_liquid_string
from liquid.token import (TOKEN_EOF, TOKEN_EXPRESSION, TOKEN_ILLEGAL, TOKEN_OUTPUT,
                          TOKEN_TAG)

Warnings = list[tuple[int, str]]

# Bounds for hostile posts. A real post loops over a few dozen things and writes well under a
# megabyte; these stop `{% for i in (1..100000000) %}` and its friends within milliseconds.
MAX_ITERATIONS = 10_000  # loop iterations in one render, nested or not
# Characters of template that loops and includes render, counted as loop body length times
# iterations: ten thousand turns of a 48 KB body of tags took 18 s.
MAX_WORK = 5_000_000
MAX_OUTPUT = 8 * 1024 * 1024  # bytes written, captures included
MAX_LOCALS = 1024 * 1024  # bytes held by `assign` and `capture` variables
MAX_NUMBER_BITS = 1024  # `times` squaring a number in a loop
MAX_INCLUDE_BYTES = 1024 * 1024
MAX_WARNINGS = 50
_MARKUP_LENGTH = 80  # of a tag quoted in a warning

# A syntax error in a post publishes it without template code; so do exhausted bounds, since
# the reader would otherwise get half a post.
_FATAL = (LiquidSyntaxError, ResourceLimitError, TemplateInheritanceError)
# Jekyll's own tags we do not render (a site's plugins are the other unknown tags).
_JEKYLL_TAGS = {"include", "include_relative"}
# Tags that only make sense inside a block: out of place they are Liquid syntax errors.
_INNER_TAGS = {"else", "elsif", "when", "endraw"}

_OPENING = re.compile(r"\{[{%]")
_CLOSING = {"{%": re.compile(r"%\}"), "{{": re.compile(r"\}\}")}
_TAG = re.compile(r"\{%-?\s*(\w+)\s*(.*?)\s*-?%\}\Z", re.S)
_VERBATIM = re.compile(r"\{%-?\s*(raw|doc)\s*-?%\}")
_END_TAG = {name: re.compile(r"\{%%-?\s*end%s\s*-?%%\}" % name)
            for name in ("raw", "doc", "comment", "highlight")}
_BACKTICKS = re.compile(r"`+")
_LINE_TERMINATORS = re.compile(r"\A[\r\n]+|(?:\n[ \t]*)?[\r\n]*\Z")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_URL_SAFE = "/-._~!$&'()*+,;=:@%?#[]"  # kept by Jekyll's URL normalisation (and `%` escapes)

# Jekyll's syntax checks (lib/jekyll/tags/highlight.rb, include.rb).
_HIGHLIGHT = re.compile(r'([a-zA-Z0-9.+#_-]+)((\s+\w+(=(\w+|"([0-9]+\s)*[0-9]+"))?)*)')
_INCLUDE_PARAM = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|"""
                            r"""'([^'\\]*(?:\\.[^'\\]*)*)'|([\w.-]+))""")
_INCLUDE_PARAMS = re.compile(rf"\s*(?:{_INCLUDE_PARAM.pattern}(?=\s|\Z)\s*)*\Z")
_INCLUDE_FILE = re.compile(r"((?:\{\{.*?\}\}|[^\s{])+)\s*(.*)", re.S)
_INCLUDE_NAME = re.compile(r"[\w/.\-()+~#@]+")
_INCLUDE_BAD_SEQUENCE = re.compile(r"[./]{2,}")


def site_config(root: Path) -> dict:
    """The Jekyll site's `_config.yml` at `root` (yaml.safe_load), {} when there is none or it
    cannot be read/parsed (never raises). Like Jekyll, `_config.yaml` when there is no `.yml`."""
    for name in ("_config.yml", "_config.yaml"):
        try:
            text = (root / name).read_text(encoding="utf-8")
        except (OSError, ValueError):
            continue
        try:
            config = yaml.safe_load(text)
        except Exception:  # YAML's errors, and RecursionError for deep nesting
            return {}
        return config if isinstance(config, dict) else {}
    return {}


def render(text: str, first_line: int, site: Mapping, page: Mapping,
           resolve: Callable[[str, str], str | None], *, includes: Path | None = None,
           markdown: bool = True) -> tuple[str, Warnings]:
    """Render Jekyll Liquid in a post body.
    text: the body (after front matter), Markdown or HTML. first_line: the file's line number of
    the body's first line. site: `site.*` values (the _config.yml dict; the caller sets `url`
    and `baseurl` in it). page: `page.*` values (front matter plus `url`).
    resolve(kind, target): kind "post_url" with target as written (e.g. "2010-07-21-name" or
    "news/2010-07-21-name"), or kind "link" with a site-relative file path as written (e.g.
    "_posts/2016-07-26-name.md", "docs/installation.md"); returns the absolute URL, or None
    when there is no such file.
    includes: the site's `_includes` folder, for `{% include %}`; None: includes are removed.
    markdown: False for an HTML body, where `{% highlight %}` becomes <pre><code>, not a fence.
    Returns (rendered text, warnings); each warning is (file line number, message), the message
    naming the tag as written, e.g. (12, "{% include toc.html %}: the Jekyll tag 'include' is not
    supported: removed")."""
    if "{{" not in text and "{%" not in text:
        return text, []
    if page.get("render_with_liquid") is False:  # Jekyll 4: the post shows its Liquid as is
        return text, []
    state = _Render(text, first_line, site, resolve, includes, markdown)
    token = _STATE.set(state)
    try:
        try:
            _check_delimiters(text)
            output = _ENV.from_string(text).render(site=site, page=page)
        except Exception as error:  # whatever fails, readers get no template code
            state.warn(getattr(error, "token", None), _failure(error))
            output = _strip(text, markdown)
    finally:
        _STATE.reset(token)
    return output, state.report()


def _failure(error: Exception) -> str:
    if isinstance(error, LiquidSyntaxError):
        problem = f"Liquid syntax error: {error.message}"
    elif isinstance(error, LiquidError):
        problem = str(error.message)
    else:
        problem = f"cannot be rendered ({type(error).__name__}: {error})"
    return f"{problem}: published with all template code removed"


def _check_delimiters(text: str) -> None:
    """Raise, before lexing, two syntax errors python-liquid's lexer handles badly: a
    `{% raw %}` (or `{% doc %}`) with no end, whose end it would search for once per such tag
    (quadratic time), and a `{{` never closed, which it lets through as text when another `{{`
    or `{%` follows at once (`{{{% endif %}`)."""
    position, last_output = 0, -1
    while match := _VERBATIM.search(text, position):
        last_output = max(last_output, text.rfind("{{", position, match.start()))
        end = _END_TAG[match[1]].search(text, match.end())
        if end is None:
            raise LiquidSyntaxError(f"'{match[1]}' tag was never closed",
                                    token=Token(TOKEN_TAG, match[1], match.start(), text))
        position = end.end()
    last_output = max(last_output, text.rfind("{{", position))
    if last_output >= 0 and text.find("}}", last_output + 2) < 0:
        raise LiquidSyntaxError("expected '}}', found end of file",
                                token=Token(TOKEN_OUTPUT, "{{", last_output, text))


# -- one render's state: what tags, filters and errors report to ------------------------------

@dataclass
class _Render:
    text: str
    first_line: int
    site: Mapping
    resolve: Callable[[str, str], str | None]
    includes: Path | None
    markdown: bool
    warnings: Warnings = field(default_factory=list)
    seen: set = field(default_factory=set)
    more: int = 0  # warnings past MAX_WARNINGS
    unknown: set[str] = field(default_factory=set)  # unknown tag names met so far
    iterations: int = 0
    work: int = 0  # see MAX_WORK
    body: int = 0  # the length of the body of the loop being entered
    # Includes by name, parsed with their length, or why they cannot be rendered.
    partials: dict[str, tuple[BoundTemplate, int] | str] = field(default_factory=dict)
    # The tag in the post being rendered from other text (an include's file, a tag's own
    # markup): what a warning from that text points at.
    outer: Token | None = None

    def warn(self, token: Token | None, message: str) -> None:
        here = token is not None and token.source is self.text and token.start_index >= 0
        anchor = token if here else self.outer
        key = (anchor and anchor.start_index, token and token.start_index, message)
        if key in self.seen:  # a tag in a loop warns once
            return
        self.seen.add(key)
        if len(self.warnings) >= MAX_WARNINGS:
            self.more += 1
            return
        line, quoted = self.first_line, []
        if anchor is not None:
            start, markup = _markup(self.text, anchor.start_index)
            line += self.text.count("\n", 0, start)
            quoted.append(markup)
        if token is not None and not here and token.start_index >= 0:
            quoted.append(_markup(token.source, token.start_index)[1])
        self.warnings.append((line, ": ".join([*filter(None, quoted), message])))

    def charge(self, iterations: int, work: int) -> None:
        self.iterations += iterations
        self.work += work
        if self.iterations > MAX_ITERATIONS:
            raise LoopIterationLimitError("loop iteration limit reached", token=None)
        if self.work > MAX_WORK:
            raise ResourceLimitError("loop limit reached: too much template to repeat",
                                     token=None)

    def report(self) -> Warnings:
        if self.more:
            return [*self.warnings, (self.first_line, f"{self.more} more warnings not shown")]
        return self.warnings

    @contextmanager
    def nested(self, token: Token) -> Iterator[None]:
        """Rendering text that is not the post's on behalf of `token`, a tag in the post."""
        outer = self.outer
        self.outer = outer or token
        try:
            yield
        except LiquidError as error:
            if error.token is None or error.token.source is not self.text:
                error.token = self.outer
            raise
        finally:
            self.outer = outer


_STATE: ContextVar[_Render] = ContextVar("liquid_render")


def _state() -> _Render | None:
    return _STATE.get(None)


def _markup(source: str, index: int) -> tuple[int, str]:
    """Where the `{% ... %}` or `{{ ... }}` around `index` starts, and its text as written
    (on one line, shortened)."""
    start = max(source.rfind("{%", 0, index + 2), source.rfind("{{", 0, index + 2))
    if start < 0:
        return index, ""
    end = source.find("%}" if source.startswith("{%", start) else "}}", index)
    quoted = " ".join(source[start:len(source) if end < 0 else end + 2][:4 * _MARKUP_LENGTH]
                      .split())
    if len(quoted) > _MARKUP_LENGTH:
        quoted = quoted[:_MARKUP_LENGTH - 1] + "…"
    return start, quoted


# -- the environment: python-liquid with Jekyll's tags, filters and laxness --------------------

class _Undefined(Undefined):
    """Empty, as in Jekyll; a missing `site.x` or `page.x` is reported when it is output, since
    the reader then sees a hole (in a condition or `| default:` it is only a test)."""

    __slots__ = ()

    def __str__(self) -> str:
        self.report()
        return ""

    def report(self) -> None:
        state = _state()
        if state is None or self.name not in ("site", "page") or not self.hint:
            return
        path = self.hint.removesuffix(" is undefined")
        where = "_config.yml" if self.name == "site" else "the front matter"
        state.warn(self.token, f"'{path}' is not in {where}: rendered empty")


class _Context(RenderContext):
    __slots__ = ()

    def filter(self, name: str, token: Token | None) -> Callable[..., object]:
        try:
            function = super().filter(name, token)
        except UnknownFilterError:
            # Jekyll ignores an unknown filter (liquid's strict_filters is off there).
            _STATE.get().warn(token, f"unknown filter '{name}': the value is left unchanged")
            return _unchanged
        return _bounded(name, function)

    def raise_for_loop_limit(self, length: int = 1) -> None:
        # python-liquid bounds each nest of loops; a post could hold thousands of them, or
        # repeat a large body of tags.
        super().raise_for_loop_limit(length)
        state = _STATE.get()
        body, state.body = state.body, 0
        state.charge(length, length * body)


class _Weighed(Node):
    """A loop, which tells the render's state how long its body is before it starts."""

    __slots__ = ()

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        # The body's block ends at the loop's end (or `else`) tag.
        _STATE.get().body = self.block.token.start_index - self.token.start_index
        return super().render_to_output(context, buffer)


class _ForNode(_Weighed, ForNode):
    __slots__ = ()


class _TablerowNode(_Weighed, TablerowNode):
    __slots__ = ()


class _For(ForTag):
    node_class = _ForNode


class _Tablerow(TablerowTag):
    node_class = _TablerowNode


class _Template(BoundTemplate):
    context_class = _Context


class _Jekyll(Environment):
    loop_iteration_limit = MAX_ITERATIONS
    output_stream_limit = MAX_OUTPUT
    local_namespace_limit = MAX_LOCALS
    context_depth_limit = 30  # includes within includes, loops within loops
    block_nesting_limit = 30
    template_class = _Template

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        # Shopify's `render` is not in Jekyll's Liquid 4, and its `include` has other syntax.
        del self.tags["render"]
        for tag in (_For, _Tablerow, _UnknownTag, _PostUrl, _Link, _Highlight, _Include):
            self.add_tag(tag)
        for name, function in _FILTERS.items():
            self.add_filter(name, function)

    def _parse(self, source: str) -> list[Node]:
        stream = TokenStream(self.tokenizer()(source))
        try:
            return get_parser(self).parse(stream)
        except LiquidError as error:
            # python-liquid points some errors at the end of the text or of an expression;
            # the warning should name the tag instead.
            if error.token is None or error.token.start_index < 0 or \
                    error.token.source is not source:
                error.token = _culprit(stream, self.tags)
            raise

    def error(self, exc: type[LiquidError] | LiquidError, msg: str | None = None,
              token: Token | None = None) -> None:
        """Syntax errors and exhausted bounds end the render; any other error (a filter's bad
        argument) leaves out the statement it happened in, with a warning."""
        if not isinstance(exc, LiquidError):
            exc = exc(msg, token=token)
        elif not exc.token:
            exc.token = token
        if isinstance(exc, _FATAL):
            raise exc
        _STATE.get().warn(exc.token, f"{exc.message}: left out")


def _culprit(stream: TokenStream, tags: Mapping[str, Tag]) -> Token | None:
    """The tag a parse error stopped at: at the end of the text, the last block never closed;
    else the last tag or output statement read."""
    tokens = stream.tokens
    if stream.pos >= len(tokens):
        opened: list[Token] = []
        for token in tokens:
            if token.kind != TOKEN_TAG:
                continue
            if getattr(tags.get(token.value), "end", ""):
                opened.append(token)
            elif opened and token.value == "end" + opened[-1].value:
                opened.pop()
        if opened:
            return opened[-1]
    for token in reversed(tokens[:stream.pos + 1]):
        if token.kind in (TOKEN_TAG, TOKEN_OUTPUT):
            return token
    return None


def _unchanged(value: object, *_args: object, **_kwargs: object) -> object:
    return value


# Filters whose result can be their inputs' sizes multiplied (`replace` a letter with a long
# text, `join` with a long separator): refused before they allocate it.
_MULTIPLYING = {"replace", "join", "array_to_sentence_string"}


def _bounded(name: str, function: Callable[..., object]) -> Callable[..., object]:
    def call(left: object, *args: object, **kwargs: object) -> object:
        values = (left, *args, *kwargs.values())
        for value in values:
            if isinstance(value, range) and value.stop - value.start > MAX_ITERATIONS:
                raise ResourceLimitError(f"{name}: range too long", token=None)
            if isinstance(value, int) and value.bit_length() > MAX_NUMBER_BITS:
                raise ResourceLimitError(f"{name}: number too large", token=None)
        if name in _MULTIPLYING and \
                _size(left) * max(map(_size, values[1:]), default=1) > MAX_OUTPUT:
            raise ResourceLimitError(f"{name}: result too large", token=None)
        try:
            return function(left, *args, **kwargs)
        except (LiquidError, TypeError):  # TypeError: python-liquid names the filter
            raise
        except Exception as error:  # a bad value is the post's fault, not a crash
            raise FilterArgumentError(f"{name}: {error}", token=None) from error
    return call


def _size(value: object) -> int:
    if isinstance(value, (str, list, tuple, dict)):
        return len(value)
    return 1


# -- Jekyll's tags -------------------------------------------------------------------------

class _UnknownTag(Tag):
    """Any tag that is neither Liquid's nor one of Jekyll's we render: a site plugin's
    (`{% seo %}`, `{% youtube id %}`, `{% tabs %}...{% endtabs %}`). Its markup is removed and
    the text around and between kept; `{% endtabs %}` after `{% tabs %}` goes silently."""

    name = TOKEN_ILLEGAL
    block = False

    def parse(self, stream: TokenStream) -> Node:
        token, _ = _markup_of(stream)
        name = token.value
        if not name or name in _INNER_TAGS or (name.startswith("end") and
                                                name[3:] in self.env.tags):
            raise LiquidSyntaxError(f"unexpected tag '{name}'", token=token)
        state = _STATE.get()
        if not (name.startswith("end") and name[3:] in state.unknown):
            state.unknown.add(name)
            what = f"the Jekyll tag '{name}'" if name in _JEKYLL_TAGS else \
                f"the tag '{name}' (a Jekyll plugin's?)"
            state.warn(token, f"{what} is not supported: removed")
        return IllegalNode(token)


def _markup_of(stream: TokenStream) -> tuple[Token, Token | None]:
    """A tag's token and its expression's, leaving the stream on the tag's last token."""
    token = stream.expect(TOKEN_TAG)
    if stream.peek.kind != TOKEN_EXPRESSION:
        return token, None
    next(stream)
    return token, stream.current


class _UrlTagNode(Node):
    __slots__ = ("kind", "target", "template")

    def __init__(self, token: Token, kind: str, target: str, template: BoundTemplate | None):
        super().__init__(token)
        self.kind, self.target, self.template = kind, target, template
        self.blank = False

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        state = _STATE.get()
        target = self.target
        if self.template is not None:  # `{% link {{ page.dir }}/a.md %}`: Jekyll renders it
            with state.nested(self.token):
                target = _render_into(self.template, context, buffer).strip()
        url = state.resolve(self.kind, target)
        if url is None:
            what = "post named" if self.kind == "post_url" else "file"
            state.warn(self.token, f"no {what} '{target}' in the site: the link is empty")
            return 0
        return buffer.write(str(url))


def _render_into(template: BoundTemplate, context: RenderContext, buffer: TextIO) -> str:
    inner = context.get_buffer(buffer)
    template.render_with_context(context, inner)
    return inner.getvalue()


class _PostUrl(Tag):
    """`{% post_url 2010-07-21-name %}`: the URL of the post in `_posts/2010-07-21-name.*`
    (Jekyll docs, Tags: post_url), found by the caller's `resolve`."""

    name = "post_url"
    block = False

    def parse(self, stream: TokenStream) -> Node:
        token, expression = _markup_of(stream)
        target = expression.value.strip() if expression else ""
        if not target:
            _STATE.get().warn(token, "no target: removed")
            return IllegalNode(token)
        template = self.env.from_string(target) if "{{" in target else None
        return _UrlTagNode(token, self.name, target, template)


class _Link(_PostUrl):
    """`{% link _posts/2016-07-26-name.md %}`: the URL of the file at that path from the
    site's root (Jekyll docs, Tags: link); the path may hold `{{ }}`."""

    name = "link"


class _Highlight(Tag):
    """`{% highlight ruby linenos %}code{% endhighlight %}`, as a fenced code block for the
    Markdown that follows (`<pre><code>` in an HTML body). Jekyll renders Liquid inside the
    block ("Jekyll processes all Liquid filters in code blocks", Jekyll docs, Tags; a change
    that made it behave as `raw` was reverted before 4.0, jekyll#7592), which is why posts
    wrap code showing Liquid in `{% raw %}`; so do we. Its options (line numbers, marked
    lines) are presentation feed readers do not get."""

    name = "highlight"
    end = "endhighlight"

    def parse(self, stream: TokenStream) -> Node:
        token = stream.eat(TOKEN_TAG)
        options = stream.current.value.strip() if stream.current.kind == TOKEN_EXPRESSION else ""
        match = _HIGHLIGHT.fullmatch(options)
        if match is None:
            raise LiquidSyntaxError(f"highlight needs a language, found '{options}'", token=token)
        next(stream)
        block = get_parser(self.env).parse_block(stream, (self.end, TOKEN_EOF))
        stream.expect(TOKEN_TAG, value=self.end)
        return _HighlightNode(token, match[1].lower(), block)


class _HighlightNode(Node):
    __slots__ = ("language", "block")

    def __init__(self, token: Token, language: str, block: BlockNode):
        super().__init__(token)
        self.language, self.block = language, block
        self.blank = False

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        code = context.get_buffer(buffer)
        self.block.render(context, code)
        return buffer.write(_code_block(code.getvalue(), self.language, _indent(self.token),
                                        _STATE.get().markdown))


def _indent(token: Token) -> str:
    """The blanks before a tag alone at the start of its line, which the block put in its place
    keeps (a code block stays inside its list item); "" after other text."""
    source, index = token.source, token.start_index
    line_start = source.rfind("\n", 0, index) + 1
    before = source[line_start:source.rfind("{%", line_start, index)]
    return before if not before.strip() else ""


def _code_block(code: str, language: str, indent: str, markdown: bool) -> str:
    # Jekyll drops the line breaks around the code; so does the line holding only the end
    # tag's indentation.
    code = _LINE_TERMINATORS.sub("", code)
    if not code.strip():
        return ""
    if not markdown:
        return f'<pre><code class="language-{html.escape(language)}">{html.escape(code)}' \
               "</code></pre>"
    # On lines of its own with blank lines around, so that it is a block wherever the tag
    # was; longer than any backtick run inside, so that nothing in the code closes it.
    longest = max((len(run) for run in _BACKTICKS.findall(code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"\n\n{indent}{fence}{language}\n{code}\n{indent}{fence}\n\n"


class _Include(Tag):
    """Jekyll's `{% include note.html text="Hi" %}`: the file from the site's `_includes`
    folder, rendered with `include.text` set (Jekyll docs, Includes). Never a file outside
    that folder, as Jekyll's safe mode."""

    name = "include"
    block = False

    def parse(self, stream: TokenStream) -> Node:
        token, expression = _markup_of(stream)
        state = _STATE.get()
        if state.includes is None:
            state.warn(token, "the Jekyll tag 'include' is not supported: removed")
            return IllegalNode(token)
        match = _INCLUDE_FILE.fullmatch(expression.value.strip() if expression else "")
        if match is None or not _INCLUDE_PARAMS.fullmatch(match[2]):
            raise LiquidSyntaxError("invalid include syntax", token=token)
        name = match[1]
        template = self.env.from_string(name) if "{{" in name else None
        params: dict[str, Expression] = {}
        for key, double, single, variable in _INCLUDE_PARAM.findall(match[2]):
            if variable:  # a variable's value, as `include.title=page.title`
                params[key] = parse_primitive(self.env, TokenStream(tokenize(variable,
                                                                             expression)))
            else:
                text = double.replace('\\"', '"') if double else single.replace("\\'", "'")
                params[key] = StringLiteral(token, text)
        return _IncludeNode(token, name, template, params if match[2] else None)


class _IncludeNode(Node):
    __slots__ = ("name", "template", "params")

    def __init__(self, token: Token, name: str, template: BoundTemplate | None,
                 params: dict[str, Expression] | None):
        super().__init__(token)
        self.name, self.template, self.params = name, template, params
        self.blank = False

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        state = _STATE.get()
        with state.nested(self.token):
            name = self.name
            if self.template is not None:
                name = _render_into(self.template, context, buffer).strip()
            partial = state.partials.get(name)
            if partial is None:
                partial = state.partials[name] = _load_include(context.env, state.includes,
                                                               name)
            if isinstance(partial, str):
                state.warn(self.token, partial)
                return 0
            template, length = partial
            state.charge(0, length)
            # Without parameters, `include.*` stays what an including include set (Jekyll).
            namespace = {} if self.params is None else {"include": {
                key: value.evaluate(context) for key, value in self.params.items()}}
            with context.extend(namespace):
                template.render_with_context(context, buffer, partial=True)
            return 0


def _load_include(env: Environment, folder: Path | None,
                  name: str) -> tuple[BoundTemplate, int] | str:
    """The include `name`, parsed, and its length; or why it cannot be rendered."""
    source = _read_include(folder, name)
    if source is None:
        return f"no file '{name}' in _includes: removed"
    try:
        _check_delimiters(source)
        template = env.from_string(source)
    except LiquidSyntaxError as error:
        return f"{name}: Liquid syntax error: {error.message}: removed"
    return template, len(source)


def _read_include(folder: Path | None, name: str) -> str | None:
    """The text of `_includes/<name>`, or None when the name is not one Jekyll accepts, there
    is no such file, or it is (or `_includes` is) a way out of the folder."""
    if folder is None or not _INCLUDE_NAME.fullmatch(name) or \
            _INCLUDE_BAD_SEQUENCE.search(name):
        return None
    try:
        root = folder.resolve()
        path = (folder / name).resolve()
        if folder.is_symlink() or not path.is_relative_to(root) or not path.is_file() or \
                path.stat().st_size > MAX_INCLUDE_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except (OSError, RuntimeError, ValueError):
        return None


# -- Jekyll's filters (lib/jekyll/filters*.rb) ------------------------------------------------

def _text(value: object) -> str:
    return to_liquid_string(value, False)


def _site() -> Mapping:
    state = _state()
    return state.site if state else {}


def _absent(value: object) -> bool:
    """Jekyll's nil; a missing `site.x` or `page.x` is reported."""
    if isinstance(value, _Undefined):
        value.report()
        return True
    return value is None


def relative_url(value: object) -> str | None:
    if _absent(value):
        return None
    if isinstance(value, Mapping):  # a page or document: its url
        value = value.get("url")
    url = _text(value)
    if _SCHEME.match(url):
        return url
    base = _text(_site().get("baseurl")).rstrip("/")
    parts = [part if not part or part.startswith("/") else "/" + part for part in (base, url)]
    return quote("".join(parts), safe=_URL_SAFE)


def absolute_url(value: object) -> str | None:
    path = relative_url(value)
    if path is None or _SCHEME.match(path):
        return path
    site_url = _text(_site().get("url")).rstrip("/")
    return quote(site_url, safe=_URL_SAFE) + path if site_url else path


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _time(value: object) -> datetime:
    """Liquid's to_date, in the site's `timezone` as Jekyll's `localtime`."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, timezone.utc)
    else:
        text = _text(value).strip()
        if text in ("now", "today"):
            moment = datetime.now(timezone.utc)
        elif text.isdigit():
            moment = datetime.fromtimestamp(int(text), timezone.utc)
        else:
            try:
                moment = date_parser.parse(text)
            except (ValueError, OverflowError):
                raise FilterArgumentError(f"'{text}' is not a date", token=None) from None
    zone = _zone(_text(_site().get("timezone")))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone or timezone.utc)
    return moment.astimezone(zone) if zone else moment


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ValueError, OSError, KeyError):  # unknown names raise ZoneInfoNotFoundError
        return None


def _ordinal(day: int) -> str:
    if 11 <= day <= 13:
        return f"{day}th"
    return f"{day}{({1: 'st', 2: 'nd', 3: 'rd'}).get(day % 10, 'th')}"


def _date_string(value: object, month_length: int | None, kind: object, style: object) -> object:
    if _absent(value) or _text(value) == "":
        return value
    moment = _time(value)
    month = _MONTHS[moment.month - 1][:month_length]
    if kind == "ordinal":
        day = _ordinal(moment.day)
        return f"{month} {day}, {moment.year}" if style == "US" else \
            f"{day} {month} {moment.year}"
    return f"{moment.day:02d} {month} {moment.year}"


def date_to_string(value: object, kind: object = None, style: object = None) -> object:
    """`07 Nov 2008`; `7th Nov 2008` with "ordinal", `Nov 7th, 2008` with "ordinal", "US"."""
    return _date_string(value, 3, kind, style)


def date_to_long_string(value: object, kind: object = None, style: object = None) -> object:
    return _date_string(value, None, kind, style)


def date_to_xmlschema(value: object) -> object:
    if _absent(value) or _text(value) == "":
        return value
    return _time(value).isoformat(timespec="seconds")


def date_to_rfc822(value: object) -> object:
    if _absent(value) or _text(value) == "":
        return value
    return format_datetime(_time(value))


def xml_escape(value: object) -> str:
    return html.escape(_text(value), quote=False).replace('"', "&quot;")


def cgi_escape(value: object) -> str:
    return quote_plus(_text(value), safe="~")


def uri_escape(value: object) -> str:
    return quote(_text(value), safe="!#$&'()*+,/:;=?@[]~%")


def _plain(value: object) -> object:
    """A value as JSON carries it: Liquid's empties are null, ranges are lists."""
    if isinstance(value, Undefined):
        return None
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, range)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def jsonify(value: object) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))


_PRETTY = set("._~!$&'()+,;=@")


def slugify(value: object, mode: object = None) -> str:
    """Jekyll's Utils.slugify: runs of anything but letters, marks and digits become `-`
    ("pretty" also keeps `._~!$&'()+,;=@`, "ascii" keeps only A-Z a-z 0-9, "raw" replaces
    only spaces, "latin" drops accents first), lowercased."""
    text = _text(value)
    mode = "default" if mode is None else _text(mode)
    if mode not in ("raw", "default", "pretty", "ascii", "latin"):
        return text.lower()
    if mode == "latin":
        text = "".join(char for char in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(char))
        text = "".join(char if char.isascii() else "?" for char in text)
    if mode == "raw":
        slug = re.sub(r"\s+", "-", text)
    else:
        slug = re.sub("-+", "-", "".join(char if _slug_keeps(char, mode) else "-"
                                         for char in text))
    return slug.removeprefix("-").removesuffix("-").lower()


def _slug_keeps(char: str, mode: str) -> bool:
    if mode == "ascii":
        return char.isascii() and char.isalnum()
    category = unicodedata.category(char)
    return category[0] in "LM" or category == "Nd" or (mode == "pretty" and char in _PRETTY)


# Han, Hiragana, Katakana and Hangul: Jekyll counts each such character as a word.
_CJK_CHARACTERS = ("\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
                   "\uac00-\ud7af\uf900-\ufaff")
_CJK = re.compile(f"[{_CJK_CHARACTERS}]")
_NON_CJK_WORD = re.compile(rf"[^\s{_CJK_CHARACTERS}]+")


def number_of_words(value: object, mode: object = None) -> int:
    """Words between blanks; with "cjk" (or "auto", when there are any) CJK characters count
    one each."""
    text = _text(value)
    if mode in ("cjk", "auto"):
        cjk = len(_CJK.findall(text))
        if mode == "cjk" or cjk:
            return cjk + len(_NON_CJK_WORD.findall(text))
    return len(text.split())


def array_to_sentence_string(value: object, connector: object = "and") -> str:
    items = [_text(item) for item in value] if isinstance(value, (list, tuple)) else [_text(value)]
    connector = _text(connector)
    if len(items) < 3:
        return f" {connector} ".join(items)
    return f"{', '.join(items[:-1])}, {connector} {items[-1]}"


def normalize_whitespace(value: object) -> str:
    return " ".join(_text(value).split())


def markdownify(value: object) -> str:
    # The body becomes HTML after this: Markdown left as it is turns into what Jekyll's
    # markdownify made of it, except inside an HTML block, which post bodies rarely hold.
    return _text(value)


def smartify(value: object) -> str:
    # The Markdown pass that follows makes quotes and dashes typographic, body-wide.
    return _text(value)


def _items(value: object) -> list | None:
    if isinstance(value, Mapping):
        return list(value.values())
    return list(value) if isinstance(value, (list, tuple)) else None


_INTEGER = re.compile(r"\s*-?\d+\s*")
_FLOAT = re.compile(r"\s*-?(?:\d+\.?\d*|\.\d+)\s*")


def _property(item: object, name: object) -> object:
    """Jekyll's item_property: a (dotted) key of a hash; numbers in text compare as numbers."""
    value: object = item
    for key in _text(name).split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    if isinstance(value, str) and len(value) < 100:
        if _INTEGER.fullmatch(value):
            return int(value)
        if _FLOAT.fullmatch(value):
            return float(value)
    return value


def where(value: object, name: object = None, target: object = None) -> object:
    items = _items(value)
    if items is None or _absent(name) or isinstance(target, (list, dict)):
        return value
    return [item for item in items if _matches(_property(item, name), target)]


def _matches(found: object, target: object) -> bool:
    if target is None or isinstance(target, Undefined):
        return found is None
    wanted = _text(target)
    if isinstance(found, str):
        return found == wanted
    return any(_text(each) == wanted for each in
               (found if isinstance(found, (list, tuple)) else [] if found is None else [found]))


@lru_cache(maxsize=64)
def _condition(expression: str) -> BooleanExpression:
    if "{%" in expression or "{{" in expression:
        raise FilterArgumentError("template code in an expression", token=None)
    token = Token(TOKEN_EXPRESSION, expression, 0, expression)
    return BooleanExpression.parse(_ENV, TokenStream(tokenize(expression, token)))


def _select(value: object, variable: object, expression: object,
            context: RenderContext) -> Iterator[object]:
    """The items of `value` for which `expression` holds with `variable` set to the item."""
    items = _items(value) or []
    condition, name = _condition(_text(expression)), _text(variable)
    context.raise_for_loop_limit(len(items))
    for item in items:
        with context.extend({name: item}):
            if condition.evaluate(context):
                yield item


@with_context
def where_exp(value: object, variable: object, expression: object, *,
              context: RenderContext) -> object:
    """`where_exp: "item", "item.year > 2014"`: the items for which the condition holds."""
    if _items(value) is None:
        return value
    return list(_select(value, variable, expression, context))


@with_context
def find_exp(value: object, variable: object, expression: object, *,
             context: RenderContext) -> object:
    """The first item for which the condition holds, or nil."""
    return next(_select(value, variable, expression, context), None)


def _order(value: object) -> tuple:
    """Ruby's `<=>` as a key: numbers by value, everything else as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, _text(value))


def sort(value: object, name: object = None, nils: object = "first") -> list:
    if _absent(value):
        raise FilterArgumentError("cannot sort a null object", token=None)
    items = _items(value) or []
    if name is None or isinstance(name, Undefined):
        return sorted(items, key=_order)
    if nils not in ("first", "last"):
        raise FilterArgumentError(f"invalid nils order '{nils}': use 'first' or 'last'",
                                  token=None)
    keyed = [(_property(item, name), item) for item in items]
    present = sorted((pair for pair in keyed if pair[0] is not None), key=lambda p: _order(p[0]))
    missing = [pair for pair in keyed if pair[0] is None]
    ordered = missing + present if nils == "first" else present + missing
    return [item for _, item in ordered]


def group_by(value: object, name: object) -> object:
    items = _items(value)
    if items is None:
        return value
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(_text(_property(item, name)), []).append(item)
    return [{"name": key, "items": group, "size": len(group)} for key, group in groups.items()]


def push(value: object, item: object) -> object:
    return [*value, item] if isinstance(value, list) else value


def pop(value: object, count: object = 1) -> object:
    return value[:max(0, len(value) - int(count))] if isinstance(value, list) else value


def shift(value: object, count: object = 1) -> object:
    return value[max(0, int(count)):] if isinstance(value, list) else value


def unshift(value: object, item: object) -> object:
    return [item, *value] if isinstance(value, list) else value


def to_integer(value: object) -> int:
    """Ruby's to_i: the leading digits, 0 without any; true is 1."""
    if isinstance(value, bool):
        return int(value)
    match = re.match(r"\s*[-+]?\d+", _text(value))
    return int(match[0]) if match else 0


_FILTERS: dict[str, Callable[..., Any]] = {
    "relative_url": relative_url, "absolute_url": absolute_url,
    "date_to_string": date_to_string, "date_to_long_string": date_to_long_string,
    "date_to_xmlschema": date_to_xmlschema, "date_to_rfc822": date_to_rfc822,
    "xml_escape": xml_escape, "cgi_escape": cgi_escape, "uri_escape": uri_escape,
    "jsonify": jsonify, "slugify": slugify, "number_of_words": number_of_words,
    "array_to_sentence_string": array_to_sentence_string,
    "normalize_whitespace": normalize_whitespace, "markdownify": markdownify,
    "smartify": smartify, "where": where, "where_exp": where_exp, "find_exp": find_exp,
    "sort": sort, "group_by": group_by, "push": push, "pop": pop, "shift": shift,
    "unshift": unshift, "to_integer": to_integer,
}

_ENV = _Jekyll(undefined=_Undefined)


# -- when nothing can be rendered -----------------------------------------------------------

def _strip(text: str, markdown: bool) -> str:
    """`text` with every `{% %}` and `{{ }}` removed: the words survive, the code does not.
    `{% raw %}` content stays (it is text), `{% comment %}` content goes (it never showed),
    and `{% highlight %}` code still becomes a code block. One forward scan: a search that
    found nothing is not repeated, so unterminated tags cannot make it quadratic."""
    out: list[str] = []
    position = 0
    exhausted: set[re.Pattern] = set()

    def find(pattern: re.Pattern, start: int) -> re.Match | None:
        if pattern in exhausted:
            return None
        match = pattern.search(text, start)
        if match is None:
            exhausted.add(pattern)
        return match

    while opening := _OPENING.search(text, position):
        out.append(text[position:opening.start()])
        close = find(_CLOSING[opening[0]], opening.end())
        if close is None:  # a lone delimiter
            position = opening.end()
            continue
        position = close.end()
        tag = _TAG.match(text, opening.start(), position) if opening[0] == "{%" else None
        if tag and tag[1] in ("raw", "comment", "highlight"):
            end = find(_END_TAG[tag[1]], position)
            if end is None:
                continue
            inner = text[position:end.start()]
            if tag[1] == "raw":
                out.append(inner)
            elif tag[1] == "highlight":
                language = _HIGHLIGHT.fullmatch(tag[2])
                language = language[1].lower() if language else ""
                token = Token(TOKEN_TAG, "highlight", opening.start() + 2, text)
                out.append(_code_block(_strip(inner, markdown), language, _indent(token),
                                       markdown))
            position = end.end()
    out.append(text[position:])
    return "".join(out)
