"""Jekyll's Liquid in post bodies (feedsvc/liquid.py): rendered as Jekyll renders it, and
whatever cannot be rendered removed and reported with its file line, never shown to readers.

Expected values come from Jekyll's documentation (https://jekyllrb.com/docs/liquid/) where it
gives them, and from Jekyll's source (lib/jekyll/tags, lib/jekyll/filters) where it does not.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import given, settings, strategies as st

from feedsvc.liquid import render, site_config

SITE = {"url": "http://example.com", "baseurl": "/my-baseurl",
        "repository": "https://github.com/jekyll/jekyll",
        # site.time of Jekyll's filter documentation
        "time": datetime(2008, 11, 7, 13, 7, 54, tzinfo=timezone(timedelta(hours=-8)))}
PAGE = {"title": "Hello", "url": "/my-baseurl/2024/01/05/hello/", "tags": ["foo", "bar", "baz"]}
POSTS = {"2010-07-21-name": "http://example.com/my-baseurl/2010/07/21/name/",
         "news/2010-07-21-other": "http://example.com/my-baseurl/news/2010/07/21/other/"}
FILES = {"_posts/2016-07-26-name.md": "http://example.com/my-baseurl/2016/07/26/name/",
         "docs/installation.md": "http://example.com/my-baseurl/docs/installation.html"}


class Resolver:
    """The caller's lookup of posts and files, recording what it was asked."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def __call__(self, kind: str, target: str) -> str | None:
        self.calls.append((kind, target))
        return (POSTS if kind == "post_url" else FILES).get(target)


def jekyll(text: str, first_line: int = 1, site: dict | None = None, page: dict | None = None,
           **options) -> tuple[str, list[tuple[int, str]]]:
    return render(text, first_line, SITE if site is None else site,
                  PAGE if page is None else page, Resolver(), **options)


def markdown(text: str) -> str:
    return cmarkgfm.markdown_to_html_with_extensions(text, options=Options.CMARK_OPT_UNSAFE,
                                                     extensions=["table", "autolink"])


def assert_no_template_code(text: str) -> None:
    assert "{{" not in text and "{%" not in text, text


# -- the common cases ------------------------------------------------------------------------

def test_text_without_template_code_comes_back_as_it_is():
    text = "A post with {braces}, 50% off and a } or two.\n\n```js\nf({a: 1})\n```\n"
    calls = Resolver()
    output, warnings = render(text, 3, SITE, PAGE, calls)
    assert output is text
    assert warnings == [] and calls.calls == []


def test_site_variable_in_a_markdown_link_reference():
    # Jekyll docs, Variables: every key of _config.yml is `site.<key>`.
    text = "Read [the roadmap][roadmap].\n\n[roadmap]: {{ site.repository }}/issues/9156\n"
    output, warnings = jekyll(text)
    assert output == ("Read [the roadmap][roadmap].\n\n"
                      "[roadmap]: https://github.com/jekyll/jekyll/issues/9156\n")
    assert warnings == []
    assert '<a href="https://github.com/jekyll/jekyll/issues/9156">the roadmap</a>' in \
        markdown(output)


def test_a_missing_site_or_page_value_is_empty_and_reported():
    text = "Intro\n\nSee {{ site.repository }}/issues and {{ page.subtitle }}.\n"
    output, warnings = jekyll(text, first_line=5, site={}, page={})
    assert output == "Intro\n\nSee /issues and .\n"
    assert warnings == [
        (7, "{{ site.repository }}: 'site.repository' is not in _config.yml: rendered empty"),
        (7, "{{ page.subtitle }}: 'page.subtitle' is not in the front matter: rendered empty")]


def test_undefined_variables_are_empty_as_in_jekyll_and_tests_are_not_holes():
    # Jekyll's default `strict_variables: false`: an undefined variable renders nothing.
    text = ("{{ nothing }}{% if page.draft %}draft{% endif %}"
            "{{ page.subtitle | default: 'none' }}")
    assert jekyll(text) == ("none", [])


