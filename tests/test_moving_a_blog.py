"""Moving an existing blog (issue 10): the same URLs and the same entry ids as the generator
it comes from, old URLs answering 301, a bundle's pictures served. Each expected URL and id is
worked out from the generator's documented rule, cited where it is used."""

from __future__ import annotations

import subprocess
import sys

import feedparser

from conftest import write
from test_site_layouts import hugo_content, jekyll_site, zola_content

JEKYLL = "https://jekyllrb.com/"


def jekyll_app(make_app, tmp_path):
    jekyll_site(tmp_path)
    # jekyllrb.com's own _config.yml sets this zone; Jekyll writes permalink dates in it.
    write(tmp_path, "_config.yml", "title: A Jekyll blog\ntimezone: America/Los_Angeles\n")
    # Same file name in two year folders: Jekyll gives them different URLs (the date is in the
    # permalink), so neither may be left out.
    write(tmp_path, "_posts/2023/2023-05-01-hello.md", "---\ntitle: Hello again\n---\nx\n")
    # Jekyll's :title keeps case and dots ("pretty" slugify), unlike :slug.
    write(tmp_path, "_posts/2022-12-21-Sass-Converter-3.0.md", "---\ntitle: Sass\n---\nx\n")
    write(tmp_path, "_posts/2019-06-01-moved.md",
          "---\ntitle: Moved\nredirect_from:\n  - /old/moved.html\n  - /older/moved/\n---\nx\n")
    # jekyllrb.com's _config.yml: `permalink: /news/:year/:month/:day/:title/`; jekyll-feed
    # writes <id>{{ post.id | absolute_url }}</id>, post.id being the URL without the slash.
    return make_app(tmp_path, base_url=JEKYLL, permalink="/news/:year/:month/:day/:title/",
                    entry_id="/news/:year/:month/:day/:title",
                    redirects={"/feed.xml": "/feed.atom"})


def test_jekyll_urls_and_ids(make_app, tmp_path):
    client = jekyll_app(make_app, tmp_path).test_client()
    feed = feedparser.parse(client.get("/feed.atom").data)
    entries = {entry.title: (entry.link, entry.id) for entry in feed.entries}
    # Jekyll reads `2023-01-29 18:30:22 2023 -0800` as the 29th at -08:00, and :day is that
    # day in the site's zone (https://jekyllrb.com/docs/permalinks/#placeholders), not UTC's.
    assert entries["Release"] == (JEKYLL + "news/2023/01/29/release/",
                                  JEKYLL + "news/2023/01/29/release")
    assert entries["Hello"] == (JEKYLL + "news/2022/05/01/hello/",
                                JEKYLL + "news/2022/05/01/hello")
    assert entries["Hello again"][0] == JEKYLL + "news/2023/05/01/hello/"
    assert entries["Sass"][0] == JEKYLL + "news/2022/12/21/Sass-Converter-3.0/"
    assert len(entries) == 6
    page = client.get("/news/2023/01/29/release/")
    assert page.status_code == 200 and b"Out now." in page.data
    assert client.get("/news/2023/01/29/release/index.atom").status_code == 200
    assert client.get("/items/release").status_code == 404
    for old in ("/old/moved.html", "/older/moved/", "/older/moved"):
        response = client.get(old)
        assert response.status_code == 301, old
        assert response.headers["Location"] == JEKYLL + "news/2019/06/01/moved/"
    old_feed = client.get("/feed.xml")
    assert old_feed.status_code == 301 and old_feed.headers["Location"] == JEKYLL + "feed.atom"


