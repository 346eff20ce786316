"""Hugo's and Zola's shortcodes: Hugo's built-ins rendered as its embedded templates render them
(tpl/tplimpl/embedded/templates/_shortcodes/*.html), adapted for feed readers; everything else
removed with a warning naming line and call; never raw markup, never an exception."""

from __future__ import annotations


import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.shortcodes import hugo_site_config, render_hugo, strip_zola

PAGES = {"blog/post.md": "https://example.org/blog/post/",
         "about": "https://example.org/about/?lang=en&x=1"}


def hugo(text: str, page: dict | None = None, site: dict | None = None, first_line: int = 1):
    return render_hugo(text, first_line, page or {}, site or {}, PAGES.get)


def rendered(text: str, **kwargs) -> str:
    output, warnings = hugo(text, **kwargs)
    assert warnings == []
    return output


def markdown(text: str) -> str:
    """As content.py renders a body: cmark-gfm with raw HTML kept."""
    return cmarkgfm.markdown_to_html_with_extensions(
        text, options=Options.CMARK_OPT_UNSAFE, extensions=["table", "autolink"])


def test_text_without_shortcodes_comes_back_as_it_is():
    text = "Some {{ braces }} and {% tags %}, <b>html</b>.\n" * 100
    output, warnings = hugo(text)
    assert output is text and warnings == []


# -- figure ----------------------------------------------------------------------------------------

def test_figure_with_caption_link_title_and_attribution():
    # figure.html: <a> around the <img>; alt from alt, else the caption; <h4> title and <p>
    # caption in <figcaption>; a space before the attribution's link (the template's own).
    output = rendered('{{< figure src="map.png" link="https://example.org/big" target="_blank" '
                      'caption="The map" title="Where" attr="Ann" attrlink="https://ann.example" '
                      'width="600" class="wide" >}}')
    assert output == (
        '<figure class="wide"><a href="https://example.org/big" target="_blank">'
        '<img src="map.png" alt="The map" width="600"></a><figcaption><h4>Where</h4>'
        '<p>The map <a href="https://ann.example">Ann</a></p></figcaption></figure>')


def test_figure_minimal_and_attribution_without_link():
    assert rendered("{{< figure src=/img/a.png >}}") == '<figure><img src="/img/a.png"></figure>'
    # Without attrlink the template prints caption and attribution with nothing between them.
    assert rendered('{{< figure src="a.png" alt="A" caption="Cap." attr="Ann" />}}') == (
        '<figure><img src="a.png" alt="A"><figcaption><p>Cap.Ann</p></figcaption></figure>')


def test_figure_stays_one_html_block_and_the_next_line_stays_markdown():
    output = rendered('Intro\n{{< figure src="a.png" caption="A *cap*" link="/x" >}}\n'
                      "Next *line*\n")
    page = markdown(output)
    figure = ('<figure><a href="/x"><img src="a.png" alt="A *cap*"></a><figcaption>'
              "<p>A *cap*</p></figcaption></figure>")
    assert figure in page
    assert "<p>Next <em>line</em></p>" in page
    assert page.count("<p>") == 3  # Intro, the caption, Next


def test_figure_caption_spread_over_lines_stays_on_one_line():
    output = rendered("{{< figure src=a.png caption=`one\n\ntwo` >}}")
    assert "\n" not in output and "<p>one  two</p>" in output


def test_figure_without_src_is_removed():
    assert hugo('{{< figure caption="x" >}}') == (
        "", [(1, '{{< figure caption="x" >}}: no src: removed')])


def test_figure_attributes_are_escaped():
    # `javascript:` stays a plain attribute (the sanitizer drops it later); quotes cannot
    # close one.
    output = rendered(r'{{< figure src="javascript:alert(1)" caption="\"><script>" >}}')
    assert output == ('<figure><img src="javascript:alert(1)" alt="&quot;&gt;&lt;script&gt;">'
                      "<figcaption><p>&quot;&gt;&lt;script&gt;</p></figcaption></figure>")


# -- videos, gists, posts --------------------------------------------------------------------------

