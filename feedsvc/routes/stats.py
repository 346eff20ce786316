"""The owner's `/stats` page: subscribers over time (an SVG drawn here: pages run no
script), per feed and per aggregator.

Not public: it answers only to `Authorization: Bearer <stats_token>`, and to anything else,
or when no token is set, with the same 404 as any address that holds nothing. Never stored by
a shared cache (`no-store`).
"""

from __future__ import annotations

import hmac
import logging
import math
import sqlite3

from flask import Blueprint, Response, abort, render_template, request
from markupsafe import Markup, escape

from .. import statsreport
from ..statsreport import Day
from ..web import service

log = logging.getLogger("feedsvc")
blueprint = Blueprint("stats", __name__)
DEFAULT_DAYS = 30
MAX_DAYS_PARAM = 6  # digits


def authorized(header: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = header.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    # WSGI headers are their bytes as latin-1: the same bytes the token was sent as.
    return hmac.compare_digest(given.strip().encode("latin-1", "replace"),
                               token.encode("utf-8"))


@blueprint.get("/stats")
def stats_page():
    settings = service().settings
    if not authorized(request.headers.get("Authorization", ""), settings.stats_token):
        abort(404)
    raw = request.args.get("days", str(DEFAULT_DAYS))
    if not raw.isdigit() or len(raw) > MAX_DAYS_PARAM or not \
            1 <= int(raw) <= settings.stats_retention:
        abort(404)
    try:
        stats = statsreport.read(settings, int(raw))
    except sqlite3.Error as error:
        log.warning("stats: cannot read %s (%s)", statsreport.stats_path(settings), error)
        return private(Response("The stats database cannot be read right now; the server "
                                "log says why.\n", status=503, mimetype="text/plain"))
    body = render_template("stats.html", stats=stats, days=int(raw), chart=chart,
                           snapshot=service().store.snapshot)
    return private(Response(body, mimetype="text/html"))


def private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@blueprint.app_template_filter("size")
def size_filter(count: int) -> str:
    return statsreport.size(count)


def chart(days: tuple[Day, ...], width: int = 640, height: int = 220,
          labels: bool = True) -> Markup:
    """Subscribers per day, stacked: aggregators' counts below, direct readers on top. Each
    day has a <title> (the browser shows it on hover) and the page a table of the same."""
    if not days:
        return Markup("")
    left, bottom = (44, 22) if labels else (2, 2)
    top = right = 8 if labels else 2
    plot_w, plot_h = width - left - right, height - top - bottom
    step = nice(max(day.subscribers for day in days) / 4)
    ceiling = step * max(1, math.ceil(max(day.subscribers for day in days) / step))
    stride = plot_w / max(len(days) - 1, 1)

    def x(n: int) -> float:
        return left + n * stride if len(days) > 1 else left + plot_w / 2

    def y(value: float) -> float:
        return top + plot_h * (1 - value / ceiling)

    def area(lower, upper) -> str:
        points = [(x(n), y(upper(day))) for n, day in enumerate(days)]
        points += [(x(n), y(lower(day))) for n, day in reversed(list(enumerate(days)))]
        return " ".join(f"{px:.1f},{py:.1f}" for px, py in points)

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="Subscribers per day, '
             f'{escape(days[0].day)} to {escape(days[-1].day)}">']
    if labels:
        for tick in range(0, int(ceiling) + 1, int(step)):
            parts.append(f'<line class="chart-grid" x1="{left}" x2="{width - right}" '
                         f'y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#888" '
                         f'stroke-opacity=".3"/><text class="chart-label" x="{left - 6}" '
                         f'y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick}</text>')
        ends = {0: "start", len(days) - 1: "end"} if len(days) > 1 else {}
        for n in sorted({0, len(days) // 2, len(days) - 1}):
            parts.append(f'<text class="chart-label" x="{x(n):.1f}" y="{height - 6}" '
                         f'text-anchor="{ends.get(n, "middle")}" font-size="11">'
                         f'{escape(days[n].day.strftime("%-d %b"))}</text>')
    parts.append(f'<polygon class="chart-aggregated" fill="#5b8def" fill-opacity=".55" '
                 f'points="{area(lambda d: 0, lambda d: d.aggregated)}"/>')
    parts.append(f'<polygon class="chart-direct" fill="#e8823a" fill-opacity=".7" '
                 f'points="{area(lambda d: d.aggregated, lambda d: d.subscribers)}"/>')
    for n, day in enumerate(days):
        parts.append(f'<rect x="{x(n) - stride / 2:.1f}" y="{top}" width="{stride:.1f}" '
                     f'height="{plot_h}" fill="transparent"><title>{escape(day.day)}: '
                     f'{day.subscribers} subscribers ({day.aggregated} through aggregators, '
                     f'{day.direct} direct)</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def nice(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at least `value` (and at least 1): a grid step."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)
