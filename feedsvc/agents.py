"""Who is polling: an aggregator reporting its subscribers, a robot, or a reader.

Aggregators that fetch a feed once for all their users say how many subscribe in their
`User-Agent` (`Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )`); some
also name their own id for the feed, and may hold several for one URL (Feedbin's
`feed-id:1697787`), each with its own count. Everything else that is no robot is one reader
(a desktop or self-hosted reader polls once per person). Extend `AGGREGATORS` for a service
whose name should read better than what its `User-Agent` gives, or whose feed id it carries;
an unknown one with a count is still counted, under the product name it gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Aggregator:
    name: str  # as the stats show it
    pattern: re.Pattern  # matches its User-Agent
    feed_id: re.Pattern | None = None  # group 1: its id for the feed, when it gives one


AGGREGATORS = (
    Aggregator("Feedly", re.compile(r"^Feedly", re.I)),
    Aggregator("Inoreader", re.compile(r"\binoreader\.com\b", re.I)),
    Aggregator("NewsBlur", re.compile(r"^NewsBlur ", re.I),
               re.compile(r"newsblur\.com/site/(\d+)", re.I)),
    Aggregator("Feedbin", re.compile(r"^Feedbin\b", re.I), re.compile(r"feed-id:(\d+)")),
    Aggregator("The Old Reader", re.compile(r"\btheoldreader\.com\b", re.I),
               re.compile(r"feed-id=(\w+)")),
    Aggregator("BazQux", re.compile(r"\bBazQux\b", re.I)),
    # Journals syndicating a feed into an account name it: one count per account.
    Aggregator("Dreamwidth", re.compile(r"^Dreamwidth Studios\b", re.I),
               re.compile(r"; for (\S+?);")),
    Aggregator("LiveJournal", re.compile(r"^LiveJournal\.com\b", re.I),
               re.compile(r"; for (\S+?);")),
    Aggregator("Netvibes", re.compile(r"\bNetvibes\b", re.I), re.compile(r"feedID: ?(\w+)")),
)
# "462 subscribers", "1 subscriber", "2 readers", Rojo's "15 subscriber(s)", Yahoo's
# "users 2", ThePort's "subscribers_1".
COUNT = re.compile(r"\b(\d{1,12})[\s_]+(?:subscribers?|readers?)\b"
                   r"|\b(?:subscribers|users)[\s_]+(\d{1,12})\b", re.I)
# Anything else that says which of its feeds this is.
FEED_ID = re.compile(r"\bfeed-?id[:=]\s?(\w{1,64})", re.I)
# Clients that are nobody's subscription: crawlers, link previews, validators, monitors, the
# WebSub hubs fetching a feed to push it (their subscribers come with their own counts).
ROBOTS = re.compile(r"bot\b|bot/|crawl|spider|slurp|fetcher|preview|validator|monitor|uptime"
                    r"|pingdom|headless|\bhub\b|websub|pubsubhubbub|superfeedr", re.I)
MAX_SUBSCRIBERS = 10_000_000  # a claim past the largest aggregator's largest feed is a lie
MAX_NAME = 40
MAX_FEED_ID = 64


@dataclass(frozen=True)
class Report:
    """An aggregator's count for the feed it fetched, under its id for it ("" for none)."""
    aggregator: str
    feed_id: str
    subscribers: int


ROBOT = Report("", "", 0)  # `identify`'s answer for a robot


@lru_cache(maxsize=4096)  # the same few strings poll again and again
def identify(agent: str) -> Report | None:
    """The report in `agent`, ROBOT, or None for a reader."""
    count = COUNT.search(agent)
    if count is None:
        return ROBOT if ROBOTS.search(agent) else None
    subscribers = min(int(count.group(1) or count.group(2)), MAX_SUBSCRIBERS)
    for aggregator in AGGREGATORS:
        if aggregator.pattern.search(agent):
            found = aggregator.feed_id and aggregator.feed_id.search(agent)
            return Report(aggregator.name, _printable(found.group(1))[:MAX_FEED_ID]
                          if found else "", subscribers)
    found = FEED_ID.search(agent)
    return Report(product(agent), found.group(1) if found else "", subscribers)


def product(agent: str) -> str:
    """The name an unknown aggregator gives: its first product token (`SomeReader/2.1 (...)`
    -> SomeReader), or after a browser's `Mozilla/5.0 (compatible; Name; ...)`, Name."""
    tokens = [token.split("/")[0] for token in re.findall(r"[^\s(;]+", agent)]
    name = tokens[0] if tokens else ""
    if name.lower() == "mozilla":
        compatible = re.search(r"\(compatible;\s*([^;)]+)", agent)
        # else the first product after the browser's, comments (in parentheses) aside
        rest = re.findall(r"[^\s();]+", re.sub(r"\([^)]*\)?", " ", agent))[1:]
        name = compatible.group(1).split("/")[0] if compatible else \
            (rest[0].split("/")[0] if rest else "")
    return _printable(name.strip())[:MAX_NAME] or "unknown"


def _printable(text: str) -> str:
    """What a client sent, safe to print on a terminal (WSGI strings are latin-1 bytes)."""
    return "".join(c for c in text if c.isprintable() and c.isascii())