def test_youtube_is_a_thumbnail_linking_to_the_video():
    # youtube.html: id named or first positional, title (default "YouTube video"), start.
    assert rendered('{{< youtube id="0RKpf3rK57I" title="A talk" start=30 >}}') == (
        '<a href="https://www.youtube.com/watch?v=0RKpf3rK57I&amp;t=30">'
        '<img src="https://i.ytimg.com/vi/0RKpf3rK57I/hqdefault.jpg" alt="A talk"></a>')
    output = rendered("{{< youtube 0RKpf3rK57I >}}")
    assert 'alt="YouTube video"' in output and "watch?v=0RKpf3rK57I\"" in output
    # A paragraph of its own: an inline link, not an HTML block.
    assert markdown("Watch:\n\n" + output).endswith(f"<p>{output}</p>\n")


@pytest.mark.parametrize("call", [
    r'{{< youtube "x\"><script>" >}}',
    '{{< youtube id="a b" >}}',
    "{{< youtube >}}",
    '{{< vimeo "1 onmouseover=x" >}}',
])
def test_video_ids_are_validated(call):
    output, warnings = hugo(call)
    assert output == "" and len(warnings) == 1 and "no valid" in warnings[0][1]


def test_youtube_start_that_is_not_seconds_is_ignored_and_reported():
    output, warnings = hugo('{{< youtube id=abc start="1m" >}}')
    assert "watch?v=abc\"" in output
    assert warnings == [(1, '{{< youtube id=abc start="1m" >}}: start is not a number of '
                            "seconds: ignored")]


def test_vimeo_is_a_link():
    assert rendered("{{< vimeo 146022717 >}}") == (
        '<a href="https://vimeo.com/146022717">Vimeo video</a>')
    assert rendered('{{< vimeo id=146022717 title="Flight & sound" >}}') == (
        '<a href="https://vimeo.com/146022717">Flight &amp; sound</a>')


def test_gist_is_a_link():
    # The old gist.html: `gist USER ID [FILE]` (removed from Hugo in v0.156.0).
    assert rendered("{{< gist spf13 7896402 >}}") == (
        '<a href="https://gist.github.com/spf13/7896402">GitHub gist spf13/7896402</a>')
    assert rendered('{{< gist spf13 7896402 "img.html" >}}') == (
        '<a href="https://gist.github.com/spf13/7896402#file-img-html">'
        "img.html, a GitHub gist by spf13</a>")
    assert hugo("{{< gist spf13 >}}")[1] == [
        (1, "{{< gist spf13 >}}: needs a GitHub user and a gist id: removed")]


def test_posts_on_x_and_instagram_are_links():
    # x.html needs user= and id=; `{{< tweet ID >}}` was Hugo's form before v0.89.
    assert rendered('{{< x user="SanDiegoZoo" id="1453110110599868418" >}}') == (
        '<a href="https://x.com/SanDiegoZoo/status/1453110110599868418">'
        "Post by @SanDiegoZoo on X</a>")
    assert rendered("{{< tweet 877500564405444608 >}}") == (
        '<a href="https://x.com/i/web/status/877500564405444608">Post on X</a>')
    assert rendered("{{< instagram BWNjjyYFxVx >}}") == (
        '<a href="https://www.instagram.com/p/BWNjjyYFxVx/">View this post on Instagram</a>')
    assert hugo('{{< x id="1453110110599868418" >}}') == ("", [
        (1, '{{< x id="1453110110599868418" >}}: cannot link to the post without user= and '
            "id=: removed")])


# -- ref, relref, param ----------------------------------------------------------------------------

def test_ref_and_relref_with_anchors():
    asked = []

    def resolve(target):
        asked.append(target)
        return PAGES.get(target)

    text = ('[a]({{< ref "blog/post.md#part-2" >}}) [b]({{< relref "blog/post.md#part-2" >}}) '
            '[c]({{% ref path="about" %}}) [d]({{< relref about >}}) [e]({{< ref "#top" >}})')
    output, warnings = render_hugo(text, 1, {}, {}, resolve)
    assert warnings == []
    assert asked == ["blog/post.md", "blog/post.md", "about", "about"]  # anchors are ours
    assert output == ("[a](https://example.org/blog/post/#part-2) [b](/blog/post/#part-2) "
                      "[c](https://example.org/about/?lang=en&amp;x=1) [d](/about/) [e](#top)")
    assert '<a href="https://example.org/about/?lang=en&amp;x=1">c</a>' in markdown(output)