def test_hugo_urls_ids_aliases_and_bundle_images(make_app, tmp_path):
    hugo_content(tmp_path)
    write(tmp_path, "notes/first.md", "---\ntitle: First note\ndate: 2024-01-02\n"
          "aliases: [/2024/first-note/]\n---\nA note.\n")
    write(tmp_path, "posts/custom.md", "---\ntitle: Custom\ndate: 2024-01-03\n"
          "url: /special/place/\n---\nx\n")
    base = "https://hugo.example.org/"
    # Hugo's default URL of content/<section>/<name>.md and of a bundle <section>/<name>/
    # is /<section>/<name>/ (https://gohugo.io/content-management/urls/), and its RSS
    # template's <guid> is the page's .Permalink.
    client = make_app(tmp_path, base_url=base, permalink="/:path/:slug/",
                      entry_id="permalink").test_client()
    feed = feedparser.parse(client.get("/feed.rss").data)
    links = {entry.title: entry.link for entry in feed.entries}
    assert links == {"First": base + "posts/first/", "Trip": base + "posts/trip/",
                     "First note": base + "notes/first/", "Custom": base + "special/place/"}
    assert {entry.id for entry in feed.entries} == set(links.values())
    trip = feedparser.parse(client.get("/feed.atom").data)
    content = next(e for e in trip.entries if e.title == "Trip").content[0].value
    assert base + "posts/trip/map.png" in content
    picture = client.get("/posts/trip/map.png")
    assert picture.status_code == 200 and picture.headers["Content-Type"] == "image/png"
    assert picture.data == (tmp_path / "posts/trip/map.png").read_bytes()
    assert "ETag" in picture.headers and "max-age=" in picture.headers["Cache-Control"]
    assert client.get("/posts/trip/index.md").status_code == 404  # the page, not a resource
    assert client.get("/posts/trip/../first.md").status_code == 404
    assert client.get("/2024/first-note/").headers["Location"] == base + "notes/first/"


def test_zola_path_front_matter(make_app, tmp_path):
    zola_content(tmp_path)
    write(tmp_path, "blog/elsewhere.md", "+++\ntitle = \"Elsewhere\"\ndate = 2024-04-01\n"
          "path = \"somewhere/else\"\naliases = [\"/blog/elsewhere/\"]\n+++\nx\n")
    # Zola takes the date and slug of `2013-06-02_with-assets` (page.rs's RFC3339_DATE: a
    # date, then `_` or `-`, then the slug).
    write(tmp_path, "blog/2013-06-02_with-assets/index.md", "+++\ntitle = \"Assets\"\n+++\nx\n")
    base = "https://zola.example.org/"
    client = make_app(tmp_path, base_url=base, permalink="/:path/:slug/",
                      entry_id="permalink").test_client()
    feed = feedparser.parse(client.get("/feed.atom").data)
    # Zola: `path` in front matter puts the page at /<path>/
    # (https://www.getzola.org/documentation/content/page/#output-paths).
    assert {e.title: e.link for e in feed.entries} == {"Post": base + "blog/post/",
                                                        "Elsewhere": base + "somewhere/else/",
                                                        "Assets": base + "blog/with-assets/",
                                                        "Zplit": base + "themes/zplit/"}
    assert client.get("/somewhere/else/").status_code == 200
    assert client.get("/blog/elsewhere/").headers["Location"] == base + "somewhere/else/"
    assert client.get("/blog/post/attachment.txt").data == b"plain text attachment\n"