def test_standard_liquid_tags_and_filters():
    text = ('{% assign issues = "1037|1040" | split: "|" %}'
            "{% for issue in issues %}[#{{ issue }}]: {{ site.repository }}/issues/{{ issue }}\n"
            "{% endfor %}{{ page.title | upcase }} "
            "{% capture n %}{{ 2 | plus: 3 }}{% endcapture %}{{ n }}")
    assert jekyll(text) == ("[#1037]: https://github.com/jekyll/jekyll/issues/1037\n"
                            "[#1040]: https://github.com/jekyll/jekyll/issues/1040\n"
                            "HELLO 5", [])


# -- Jekyll's tags -----------------------------------------------------------------------------

def test_post_url_asks_the_caller_for_the_post_as_written():
    # Jekyll docs, Tags: post_url ("{% post_url 2010-07-21-name %}", subdirectories included).
    calls = Resolver()
    text = ("[one]({% post_url 2010-07-21-name %}) and\n"
            "[two]({% post_url news/2010-07-21-other %})\n")
    output, warnings = render(text, 1, SITE, PAGE, calls)
    assert output == ("[one](http://example.com/my-baseurl/2010/07/21/name/) and\n"
                      "[two](http://example.com/my-baseurl/news/2010/07/21/other/)\n")
    assert warnings == []
    assert calls.calls == [("post_url", "2010-07-21-name"),
                           ("post_url", "news/2010-07-21-other")]


def test_a_post_url_to_no_post_is_empty_and_reported():
    output, warnings = jekyll("Old:\n\n[gone]({% post_url 2009-01-01-gone %})\n", first_line=4)
    assert output == "Old:\n\n[gone]()\n"
    assert warnings == [(6, "{% post_url 2009-01-01-gone %}: no post named '2009-01-01-gone' "
                            "in the site: the link is empty")]


def test_link_asks_the_caller_for_the_file_at_that_path():
    # Jekyll docs, Tags: link ("{% link _posts/2016-07-26-name.md %}"), which may span lines
    # and may hold variables.
    calls = Resolver()
    text = ("[a]({% link _posts/2016-07-26-name.md %}) [b]({% link\n"
            "docs/installation.md %}) [c]({% link {{ page.folder }}/installation.md %})\n")
    output, warnings = render(text, 1, SITE, {"folder": "docs"}, calls)
    assert output == ("[a](http://example.com/my-baseurl/2016/07/26/name/) "
                      "[b](http://example.com/my-baseurl/docs/installation.html) "
                      "[c](http://example.com/my-baseurl/docs/installation.html)\n")
    assert warnings == []
    assert calls.calls == [("link", "_posts/2016-07-26-name.md"),
                           ("link", "docs/installation.md"), ("link", "docs/installation.md")]


def test_a_link_to_no_file_is_empty_and_reported():
    output, warnings = jekyll("x\n[a]({% link docs/nowhere.md %})", first_line=10)
    assert output == "x\n[a]()"
    assert warnings == [(11, "{% link docs/nowhere.md %}: no file 'docs/nowhere.md' in the site: "
                             "the link is empty")]


def test_highlight_becomes_a_fenced_code_block():
    # Jekyll docs, Tags: code snippet highlighting. The code keeps its text: a fence longer
    # than the ``` inside it, and `{% raw %}` around Liquid the code shows.
    text = ("Install:\n"
            "{% highlight ruby linenos %}\n"
            'puts "{% raw %}{{ page.title }}{% endraw %}"\n'
            "doc = '```'\n"
            "{% endhighlight %}\n"
            "Done.\n")
    output, warnings = jekyll(text)
    assert warnings == []
    assert "\n\n````ruby\n" in output and "\n````\n\n" in output
    html = markdown(output)
    assert ('<pre><code class="language-ruby">puts &quot;{{ page.title }}&quot;\n'
            "doc = '```'\n</code></pre>") in html
    assert "<p>Install:</p>" in html and "<p>Done.</p>" in html


def test_highlight_renders_liquid_inside_as_jekyll_does():
    # Jekyll's HighlightBlock renders its content as Liquid before highlighting it.
    output, _ = jekyll("{% highlight sh %}\ngit clone {{ site.repository }}\n{% endhighlight %}")
    assert "```sh\ngit clone https://github.com/jekyll/jekyll\n```" in output