def test_ref_to_a_missing_page_is_empty_and_reported():
    output, warnings = hugo('See [it]({{< ref "gone.md#x" >}}).', first_line=3)
    assert output == "See [it]()."
    assert warnings == [(3, '{{< ref "gone.md#x" >}}: no page "gone.md" found: link left '
                            "empty")]


def test_param_from_the_page_then_the_site():
    # Page.Param (hmaps.GetNestedParam): keys lowercased, an exact key in the page, its
    # `params` table or the site first, then the dotted path walked in each.
    page = {"title": "Mine", "Author": "Ann <a@b>", "params": {"mood": "calm"},
            "deep": {"er": {"est": 1.0}}}
    site = {"title": "Site's", "social": {"mastodon": "@ann"}, "tags": ["a", "b"],
            "a.b": "exact"}
    output, warnings = hugo("{{< param title >}}|{{< param author >}}|{{< param mood >}}|"
                            '{{< param "deep.er.est" >}}|{{< param "Social.Mastodon" >}}|'
                            '{{< param tags >}}|{{% param "a.b" %}}', page, site)
    assert warnings == []
    assert output == "Mine|Ann &lt;a@b&gt;|calm|1|@ann|[a b]|exact"


def test_missing_or_empty_param_is_reported():
    output, warnings = hugo("a{{< param nope >}}b\n{{< param off >}}\n{{< param table >}}",
                            {"off": False}, {"table": {"x": 1}})
    assert output == "ab\n\n"
    assert warnings == [
        (1, '{{< param nope >}}: parameter "nope" not found for the page or the site: left '
            "empty"),
        (2, '{{< param off >}}: parameter "off" not found for the page or the site: left '
            "empty"),  # Hugo's `with` skips false
        (3, '{{< param table >}}: parameter "table" is a table, not text: left empty')]


# -- highlight, details ----------------------------------------------------------------------------

def test_highlight_is_a_fence_longer_than_any_backticks_inside():
    text = 'Before\n{{< highlight go "linenos=table" >}}\nx := `a`\n```\n\ny\n{{< /highlight >}}\n'
    output = rendered(text)
    assert output == "Before\n````go\nx := `a`\n```\n\ny\n````\n"
    assert markdown(output) == ('<p>Before</p>\n<pre><code class="language-go">x := `a`\n```\n\n'
                                "y\n</code></pre>\n")


def test_highlight_mid_line_gets_blank_lines_around():
    output = rendered("a {{% highlight %}}code{{% /highlight %}} b")
    assert output == "a \n\n```\ncode\n```\n\n b"


def test_highlight_in_a_list_item_keeps_its_indentation():
    # Hugo deindents the inner text by the shortcode's indentation (.InnerDeindent); the
    # fence is indented back so it stays in the list item.
    text = "- item\n\n  {{< highlight py >}}\n  if x:\n      y()\n  {{< /highlight >}}\n- next\n"
    output = rendered(text)
    assert output == "- item\n\n  ```py\n  if x:\n      y()\n  ```\n- next\n"
    assert "<li>\n<p>item</p>\n<pre><code class=\"language-py\">if x:\n    y()\n" in \
        markdown(output)


def test_highlight_expands_shortcodes_inside_as_hugo_does():
    # hugolib/shortcode.go renders a shortcode's inner shortcodes before its own template, so
    # Hugo's docs show shortcodes in code through the escape.
    output = rendered('{{< highlight html >}}\n{{< figure src="a.png" >}}\n'
                      '{{</* figure src="a.png" */>}}\n{{< /highlight >}}')
    assert output == ('```html\n<figure><img src="a.png"></figure>\n{{< figure src="a.png" >}}\n'
                      "```")


def test_highlight_without_closing_tag():
    assert hugo("{{< highlight go >}}\nx\n") == (
        "\nx\n", [(1, "{{< highlight go >}}: no {{< /highlight >}} follows it: rendered empty")])