def test_check_warns_when_a_new_setting_changes_entry_ids(tmp_path):
    hugo_content(tmp_path)

    def check(*settings):
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
               **{f"FEEDSVC_{k.upper()}": v for k, v in settings}}
        return subprocess.run([sys.executable, "-m", "feedsvc", "check", "--items", str(tmp_path)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)

    assert "entry id changed" not in check().stdout
    moved = check(("permalink", "/:path/:slug/"), ("entry_id", "permalink")).stdout
    assert "posts/first.md:1: warning: entry id changed since the last check" in moved


def test_export_follows_permalinks_and_copies_bundle_files(make_app, tmp_path):
    from feedsvc.export import build

    hugo_content(tmp_path / "site")
    app = make_app(tmp_path / "site", permalink="/:path/:slug/")
    out = tmp_path / "out"
    build(app, out)
    assert (out / "posts/trip/index.html").is_file()
    assert (out / "posts/trip/index.atom").is_file()
    assert (out / "posts/trip/map.png").read_bytes() == b"\x89PNG\r\n"
    assert not (out / "items").exists()


def test_time_zones_as_each_generator_takes_them(make_app, tmp_path):
    write(tmp_path, "_posts/2023-01-29-evening.md",
          "---\ntitle: Evening\ndate: 2023-01-29 18:30:00 -0800\n---\nx\n")
    write(tmp_path, "_posts/2023-03-01-local.md", "---\ntitle: Local\ndate: 2023-03-01 23:30\n---\nx\n")
    write(tmp_path, "_posts/2023-04-01-dated-by-name.md", "---\ntitle: By name\n---\nx\n")

    def entries(**settings):
        client = make_app(tmp_path, base_url=JEKYLL, permalink="/:year/:month/:day/:title/",
                          **settings).test_client()
        feed = feedparser.parse(client.get("/feed.atom").data)
        return {e.title: (e.link, e.published) for e in feed.entries}

    # `timezone` (as Jekyll's and Hugo's): a date written without a zone is in it, the
    # file name's date too (midnight there).
    berlin = entries(timezone="Europe/Berlin", permalink_dates="written")
    assert berlin["Local"] == (JEKYLL + "2023/03/01/local/", "2023-03-01T22:30:00+00:00")
    assert berlin["By name"][1] == "2023-03-31T22:00:00+00:00"
    # Hugo and Zola take the permalink date as written: the 29th, though it is the 30th in
    # Berlin (https://gohugo.io/content-management/urls/#tokens: "the date in the page's
    # front matter").
    assert berlin["Evening"][0] == JEKYLL + "2023/01/29/evening/"
    # Jekyll formats permalink dates in the site's `timezone`
    # (https://jekyllrb.com/docs/configuration/options/: timezone "is used to ... render
    # your site"): 18:30 -0800 is 03:30 the next day in Berlin.
    jekyll = entries(timezone="Europe/Berlin", permalink_dates="timezone")
    assert jekyll["Evening"] == (JEKYLL + "2023/01/30/evening/", "2023-01-30T02:30:00+00:00")
    assert jekyll["Local"][0] == JEKYLL + "2023/03/01/local/"
    # With no setting, dates without a zone stay UTC (the default).
    assert entries()["Local"][1] == "2023-03-01T23:30:00+00:00"


def test_bad_time_zone_settings_are_refused(tmp_path):
    from feedsvc.config import ConfigError, load_settings
    import pytest

    with pytest.raises(ConfigError, match="timezone"):
        load_settings(env={}, timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="permalink_dates"):
        load_settings(env={}, permalink_dates="local")
    assert load_settings(env={"FEEDSVC_TIMEZONE": "Asia/Tokyo"}).zone.key == "Asia/Tokyo"


def test_sections_have_their_own_pages_feeds_and_archives(make_app, tmp_path):
    hugo_content(tmp_path)
    write(tmp_path, "posts/_index.md", "---\ntitle: Posts\ndescription: Long reads.\n---\n")
    write(tmp_path, "notes/first.md", "---\ntitle: A note\ndate: 2024-01-05\n---\nx\n")
    base = "https://hugo.example.org/"
    app = make_app(tmp_path, base_url=base, permalink="/:path/:slug/", entry_id="permalink",
                   feed_size=1)
    client = app.test_client()
    page = client.get("/posts/")
    assert page.status_code == 200
    assert b"Long reads." in page.data and b'href="https://hugo.example.org/posts/feed.atom"' in page.data
    assert client.get("/posts").headers["Location"] == base + "posts/"
    # Zola writes a section's feed beside its page (https://www.getzola.org/documentation/
    # templates/feeds/: `generate_feeds` in a section's _index.md); Hugo too (/posts/index.xml).
    for fmt in ("atom", "rss", "json"):
        response = client.get(f"/posts/feed.{fmt}")
        assert response.status_code == 200, fmt
    feed = feedparser.parse(client.get("/posts/feed.atom").data)
    assert feed.bozo == 0 and feed.feed.title == "feedsvc: Posts"
    assert feed.feed.subtitle == "Long reads."
    assert [e.title for e in feed.entries] == ["Trip"]  # the newest of the section's two
    archive_link = next(l.href for l in feed.feed.links if l.rel == "prev-archive")
    assert archive_link == base + "posts/archive/2.atom"
    archive = feedparser.parse(client.get("/posts/archive/1.atom").data)
    assert [e.title for e in archive.entries] == ["First"]
    assert client.get("/posts/archive/3.atom").status_code == 307  # still filling
    assert client.get("/notes/feed.atom").status_code == 404  # no _index.md: no section
    sitemap = client.get("/sitemap.xml").data.decode()
    assert f"<loc>{base}posts/</loc>" in sitemap


def test_site_feed_of_only_the_root(make_app, tmp_path):
    hugo_content(tmp_path)
    write(tmp_path, "about-me.md", "---\ntitle: Loose page\ndate: 2024-03-01\n---\nx\n")
    titles = {}
    for site_feed in ("all", "root"):
        client = make_app(tmp_path, site_feed=site_feed).test_client()
        titles[site_feed] = {e.title for e in feedparser.parse(client.get("/feed.atom").data).entries}
        assert (b"Trip" in client.get("/").data) == (site_feed == "all")
    assert titles == {"all": {"First", "Trip", "Loose page"}, "root": {"Loose page"}}


def test_section_feeds_are_announced_and_exported(make_app, tmp_path):
    from feedsvc.export import build
    from feedsvc.websub import changed_topics

    hugo_content(tmp_path / "site")
    app = make_app(tmp_path / "site", permalink="/:path/:slug/")
    store = app.extensions["feedsvc"].store
    before = store.snapshot
    write(tmp_path / "site", "posts/second.md", "---\ntitle: Second\ndate: 2024-03-01\n---\nx\n")
    store.refresh()
    topics = changed_topics(before, store.snapshot, app.extensions["feedsvc"].settings)
    assert "https://feeds.example.org/posts/feed.atom" in topics
    assert "https://feeds.example.org/feed.rss" in topics
    build(app, tmp_path / "out")
    assert (tmp_path / "out/posts/index.html").is_file()
    assert (tmp_path / "out/posts/feed.json").is_file()


def test_jekyll_liquid_is_rendered_never_shown(make_app, tmp_path):
    jekyll_site(tmp_path)
    write(tmp_path, "_config.yml", "title: Jekyll\nrepository: https://github.com/jekyll/jekyll\n")
    write(tmp_path, "_posts/2023-02-01-liquid.md", """---
title: Liquid
---
See the [roadmap] and [the first post]({% post_url 2022-05-01-hello %}).

{% highlight ruby %}
puts "{% raw %}{{ not a variable }}{% endraw %}"
{% endhighlight %}

Write {% raw %}{{ page.title }}{% endraw %} in a layout.
{% include toc.html %}

[roadmap]: {{ site.repository }}/issues/9156
""")
    client = make_app(tmp_path, base_url=JEKYLL, permalink="/news/:year/:month/:day/:title/",
                      templates="auto").test_client()
    feed = feedparser.parse(client.get("/feed.atom").data)
    html = next(e for e in feed.entries if e.title == "Liquid").content[0].value
    # Jekyll renders Liquid in every post (https://jekyllrb.com/docs/liquid/): site.* from
    # _config.yml, post_url to the post's URL, highlight as a code block (Liquid inside it is
    # rendered too), raw as written.
    assert 'href="https://github.com/jekyll/jekyll/issues/9156"' in html
    assert f'href="{JEKYLL}news/2022/05/01/hello/"' in html
    assert '<code class="language-ruby">' in html and "{{ not a variable }}" in html
    assert "{{ page.title }}" in html
    assert "{%" not in html and "toc.html" not in html
    result = subprocess.run([sys.executable, "-m", "feedsvc", "check", "--items", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert "_posts/2023-02-01-liquid.md:11: warning:" in result.stdout, result.stdout
    assert "include toc.html" in result.stdout


def test_hugo_shortcodes_are_rendered_never_shown(make_app, tmp_path):
    site = tmp_path / "site"
    write(site, "hugo.toml", "baseURL = 'https://hugo.example.org/'\n[params]\nmotto = 'Go on'\n")
    content = site / "content"
    hugo_content(content)
    write(content, "posts/shortcodes.md", """---
title: Shortcodes
date: 2024-03-01
---
{{< figure src="/images/map.png" caption="The map" >}}

Back to [the trip]({{< ref "trip" >}}); motto: {{< param motto >}}.

{{< youtube w7Ft2ymGmfc >}}

{{< notice warning >}}Mind the gap.{{< /notice >}}
""")
    base = "https://hugo.example.org/"
    client = make_app(content, base_url=base, permalink="/:path/:slug/").test_client()
    feed = feedparser.parse(client.get("/feed.atom").data)
    html = next(e for e in feed.entries if e.title == "Shortcodes").content[0].value
    # Hugo's embedded shortcode templates (tpl/tplimpl/embedded/templates/shortcodes/):
    # figure is <figure><img><figcaption>; ref is the target page's permalink.
    assert f'src="{base}images/map.png"' in html and "The map" in html
    assert f'href="{base}posts/trip/"' in html and "Go on" in html
    assert "https://www.youtube.com/watch?v=w7Ft2ymGmfc" in html
    assert "Mind the gap." in html and "{{" not in html and "notice" not in html
    result = subprocess.run([sys.executable, "-m", "feedsvc", "check", "--items", str(content)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert "posts/shortcodes.md:11: warning:" in result.stdout, result.stdout


def test_zola_shortcodes_are_removed_and_named(make_app, tmp_path):
    site = tmp_path / "site"
    write(site, "config.toml", "base_url = 'https://zola.example.org'\n")
    content = site / "content"
    zola_content(content)
    write(content, "blog/embed.md", "+++\ntitle = \"Embed\"\ndate = 2024-05-01\n+++\n"
          "Before.\n\n{{ youtube(id=\"dQw4w9WgXcQ\") }}\n\nAfter.\n")
    store = make_app(content).extensions["feedsvc"].store
    item = store.snapshot.by_slug["embed"]
    from feedsvc.content import content_html
    html = content_html(item)
    # Zola has no built-in shortcodes: each is the site's own template
    # (https://www.getzola.org/documentation/content/shortcodes/), which we cannot run.
    assert "Before." in html and "After." in html and "youtube" not in html
    assert [(line, "youtube" in message) for line, message in item.warnings] == [(7, True)]


def test_a_site_folder_needs_no_settings(make_app, tmp_path):
    """The old site's own config says where it lived, its zone and its permalinks: with no
    settings at all, readers get the same links and ids."""
    jekyll = tmp_path / "jekyll"
    jekyll_site(jekyll)
    write(jekyll, "_config.yml", "title: Jekyll News\nurl: https://jekyllrb.com\nbaseurl: /blog\n"
          "timezone: America/Los_Angeles\npermalink: pretty\n")
    client = make_app(jekyll, base_url=None).test_client()
    feed = feedparser.parse(client.get("/feed.atom").data)
    # Jekyll's `pretty` style is /:categories/:year/:month/:day/:title/
    # (https://jekyllrb.com/docs/permalinks/#built-in-formats); jekyll-feed's <id> is the
    # post's id, its URL without the final slash.
    release = next(e for e in feed.entries if e.title == "Release")
    assert (release.link, release.id) == ("https://jekyllrb.com/blog/2023/01/29/release/",
                                          "https://jekyllrb.com/blog/2023/01/29/release")
    assert feed.feed.title == "Jekyll News"
    assert client.get("/feed.xml").headers["Location"] == "https://jekyllrb.com/blog/feed.atom"

    hugo = tmp_path / "hugo"
    write(hugo, "hugo.toml", "baseURL = 'https://hugo.example.org/'\ntitle = 'Hugo Notes'\n")
    hugo_content(hugo / "content")
    client = make_app(hugo / "content", base_url=None).test_client()
    feed = feedparser.parse(client.get("/feed.rss").data)
    # Hugo: /<section>/<name>/, and its RSS <guid> is the permalink.
    assert {(e.link, e.id) for e in feed.entries} == {
        ("https://hugo.example.org/posts/first/", "https://hugo.example.org/posts/first/"),
        ("https://hugo.example.org/posts/trip/", "https://hugo.example.org/posts/trip/")}
    assert client.get("/index.xml").headers["Location"] == "https://hugo.example.org/feed.rss"

    zola = tmp_path / "zola"
    write(zola, "config.toml", "base_url = 'https://zola.example.org'\ntitle = 'Zola'\n")
    zola_content(zola / "content")
    client = make_app(zola / "content", base_url=None).test_client()
    links = {e.link for e in feedparser.parse(client.get("/feed.atom").data).entries}
    assert "https://zola.example.org/blog/post/" in links
    assert client.get("/atom.xml").headers["Location"] == "https://zola.example.org/feed.atom"


def test_jekyll_posts_permalink_from_its_collection_or_defaults(tmp_path):
    from feedsvc.templating import site_settings

    jekyll_site(tmp_path)
    # jekyllrb.com's own _config.yml puts it in `collections: posts: permalink:`; Jekyll's
    # front matter defaults (https://jekyllrb.com/docs/configuration/front-matter-defaults/)
    # win over it, and both over the site's `permalink`.
    write(tmp_path, "_config.yml", "permalink: pretty\ncollections:\n  posts:\n"
          "    permalink: /news/:year/:month/:day/:title/\n")
    assert site_settings(tmp_path)["permalink"] == "/news/:year/:month/:day/:title/"
    write(tmp_path, "_config.yml", "permalink: pretty\ndefaults:\n  - scope: {path: _posts}\n"
          "    values: {permalink: /blog/:title/}\n")
    assert site_settings(tmp_path)["permalink"] == "/blog/:title/"
    assert site_settings(tmp_path, "none") == {}


def test_a_jekyll_sites_static_files_are_served(make_app, tmp_path):
    jekyll_site(tmp_path)
    (tmp_path / "img").mkdir()
    (tmp_path / "img/logo.png").write_bytes(b"\x89PNG\r\n")
    write(tmp_path, "Gemfile", "source 'https://rubygems.org'\n")
    write(tmp_path, "private/notes.txt", "mine\n")
    write(tmp_path, "_config.yml", "title: x\nexclude: [private]\n")
    write(tmp_path, ".git/config", "[core]\n")
    write(tmp_path, "_posts/2024-01-01-logo.md", "---\ntitle: Logo\n---\n![logo](/img/logo.png)\n")
    client = make_app(tmp_path).test_client()
    # Jekyll copies every file outside `_` folders that is no page and not excluded
    # (https://jekyllrb.com/docs/static-files/), so posts link to /img/logo.png.
    picture = client.get("/img/logo.png")
    assert picture.status_code == 200 and picture.headers["Content-Type"] == "image/png"
    for path in ("/_config.yml", "/Gemfile", "/private/notes.txt", "/.git/config",
                 "/about.md", "/_posts/2024-01-01-logo.md", "/img/../_config.yml"):
        assert client.get(path).status_code == 404, path
    from feedsvc.export import build

    build(make_app(tmp_path), tmp_path / "_out")
    assert (tmp_path / "_out/img/logo.png").read_bytes() == b"\x89PNG\r\n"
    assert not (tmp_path / "_out/Gemfile").exists()


def test_jekyll_site_data_is_read_from_its_data_folder(make_app, tmp_path):
    jekyll_site(tmp_path)
    # https://jekyllrb.com/docs/datafiles/: _data/members.yml is site.data.members, and a
    # file in a subfolder nests (site.data.team.leads).
    write(tmp_path, "_data/members.yml", "- name: Ada\n- name: Grace\n")
    write(tmp_path, "_data/team/leads.json", '{"chair": "Parker"}')
    write(tmp_path, "_posts/2024-01-01-team.md", "---\ntitle: Team\n---\n"
          "{% for m in site.data.members %}{{ m.name }} {% endfor %}"
          "chaired by {{ site.data.team.leads.chair }}\n")
    item = make_app(tmp_path).extensions["feedsvc"].store.snapshot.by_slug["team"]
    from feedsvc.content import content_html
    assert "Ada Grace chaired by Parker" in content_html(item) and not item.warnings
