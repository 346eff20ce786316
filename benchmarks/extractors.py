"""Which main-content extractor `feedsvc import` should use for saved HTML pages (issue 13).

    pip install readability-lxml goose3      # the alternatives; trafilatura is a dependency
    python benchmarks/extractors.py [--pages 60] [--runs 3]

Generates news and blog pages in several layouts (semantic `<article>`, `<div>` soup,
WordPress-like, a page with comments and a "related" grid), each with page chrome around a
known article: navigation, a cookie banner, a "most read" box, share buttons, a newsletter
box, "related articles", comments, a footer. For each extractor it prints:

- kept: the share of the article's paragraphs found in the output (recall);
- chrome: the share of chrome phrases that leaked into it (lower is better);
- title, author, date: pages where that came out right (readability-lxml gives no author or
  date);
- ms/page: the median time of one extraction (the median over --runs passes).

trafilatura is the baseline: each other extractor's time is also given as a ratio to it.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from dataclasses import dataclass
from html import escape, unescape

WORDS = ("harbour board quay crane ship berth town resident night work noise fund window "
         "street timetable office comment council vote autumn spring ferry storm coast road "
         "lifeboat crew school market bridge river mayor budget plan report study week month "
         "year people family children job company worker union price house rent").split()
CHROME = {
    "nav": '<nav class="menu"><ul>{}</ul></nav>'.format("".join(
        f'<li><a href="/{w}">{w.title()} section</a></li>' for w in
        ("world", "politics", "business", "sport", "culture", "subscribe"))),
    "cookie": '<div class="cookie-banner" id="consent">We use cookies and similar '
              'technologies to personalise content. <button>Accept all cookies</button> '
              '<button>Manage preferences</button></div>',
    "most_read": '<aside class="most-read"><h3>Most read</h3><ol>{}</ol></aside>',
    "share": '<div class="share">Share this article on Facebook Twitter LinkedIn Email</div>',
    "newsletter": '<div class="newsletter"><h4>Get our morning briefing</h4><p>Sign up for '
                  'the newsletter delivered to your inbox every weekday.</p>'
                  '<input type="email"><button>Sign me up</button></div>',
    "related": '<section class="related"><h3>Related articles</h3><ul>{}</ul></section>',
    "comments": '<section id="comments"><h3>12 comments</h3><div class="comment"><p>Reader '
                'comment number one says this is all rather disappointing news.</p></div>'
                '<div class="comment"><p>Another reader replies that they quite disagree '
                'with that comment entirely.</p></div></section>',
    "footer": '<footer><p>Copyright 2024 Coastal Media Group. All rights reserved.</p>'
              '<a href="/privacy">Privacy notice</a> <a href="/terms">Terms of use</a></footer>',
}
CHROME_PHRASES = ("Politics section", "Accept all cookies", "Most read", "Share this article",
                  "morning briefing", "Related articles", "Reader comment number one",
                  "All rights reserved", "Terms of use", "Storm warning for")


@dataclass(frozen=True)
class Page:
    html: str
    title: str
    author: str
    date: str  # YYYY-MM-DD
    paragraphs: tuple[str, ...]


FUNCTION_WORDS = ("the", "of", "and", "to", "in", "that", "it", "was", "for", "on", "with",
                  "as", "they", "at", "by", "this", "from", "but", "not", "which")


def sentence(rng: random.Random) -> str:
    """Prose-like: content words among the function words that make up half of any English
    text (goose3 scores blocks by them)."""
    words = [rng.choice(WORDS if i % 2 else FUNCTION_WORDS) for i in range(rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def make_page(number: int, rng: random.Random) -> Page:
    title = " ".join(rng.choice(WORDS) for _ in range(5)).title() + f" {number}"
    author = rng.choice(("Ada Brennan", "Tomás Ruiz", "Mei Lin", "Kofi Mensah"))
    day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    paragraphs = tuple(" ".join(sentence(rng) for _ in range(rng.randint(2, 4)))
                       for _ in range(rng.randint(4, 9)))
    links = "".join(f'<li><a href="/n/{i}">Storm warning for {rng.choice(WORDS)} {i}</a></li>'
                    for i in range(5))
    chrome = {key: value.format(links) if "{}" in value else value
              for key, value in CHROME.items()}
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    layout = number % 4
    if layout == 0:  # semantic HTML5
        main = (f'<main><article><h1>{escape(title)}</h1><p class="byline">By <span '
                f'class="author">{author}</span> <time datetime="{day}T09:00:00Z">{day}'
                f'</time></p>{body}{chrome["share"]}</article>{chrome["most_read"]}</main>')
    elif layout == 1:  # div soup
        main = (f'<div id="wrap"><div class="col-left"><div class="headline">{escape(title)}'
                f'</div><div class="meta">{author} | {day}</div><div class="story">{body}'
                f'</div>{chrome["related"]}</div><div class="col-right">{chrome["most_read"]}'
                f'{chrome["newsletter"]}</div></div>')
    elif layout == 2:  # WordPress-like, with comments
        main = (f'<div class="site-content"><article class="post hentry"><header '
                f'class="entry-header"><h1 class="entry-title">{escape(title)}</h1><span '
                f'class="byline author vcard">{author}</span><time class="entry-date '
                f'published" datetime="{day}T09:00:00+00:00">{day}</time></header><div '
                f'class="entry-content">{body}</div></article>{chrome["comments"]}</div>')
    else:  # everything at once
        main = (f'{chrome["newsletter"]}<main><h1>{escape(title)}</h1><div class="byline">'
                f'{author}, {day}</div>{chrome["share"]}{body}{chrome["related"]}'
                f'{chrome["comments"]}</main>')
    head = (f'<head><meta charset="utf-8"><title>{escape(title)} | Coastal Times</title>'
            f'<meta name="author" content="{author}"><meta property="article:published_time"'
            f' content="{day}T09:00:00Z"></head>')
    html = (f"<!doctype html><html lang='en'>{head}<body>{chrome['cookie']}<header>"
            f"{chrome['nav']}</header>{main}{chrome['footer']}</body></html>")
    return Page(html, title, author, day, paragraphs)


def trafilatura_extract(html: str) -> dict:
    import trafilatura

    found = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False,
                                        date_extraction_params={"original_date": True,
                                                                "extensive_search": False})
    if found is None:
        return {"text": ""}
    markdown = trafilatura.extract(html, output_format="markdown", include_images=True,
                                   include_links=True, include_formatting=True,
                                   include_comments=False) or ""
    return {"text": markdown, "title": found.title, "author": found.author,
            "date": found.date}


def readability_extract(html: str) -> dict:
    from readability import Document

    document = Document(html)
    text = unescape(re.sub(r"<[^>]*>", " ", document.summary(html_partial=True)))
    return {"text": text, "title": document.short_title()}


def goose_extract(html: str) -> dict:
    from goose3 import Goose

    with Goose({"enable_image_fetching": False}) as goose:
        article = goose.extract(raw_html=html)
    date = article.publish_date or ""
    return {"text": article.cleaned_text, "title": article.title,
            "author": "; ".join(article.authors), "date": str(date)[:10]}


EXTRACTORS = {"trafilatura": trafilatura_extract, "readability-lxml": readability_extract,
              "goose3": goose_extract}


def normal(text: str) -> str:
    return " ".join(unescape(text or "").replace("\\", "").split()).casefold()


def score(pages: list[Page], extract, runs: int) -> dict:
    kept = leaked = titles = authors = dates = 0
    paragraphs = sum(len(page.paragraphs) for page in pages)
    times = []
    for page in pages:
        result = extract(page.html)
        text = normal(result["text"])
        kept += sum(normal(p) in text for p in page.paragraphs)
        leaked += sum(normal(phrase) in text for phrase in CHROME_PHRASES)
        titles += normal(result.get("title")) == normal(page.title)
        authors += normal(result.get("author")) == normal(page.author)
        dates += (result.get("date") or "")[:10] == page.date
    for _ in range(runs):
        started = time.perf_counter()
        for page in pages:
            extract(page.html)
        times.append((time.perf_counter() - started) / len(pages) * 1000)
    return {"kept": kept / paragraphs, "chrome": leaked / (len(pages) * len(CHROME_PHRASES)),
            "title": titles, "author": authors, "date": dates, "ms": statistics.median(times),
            "has_meta": "author" in extract(pages[0].html)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(13)
    pages = [make_page(number, rng) for number in range(args.pages)]
    print(f"{len(pages)} pages, 4 layouts; medians of {args.runs} runs")
    print(f"{'extractor':18} {'kept':>6} {'chrome':>7} {'title':>6} {'author':>7} "
          f"{'date':>5} {'ms/page':>8} {'vs trafilatura':>15}")
    baseline = None
    for name, extract in EXTRACTORS.items():
        try:
            result = score(pages, extract, args.runs)
        except ImportError as error:
            print(f"{name:18} not installed ({error.name}): pip install {name}")
            continue
        baseline = baseline or result["ms"]
        meta = (f"{result['author']:>7} {result['date']:>5}" if result["has_meta"]
                else f"{'-':>7} {'-':>5}")
        print(f"{name:18} {result['kept']:>6.1%} {result['chrome']:>7.1%} "
              f"{result['title']:>6} {meta} {result['ms']:>8.2f} "
              f"{result['ms'] / baseline:>14.2f}x")


if __name__ == "__main__":
    main()