def test_details_keeps_its_inner_text_markdown():
    output = rendered('{{< details summary="More <info>" open=true >}}\n*hidden*\n'
                      "{{< /details >}}\nAfter")
    assert output == ("<details open><summary>More &lt;info&gt;</summary>\n\n*hidden*\n\n"
                      "</details>\n\nAfter")
    assert markdown(output) == ("<details open><summary>More &lt;info&gt;</summary>\n"
                                "<p><em>hidden</em></p>\n</details>\n<p>After</p>\n")


# -- syntax ----------------------------------------------------------------------------------------

def test_escaped_calls_come_out_literally():
    # pagelexer_shortcode.go, lexShortcodeComment: all but the comment markers is text.
    text = ("```\n{{</* figure src=\"a.png\" */>}}\n{{%/* notice warning */%}}x"
            "{{%/* /notice */%}}\n```")
    assert rendered(text) == ('```\n{{< figure src="a.png" >}}\n{{% notice warning %}}x'
                              "{{% /notice %}}\n```")


def test_named_positional_raw_and_escaped_arguments():
    # Hugo drops every backslash of a quoted value that escapes a quote, and keeps them in
    # other values (lexShortcodeQuotedParamVal, ignoreEscapesAndEmit).
    assert 'alt="say &quot;hi&quot;"' in rendered(r'{{< figure src=a caption="say \"hi\"" >}}')
    assert 'alt="C:\\dir"' in rendered(r'{{< figure src=a caption="C:\dir" >}}')
    assert 'alt="raw \\&quot; x"' in rendered("{{< figure src=a caption=`raw \\\" x` >}}")
    # `key = value`, a call over several lines, and the self-closing form
    assert rendered('{{< figure\n  src = "a.png"\n  alt=`A`\n/>}}') == (
        '<figure><img src="a.png" alt="A"></figure>')
    assert rendered("{{< vimeo `146022717` >}}") == rendered('{{< vimeo id="146022717" >}}')


def test_a_sites_own_shortcode_is_removed_and_its_inner_text_kept():
    text = ("Title line\n\n"
            "{{< notice warning >}}\n"
            'Mind the {{< figure src="step.png" >}} step.\n'
            "{{< /notice >}}\n"
            "{{< sidebar />}}{{% note %}}**Bold**{{% /note %}}\n")
    output, warnings = hugo(text, first_line=5)
    assert output == ('Title line\n\n\nMind the <figure><img src="step.png"></figure> step.\n'
                      "\n**Bold**\n")
    assert warnings == [(7, "{{< notice warning >}}: not a Hugo built-in shortcode: removed"),
                        (10, "{{< sidebar />}}: not a Hugo built-in shortcode: removed"),
                        (10, "{{% note %}}: not a Hugo built-in shortcode: removed")]


def test_same_name_nesting_and_stray_closing_tags():
    output, warnings = hugo("{{< box >}}a{{< box >}}b{{< /box >}}c{{< /box >}}{{< /box >}}d")
    assert output == "abcd"
    assert [message for _, message in warnings] == [
        "{{< box >}}: not a Hugo built-in shortcode: removed",
        "{{< box >}}: not a Hugo built-in shortcode: removed",
        "{{< /box >}}: closes no shortcode: removed"]


def test_comment_and_inline_shortcodes_leave_nothing():
    output, warnings = hugo("a{{< comment >}}draft note{{< /comment >}}b"
                            "{{< now.inline >}}{{ now }}{{< /now.inline >}}c")
    assert output == "abc"
    assert warnings == [(1, "{{< now.inline >}}: inline shortcode (a template, not run here): "
                            "removed")]


@pytest.mark.parametrize(("text", "output", "written"), [
    ('x {{< figure src="a.png"\ny', "x \ny", '{{< figure src="a.png"'),
    ('{{< notice "open quote >}}\nnext', "\nnext", '{{< notice "open quote >}}'),
    ("{{< >}} after", "", "{{< >}} after"),
    ("{{< notice, please >}}", "", "{{< notice, please >}}"),
    ("{{% a b=`never closed %}}", "", "{{% a b=`never closed %}}"),
    ("{{</* escape never closed", "", "{{</* escape never closed"),
    ("end {{<", "end ", "{{<"),
])
def test_unterminated_or_malformed_markup_is_removed_to_the_end_of_its_line(text, output,
                                                                             written):
    assert hugo(text, first_line=4) == (output, [
        (4, f"{written}: unterminated or malformed shortcode: removed to the end of its line")])