def test_highlight_in_a_list_item_stays_in_it():
    text = ("1. Run:\n\n"
            "   {% highlight sh %}\n"
            "   make\n"
            "   {% endhighlight %}\n\n"
            "2. Done\n")
    html = markdown(jekyll(text)[0])
    assert '<li>\n<p>Run:</p>\n<pre><code class="language-sh">make\n</code></pre>\n</li>' in html


def test_highlight_in_an_html_body_is_pre_code():
    output, _ = jekyll('<p>x</p>{% highlight html %}<a href="/">é</a>{% endhighlight %}',
                       markdown=False)
    assert output == ('<p>x</p><pre><code class="language-html">'
                      '&lt;a href=&quot;/&quot;&gt;é&lt;/a&gt;</code></pre>')


def test_render_with_liquid_false_shows_the_liquid_as_is():
    # Jekyll docs, Tags: `render_with_liquid: false` in front matter disables Liquid (4.0).
    text = "Write {{ page.title }} and {% if x %}."
    assert render(text, 1, SITE, {"render_with_liquid": False}, Resolver()) == (text, [])


def test_raw_keeps_template_code_literal():
    # Jekyll docs, Tags: raw ("text that would be interpreted as Liquid is shown as is").
    text = "Write `{% raw %}{{ x }}{% if y %}{% endraw %}` in a template."
    assert jekyll(text) == ("Write `{{ x }}{% if y %}` in a template.", [])


# -- Jekyll's filters, with the examples of Jekyll docs, Filters ----------------------------------

@pytest.mark.parametrize("template, expected", [
    ('{{ "/assets/style.css" | relative_url }}', "/my-baseurl/assets/style.css"),
    ('{{ "/assets/style.css" | absolute_url }}', "http://example.com/my-baseurl/assets/style.css"),
    ('{{ "https://other.org/x" | relative_url }}', "https://other.org/x"),
    ("{{ site.time | date_to_xmlschema }}", "2008-11-07T13:07:54-08:00"),
    # The documentation's example says "Mon"; 7 November 2008 was a Friday.
    ("{{ site.time | date_to_rfc822 }}", "Fri, 07 Nov 2008 13:07:54 -0800"),
    ("{{ site.time | date_to_string }}", "07 Nov 2008"),
    ('{{ site.time | date_to_string: "ordinal", "US" }}', "Nov 7th, 2008"),
    ("{{ site.time | date_to_long_string }}", "07 November 2008"),
    ('{{ site.time | date_to_long_string: "ordinal" }}', "7th November 2008"),
    ("{{ '2011-01-27' | date_to_string }}", "27 Jan 2011"),
    ("""{{ 'foo "bar" <baz> & more' | xml_escape }}""",
     "foo &quot;bar&quot; &lt;baz&gt; &amp; more"),
    ('{{ "foo, bar; baz?" | cgi_escape }}', "foo%2C+bar%3B+baz%3F"),
    ('{{ "http://foo.com/?q=foo, \\bar?" | uri_escape }}', "http://foo.com/?q=foo,%20%5Cbar?"),
    ('{{ "Hello world!" | number_of_words }}', "2"),
    ('{{ "你好hello世界world" | number_of_words: "cjk" }}', "6"),
    ("{{ page.tags | array_to_sentence_string }}", "foo, bar, and baz"),
    ('{{ page.tags | array_to_sentence_string: "or" }}', "foo, bar, or baz"),
    ('{{ "The _config.yml file" | slugify }}', "the-config-yml-file"),
    ('{{ "The _config.yml file" | slugify: "pretty" }}', "the-_config.yml-file"),
    ('{{ "The _cönfig.yml file" | slugify: "ascii" }}', "the-c-nfig-yml-file"),
    ('{{ "The cönfig.yml file" | slugify: "latin" }}', "the-config-yml-file"),
    ('{{ "a \n b" | normalize_whitespace }}', "a b"),
    ("{{ page.tags | jsonify }}", '["foo","bar","baz"]'),
    ('{{ page | jsonify }}', '{"title":"Hello","url":"/my-baseurl/2024/01/05/hello/",'
                             '"tags":["foo","bar","baz"]}'),
    ('{{ page.tags | push: "Spokane" | unshift: "Olympia" | jsonify }}',
     '["Olympia","foo","bar","baz","Spokane"]'),
    ("{{ page.tags | sort | join: ' ' }}", "bar baz foo"),
    ("{{ '**bold**' | markdownify }}", "**bold**"),
])
def test_jekyll_filters(template, expected):
    assert jekyll(template) == (expected, [])


