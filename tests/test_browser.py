"""The pages in a real browser: Debian's headless Chromium driven by Playwright.

Skips with a reason when Chromium or Playwright is missing (.ci/run installs both).
Screenshots land in tests/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import feedparser
import pytest

from jsonfeed import parse_json_feed

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).parent / "screenshots"
# Without these, Chromium tries the network at start and this machine refuses it.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

CONTRAST = """() => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = rgb(c).map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05); };
  const bg = getComputedStyle(document.body).backgroundColor;
  const worst = {};
  for (const el of document.querySelectorAll('p, a, h1, h2, time, dt, li, span, input')) {
    if (!el.offsetParent || !el.textContent.trim() && el.tagName !== 'INPUT') continue;
    let back = bg, node = el;
    while (node) { const c = getComputedStyle(node).backgroundColor;
      if (c && !c.endsWith(', 0)') && c !== 'transparent') { back = c; break; } node = node.parentElement; }
    const r = ratio(getComputedStyle(el).color, back);
    const key = el.tagName + '.' + (el.className || '');
    if (!(key in worst) || r < worst[key]) worst[key] = r;
  }
  return worst;
}"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def visit(browser, url: str, width: int, scheme: str, expect_status: int = 200):
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  color_scheme=scheme)
    page = context.new_page()
    problems = []
    # Chromium logs a 404 page's own status as a console error: that one is expected.
    page.on("console", lambda msg: msg.type in ("error", "warning")
            and msg.location.get("url") != url
            and problems.append(f"console {msg.type}: {msg.text} ({msg.location})"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda req: problems.append(f"failed: {req.url}"))
    page.on("response", lambda resp: resp.status >= 400 and resp.url != url and
            problems.append(f"{resp.status}: {resp.url}"))
    response = page.goto(url, wait_until="networkidle")
    assert response.status == expect_status, url
    return context, page, problems


def test_pages_in_chromium(browser, serve, items_dir):
    server = serve(items_dir)
    SCREENSHOTS.mkdir(exist_ok=True)
    pages = {"home": (server.url, 200), "item": (server.url + "items/why-we-still-publish-feeds", 200),
             "tag": (server.url + "tags/feeds", 200), "tags": (server.url + "tags/", 200),
             "404": (server.url + "items/no-such-thing", 404)}
    for name, (url, status) in pages.items():
        for width in (1280, 360):
            for scheme in ("light", "dark"):
                context, page, problems = visit(browser, url, width, scheme, status)
                try:
                    assert not problems, (name, width, scheme, problems)
                    overflow = page.evaluate(
                        "document.documentElement.scrollWidth - window.innerWidth")
                    assert overflow <= 0, (name, width, "horizontal scroll", overflow)
                    assert page.locator("h1").count() == 1
                    for landmark in ("header", "main", "nav", "footer"):
                        assert page.locator(landmark).count() >= 1, landmark
                    worst = page.evaluate(CONTRAST)
                    low = {k: round(v, 2) for k, v in worst.items() if v < 4.5}
                    assert not low, (name, scheme, "contrast below 4.5:1", low)
                    if name in ("home", "item"):
                        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}-{scheme}.png"),
                                        full_page=True)
                    page.keyboard.press("Tab")  # the first stop is the skip link
                    assert page.evaluate("document.activeElement.className") == "skip"
                finally:
                    context.close()


def test_subscribe_links_lead_to_feeds(browser, serve, items_dir):
    server = serve(items_dir)
    context, page, problems = visit(browser, server.url, 1280, "light")
    try:
        links = page.locator(".subscribe dt a")
        assert links.count() == 3
        for index in range(3):
            href = links.nth(index).get_attribute("href")
            copy = page.locator(".subscribe dd input").nth(index).input_value()
            assert copy == href  # the copyable address is the link's address
            body = page.request.get(href).body()
            if href.endswith(".json"):
                assert len(parse_json_feed(body)["items"]) == 5
            else:
                feed = feedparser.parse(body)
                assert not feed.bozo and len(feed.entries) == 5
        # JSON-LD on an item page parses and describes the article
        page.goto(server.url + "items/winter-solstice")
        data = json.loads(page.locator('script[type="application/ld+json"]').text_content())
        assert data["@type"] == "Article" and data["headline"] == "The longest night"
        assert data["datePublished"].startswith("2024-12-20")
        assert not problems, problems
    finally:
        context.close()