def test_warnings_name_long_calls_briefly():
    _, warnings = hugo('{{< mine text="' + "word " * 100 + '" >}}')
    assert len(warnings[0][1]) < 200 and "…" in warnings[0][1]


# -- hostile input ---------------------------------------------------------------------------------

# Nothing that prints an argument as given, as Hugo does (figure's src and caption, ref's
# anchor), and no lone `{`: `{` + a removed call + `<` leaves the author's own `{<` after a `{`.
FRAGMENTS = ["{{<", "{{%", ">}}", "%}}", "/", " ", "\n", "a", "figure", "highlight", "details",
             "comment", "x", "=", '"', "`", "\\", "}}", "{%", "%}", "(", ")", "[", "]",
             ",", "'", "end", "1", "-", ".", "param", "youtube", "<", "#", ".inline",
             "é"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join),
       st.text(st.characters(blacklist_characters="{"), max_size=30))
def test_any_text_renders_without_raw_markup(pieces, noise):
    text = pieces + noise + pieces
    output, warnings = render_hugo(text, 1, {"a": "b"}, {}, lambda target: "https://e.org/p/")
    assert isinstance(output, str)
    assert all(isinstance(line, int) and 1 <= line <= text.count("\n") + 1
               for line, _ in warnings)
    if "/*" not in text:  # only Hugo's escape prints shortcode markup
        assert "{{<" not in output and "{{%" not in output
    output, warnings = strip_zola(text, 1)
    assert isinstance(output, str)


@pytest.mark.parametrize("text", [
    "{{< a `\n" * 20_000,  # unterminated raw strings
    ("{{< a `\n" + '{{< b "x\n') * 10_000,
    '{{< a `{{< b "`\n' * 20_000,
    "{{< n >}}" * 20_000 + "{{< /n >}}" * 20_000,  # deep nesting
    "{{< highlight >}}" * 20_000 + "x" + "{{< /highlight >}}" * 20_000,
    "{{< a >}}" * 20_000 + "{{< /a >}}",
    "{{< /a >}}" * 20_000,
    "{{</*" * 20_000,
    " " * 20_000 + "{{< a >}}" * 20_000,
    "{{< x a=" + "b " * 50_000,
])
def test_hostile_hugo_input_ends_without_raw_markup(text):
    # No timing asserted (tests never do): quadratic scanning would take minutes here, and
    # the suite's own time limit would catch it; linear takes about 0.2 s.
    output, _ = render_hugo(text, 1, {}, {}, lambda target: None)
    # No exemption for "/*": only a closed {{</* ... */>}} shows its shortcode as text, and
    # none of these inputs closes one (the exemption made the "{{</*" case assert nothing).
    assert "{{<" not in output and "{{%" not in output, output[:200]


@pytest.mark.parametrize("text", [
    "{{ a(b='" * 20_000,
    ("{{ a(b=\"x" + "{{ a(b='y" + "{{ a(b=`z") * 10_000,
    "{{ a(b=" + "[" * 20_000,
    "{% a() %}" * 20_000,
    "{%/* a() */%}" * 20_000,
    "{{ a(" + "b=1, " * 20_000,
])
def test_hostile_zola_input_ends(text):
    output, _ = strip_zola(text, 1)
    assert isinstance(output, str)


# -- Zola ------------------------------------------------------------------------------------------

ZOLA_REMOVED = "Zola shortcode (a template of the site, not run here): removed"