def test_where_sort_and_group_by_read_properties_as_jekyll_does():
    page = {"members": [{"name": "Ann", "year": "2014", "team": ["a", "b"]},
                        {"name": "Bob", "year": 2013, "team": "a"},
                        {"name": "Cy"}]}
    text = ("{{ page.members | where: 'year', '2014' | map: 'name' | join }}|"
            "{{ page.members | where: 'team', 'a' | map: 'name' | join }}|"
            "{{ page.members | where_exp: 'm', 'm.year == 2013' | map: 'name' | join }}|"
            "{{ page.members | sort: 'year' | map: 'name' | join }}|"
            "{{ page.members | sort: 'year', 'last' | map: 'name' | join }}|"
            "{% assign groups = page.members | group_by: 'year' %}"
            "{% for group in groups %}{{ group.name }}:{{ group.size }} {% endfor %}")
    assert jekyll(text, page=page) == ("Ann|Ann Bob|Bob|Cy Bob Ann|Bob Ann Cy|2014:1 2013:1 :1 ",
                                       [])


def test_a_filter_that_fails_leaves_out_its_statement():
    output, warnings = jekyll("a {{ 'soon' | date_to_string }} b\nc {{ 1 | divided_by: 0 }} d")
    assert output == "a  b\nc  d"
    assert warnings == [
        (1, "{{ 'soon' | date_to_string }}: 'soon' is not a date: left out"),
        (2, "{{ 1 | divided_by: 0 }}: divided_by: can't divide by 0: left out")]


# -- what cannot be rendered -------------------------------------------------------------------

def test_unknown_tags_are_removed_keeping_the_text_they_wrap():
    text = ("Intro\n"
            "{% seo %}\n"
            "{% tabs code %}\n"
            "Tab text\n"
            "{% endtabs %}\n"
            "{% youtube dQw4w9WgXcQ %} end\n")
    output, warnings = jekyll(text, first_line=8)
    assert output == "Intro\n\n\nTab text\n\n end\n"
    assert warnings == [
        (9, "{% seo %}: the tag 'seo' (a Jekyll plugin's?) is not supported: removed"),
        (10, "{% tabs code %}: the tag 'tabs' (a Jekyll plugin's?) is not supported: removed"),
        (13, "{% youtube dQw4w9WgXcQ %}: the tag 'youtube' (a Jekyll plugin's?) is not "
             "supported: removed")]


def test_include_without_an_includes_folder_is_removed():
    output, warnings = jekyll("Contents:\n{% include toc.html %}\nText", first_line=12)
    assert output == "Contents:\n\nText"
    assert warnings == [(13, "{% include toc.html %}: the Jekyll tag 'include' is not "
                             "supported: removed")]


def test_unknown_filter_leaves_the_value_unchanged():
    text = "{% for i in (1..3) %}{% endfor %}\n{{ page.title | shout: 3 }}!"
    output, warnings = jekyll(text, first_line=2)
    assert output == "\nHello!"
    assert warnings == [(3, "{{ page.title | shout: 3 }}: unknown filter 'shout': the value is "
                            "left unchanged")]


def test_a_warning_inside_a_loop_is_given_once():
    output, warnings = jekyll("{% for i in (1..3) %}{{ i | shout }}{% endfor %}")
    assert output == "123" and len(warnings) == 1