def test_zola_calls_are_removed_and_bodies_kept():
    text = ('Intro\n{{ youtube(id="dQw4w9WgXcQ", autoplay=true) }}\n'
            '{% quote(author="Vincent", year=1889, ratio=-0.5, tags=["a", \'b\', `c`,]) %}\n'
            "A quote {{ sup(n=1) }}\n"
            "{% end %}\n"
            "{{ page.title }} and {% if x %} are not calls.\n")
    output, warnings = strip_zola(text, 10)
    assert output == "Intro\n\n\nA quote \n\n{{ page.title }} and {% if x %} are not calls.\n"
    assert warnings == [
        (11, f'{{{{ youtube(id="dQw4w9WgXcQ", autoplay=true) }}}}: {ZOLA_REMOVED}'),
        (12, f"{{% quote(author=\"Vincent\", year=1889, ratio=-0.5, tags=[\"a\", 'b', `c`,]) %}}:"
             f" {ZOLA_REMOVED}, its body kept"),
        (13, f"{{{{ sup(n=1) }}}}: {ZOLA_REMOVED}")]


def test_zola_nested_bodies_whitespace_and_argument_groups():
    text = "{%aside()%}a{% inner( x = 1 y='2' ) %}b{%end%}c{% end %}"
    output, warnings = strip_zola(text, 1)
    assert output == "abc"
    assert [message for _, message in warnings] == [
        f"{{%aside()%}}: {ZOLA_REMOVED}, its body kept",
        f"{{% inner( x = 1 y='2' ) %}}: {ZOLA_REMOVED}, its body kept"]


def test_zola_escapes_are_printed_literally():
    # content.pest: `{{/* */}}` and `{%/* */%}` lose their comment markers; an escaped body
    # is printed as it is up to `{%/* end */%}`, calls in it too.
    text = ('{{/* youtube(id="x") */}}\n{%/* quote(author="V") */%}\n{{ inner() }}\n'
            "{%/* end */%}")
    assert strip_zola(text, 1) == (
        '{{ youtube(id="x") }}\n{% quote(author="V") %}\n{{ inner() }}\n{% end %}', [])


def test_zola_malformed_calls_are_text_as_zola_prints_them():
    # A call needs parentheses and literal values ("All arguments are required", "cannot
    # reference Tera variables"): anything else Zola prints as it is.
    text = "{{ youtube }} {{ a(b=c) }} {{ a(b=1,) }} {{ a(b=01) }} {{ 1a() }}"
    assert strip_zola(text, 1) == (text, [])


def test_zola_unbalanced_bodies_are_reported():
    output, warnings = strip_zola("{% end %}\n{% open() %}rest", 1)
    assert output == "\nrest"
    assert warnings == [(1, "{% end %}: ends no shortcode: removed"),
                        (2, "{% open() %}: no {% end %} follows it: removed")]


# -- the site's config -----------------------------------------------------------------------------

def site(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "content").mkdir(exist_ok=True)
    return hugo_site_config(tmp_path / "content")


def test_site_config_from_toml_yaml_and_json(tmp_path):
    assert site(tmp_path / "a", {"hugo.toml": "baseURL = 'https://e.org/'\n[params]\nx = 1\n"}) \
        == {"baseURL": "https://e.org/", "params": {"x": 1}}
    assert site(tmp_path / "b", {"config.yaml": "params:\n  social: {mastodon: '@ann'}\n"}) == {
        "params": {"social": {"mastodon": "@ann"}}}
    assert site(tmp_path / "c", {"config.json": '{"title": "T"}'}) == {"title": "T"}


def test_site_config_precedence(tmp_path):
    # hugo.* before config.*, and the site's folder before config/_default.
    assert site(tmp_path, {"config.toml": "title = 'old'", "hugo.yaml": "title: new",
                           "config/_default/hugo.toml": "title = 'folder'"}) == {"title": "new"}


def test_site_config_folder_with_params_file(tmp_path):
    assert site(tmp_path, {"config/_default/hugo.toml": "title = 'T'\n[params]\na = 1\nb = 1\n",
                           "config/_default/params.yaml": "b: 2\nc: 3\n"}) == {
        "title": "T", "params": {"a": 1, "b": 2, "c": 3}}


@pytest.mark.parametrize("files", [
    {},
    {"hugo.toml": "title = "},
    {"hugo.yaml": "- a list\n"},
    {"config.json": "{"},
    {"hugo.toml": "a = " + "[" * 100_000},
    {"hugo.json": "[" * 100_000},
])
def test_site_config_none_when_missing_or_broken(tmp_path, files):
    assert site(tmp_path, files) is None