def test_a_syntax_error_publishes_the_text_without_any_template_code():
    text = ("# {{ page.title }}\n"
            "{% comment %}a note to self{% endcomment %}\n"
            "Shown as is: {% raw %}{{ x }}{% endraw %}\n"
            "{% if page.title == %}\n"
            "Kept text.\n"
            "{% endif %}\n"
            "{% highlight ruby %}\nputs 1\n{% endhighlight %}\n")
    output, warnings = jekyll(text, first_line=20)
    assert output == ("# \n\nShown as is: {{ x }}\n\nKept text.\n\n"
                      "\n\n```ruby\nputs 1\n```\n\n\n")
    assert warnings == [(23, "{% if page.title == %}: Liquid syntax error: expected a primitive "
                             "expression, found end of expression: published with all template "
                             "code removed")]


@pytest.mark.parametrize("text", [
    "a {{ page.title b", "a {% if x %} b", "{% endif %} a", "{% else %}", "a {% raw %}{{ b",
    "{% highlight %}x{% endhighlight %}", "{{ x | }}", "{% for %}{% endfor %}", "{%- -%}",
    "{% assign = 1 %}", "{% if x %}{% endfor %}", "{{ 'a' 'b' }}", "{% comment %} a",
    "{% if x %}{{{% endif %}",  # python-liquid's lexer alone would pass the `{{` as text
])
def test_no_syntax_error_shows_template_code(text):
    output, warnings = jekyll(text)
    assert_no_template_code(output)
    assert len(warnings) == 1 and "published with all template code removed" in warnings[0][1]


# -- hostile posts end fast, with a warning ------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("{% for i in (1..100000000) %}x{% endfor %}", "loop iteration limit reached"),
    ("{% for i in (1..9000) %}x{% endfor %}" * 1000, "loop iteration limit reached"),
    ("{% for i in (1..10000) %}{% for j in (1..10000) %}x{% endfor %}{% endfor %}",
     "loop iteration limit reached"),
    ("{% tablerow i in (1..100000000) %}x{% endtablerow %}", "loop iteration limit reached"),
    ("{% for i in (1..5000) %}" + "{% if true %}{% endif %}" * 2000 + "{% endfor %}",
     "too much template to repeat"),
    ("{% if true %}" * 10_000 + "x" + "{% endif %}" * 10_000, "block nesting limit reached"),
    ("{% assign a = 'xxxxxxxx' %}{% for i in (1..64) %}{% capture a %}{{ a }}{{ a }}"
     "{% endcapture %}{% endfor %}", "limit reached"),
    ("{% assign x = 3 %}{% for i in (1..64) %}{% assign x = x | times: x %}{% endfor %}",
     "times: number too large"),
    ("{{ (1..1000000000) | join }}", "join: range too long"),
    ("{% assign x = 'aaaaaaaaaaaaaaaa' %}{% for i in (1..5) %}"
     "{% assign x = x | append: x | append: x %}{% endfor %}{{ x | replace: 'a', x }}",
     "replace: result too large"),
    ("{% raw %}x" * 20_000, "'raw' tag was never closed"),
    ("{{ a " * 50_000, "expected '}}'"),
    ("{{ a" + "[a" * 5000 + "]" * 5000 + " }}", "unexpected liquid parsing error"),
])
def test_hostile_posts_end_with_a_warning(text, message):
    # No timing asserted (tests never do): without the limits these take minutes, which the
    # suite's own time limit would catch; with them, milliseconds.
    output, warnings = jekyll(text)
    assert_no_template_code(output)
    assert len(output) < len(text) + 1000
    assert any(message in warning for _, warning in warnings), warnings


def test_many_problems_give_a_bounded_list_of_warnings():
    output, warnings = jekyll("{% nope %}\n" * 500)
    assert output == "\n" * 500
    assert len(warnings) == 51 and warnings[-1] == (1, "450 more warnings not shown")


FRAGMENTS = ["{{ page.title }}", "{{ page.nope }}", "{{ site.repository | upcase }}",
             "{% if page.title %}", "{% else %}", "{% endif %}", "{% for i in (1..3) %}",
             "{% endfor %}", "{% highlight ruby %}", "{% endhighlight %}", "{% seo %}",
             "{% tabs %}", "{% endtabs %}", "{{ i | shout }}", "{% post_url 2010-07-21-name %}",
             "{% link nowhere.md %}", "{% comment %}", "{% endcomment %}", "{{", "}}", "{%",
             "%}", "{% assign i = 'x' | append: i %}", "{% capture c %}", "{% endcapture %}",
             "{% include t.html %}", "{% break %}", "{{ 'a' | date_to_string }}", "\n", " "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(st.characters(blacklist_characters="{}%",
                                                                   blacklist_categories=["Cs"]),
                                                     max_size=4), max_size=30),
       st.integers(min_value=1, max_value=10_000))
def test_any_text_renders_without_raising_or_template_code(parts, first_line):
    text = "".join(parts)
    output, warnings = jekyll(text, first_line=first_line)
    assert isinstance(output, str)
    assert_no_template_code(output)
    lines = text.count("\n")
    for line, message in warnings:
        assert first_line <= line <= first_line + lines and message


# -- includes ----------------------------------------------------------------------------------

@pytest.fixture
def includes(tmp_path) -> Path:
    folder = tmp_path / "site" / "_includes"
    folder.mkdir(parents=True)
    (folder / "note.html").write_text('<aside>{{ include.text }} ({{ page.title }})</aside>')
    (folder / "badge.html").write_text("v{{ include.version }}")
    (folder / "loop.html").write_text("{% include loop.html %}")
    (folder / "broken.html").write_text("{% if %}")
    (tmp_path / "site" / "secret.txt").write_text("SECRET")
    (tmp_path / "outside.html").write_text("OUTSIDE")
    os.symlink(tmp_path / "outside.html", folder / "link.html")
    return folder


def test_include_renders_the_file_with_its_parameters(includes):
    # Jekyll docs, Includes: `{% include note.html text="..." %}`, read as `include.text`.
    text = ('{% include note.html text="Hi \\"you\\"" %}\n'
            "{%- include badge.html version=page.version -%}\n")
    output, warnings = jekyll(text, page={"title": "T", "version": "4.0"}, includes=includes)
    assert output == '<aside>Hi "you" (T)</aside>v4.0'
    assert warnings == []


@pytest.mark.parametrize("name", ["../secret.txt", "link.html", "/etc/passwd", "missing.html",
                                  "a//b.html", "{{ page.bad }}"])
def test_include_never_reads_outside_the_includes_folder(includes, name):
    output, warnings = jekyll("{% include " + name + " %}", page={"bad": "../secret.txt"},
                              includes=includes)
    assert output == ""
    assert len(warnings) == 1 and "in _includes: removed" in warnings[0][1]


def test_an_include_in_a_long_loop_is_cut_short(includes):
    (includes / "big.html").write_text("{% if true %}{{ include.n }}{% endif %}" * 1000)
    output, warnings = jekyll("{% for i in (1..9000) %}{% include big.html n=i %}{% endfor %}",
                              includes=includes)
    assert output == "" and "too much template to repeat" in warnings[0][1]


def test_broken_or_recursive_includes_are_reported(includes):
    output, warnings = jekyll("a\n{% include broken.html %}b", includes=includes)
    assert output == "a\nb"
    assert warnings == [(2, "{% include broken.html %}: broken.html: Liquid syntax error: "
                            "missing expression: removed")]
    output, warnings = jekyll("a\n{% include loop.html %}b", includes=includes)
    assert output == "a\nb"
    assert warnings == [(2, "{% include loop.html %}: maximum context depth reached, possible "
                            "recursive include: published with all template code removed")]


# -- the site's configuration ---------------------------------------------------------------

def test_site_config_reads_config_yml(tmp_path):
    (tmp_path / "_config.yml").write_text("title: Blog\nrepository: https://x/y\n")
    assert site_config(tmp_path) == {"title": "Blog", "repository": "https://x/y"}


@pytest.mark.parametrize("content", [
    None, b"title: [unclosed\n", b"- a list\n", b"", b"\xff\xfe\x00",
    b"deep: " + b"[" * 1500 + b"]" * 1500 + b"\n"])
def test_site_config_is_empty_when_missing_or_broken(tmp_path, content):
    if content is not None:
        (tmp_path / "_config.yml").write_bytes(content)
    assert site_config(tmp_path) == {}


def test_site_config_of_a_folder_that_is_not_there():
    assert site_config(Path("/nonexistent/site")) == {}
