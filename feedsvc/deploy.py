"""Configuration for running `feedsvc serve` behind other servers (`feedsvc deploy ...`).

`nginx_config` is the nginx side of a deploy with two or more instances behind nginx's
proxy_cache: readers are answered from nginx's cache, which revalidates with the instances'
validators, goes on answering when one instance (or all of them) is down, and never hands a
body in one content coding to a client that asked for another.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .config import Settings
from .responses import STALE_IF_ERROR, cache_control

CACHE_DIR = "/var/cache/nginx/feedsvc"
DEFAULT_UPSTREAM = "127.0.0.1:8000"  # where `feedsvc serve` listens by default
DEFAULT_LISTEN = "80"

_UPSTREAM = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")
# Characters that would end a directive or a block (or start a comment) in the printed text:
# a value holding one could smuggle its own directives into the config.
_UNSAFE = re.compile(r"[;{}#$\"'\\\s]")

# An Accept-Encoding list names `coding` acceptably: the token itself (any case, `~*`), with no
# q or a non-zero one (RFC 9110 section 12.4.2: q=0 means "not acceptable").
_ACCEPTS = r"~*(^|,)\s*{coding}\s*(;\s*q\s*=\s*(1(\.0*)?|0?\.[0-9]*[1-9][0-9]*)\s*)?(,|$)"


def check_upstream(value: str) -> str:
    """`value` if it is a HOST:PORT nginx can connect to, else ValueError."""
    if not _UPSTREAM.match(value) or not 0 < int(value.rpartition(":")[2]) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8001)")
    return value


def check_value(name: str, value: str, spaces: bool = False) -> str:
    """`value` if it can stand in the config as one directive's argument(s), else ValueError."""
    unsafe = _UNSAFE.search(value.replace(" ", "") if spaces else value)
    if not value.strip() or unsafe:
        raise ValueError(f"{name} {value!r} cannot go into an nginx config as it is")
    return value


def _duration(seconds: int) -> str:
    """An nginx time: `1d`, `12h`, `90s`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def nginx_config(settings: Settings, upstreams: tuple[str, ...] = (DEFAULT_UPSTREAM,), *,
                 server_name: str | None = None, listen: str = DEFAULT_LISTEN,
                 cache_dir: str = CACHE_DIR) -> str:
    """nginx's http-context config (Debian: /etc/nginx/conf.d/feedsvc.conf) for `upstreams`,
    the `feedsvc serve` instances of the site `settings` describe. ValueError names an
    argument that cannot go into it."""
    for upstream in upstreams:
        check_upstream(upstream)
    server_name = check_value("server name", server_name or
                              urlsplit(settings.base_url).hostname or "_", spaces=True)
    listen = check_value("listen", listen, spaces=True)
    cache_dir = check_value("cache folder", cache_dir)
    # A stale copy must still be there to be served when the instances fail, and an archive
    # must not be dropped while it is still fresh.
    inactive = _duration(max(STALE_IF_ERROR, settings.archive_max_age))
    servers = "\n".join(f"    server {upstream};" for upstream in upstreams)
    return f"""\
# feedsvc behind nginx's proxy_cache, printed by `feedsvc deploy nginx` for
# {settings.base_url}. Goes in nginx's http context (Debian reads
# /etc/nginx/conf.d/*.conf there); then `nginx -t && systemctl reload nginx`.
#
# Set `trust_forwarded = 1` on every instance (feedsvc.toml, or FEEDSVC_TRUST_FORWARDED=1):
# this proxy is the one hop whose X-Forwarded-For/-Proto/-Host they should believe.
#
# How long a copy is fresh is the instances' to say, in Cache-Control (no proxy_cache_valid):
#   feeds, per-item documents: {cache_control(settings.feed_max_age)}
#   pages:                     {cache_control(settings.page_max_age)}
#   archives:                  {cache_control(settings.archive_max_age, immutable=True)}
# /healthz (no-store), redirects and 404s (no Cache-Control) are never cached.

# use_temp_path=off: responses are written inside the cache folder and renamed into place,
# never copied over from proxy_temp_path on another filesystem. inactive: a copy nobody
# asked for in that long is dropped, even one kept for when the instances fail.
# 10 MB of keys_zone holds about 80,000 keys.
proxy_cache_path {cache_dir} levels=1:2 keys_zone=feedsvc:10m max_size=1g
                 inactive={inactive} use_temp_path=off;

# The one content coding this request gets: br, else gzip, else identity (`q=0` refuses a
# coding; anything unknown, `*` included, gets identity, which every client takes). It is
# both part of the cache key and the only Accept-Encoding the instances see, so a body is
# cached, and served, only under the coding it is in.
map $http_accept_encoding $feedsvc_coding {{
    default identity;
    "{_ACCEPTS.format(coding="br")}" br;
    "{_ACCEPTS.format(coding="gzip")}" gzip;
}}

upstream feedsvc {{
{servers}
    # Idle connections kept open to the instances: a miss does not pay for a new one.
    keepalive 16;
}}

server {{
    listen {listen};
    server_name {server_name};

    location / {{
        proxy_pass http://feedsvc;
        proxy_cache feedsvc;
        # feedsvc's documents never depend on the Host or the scheme: one copy for all.
        proxy_cache_key "$request_uri $feedsvc_coding";
        proxy_set_header Accept-Encoding $feedsvc_coding;
        # The key already holds the coding, the one thing the instances vary on; nginx's own
        # Vary handling would keep a copy per distinct Accept-Encoding string instead. The
        # header still goes to the client, for the caches after this one.
        proxy_ignore_headers Vary;

        # An expired copy is revalidated with its ETag and Last-Modified: an unchanged
        # document costs the instance a 304, not the whole body.
        proxy_cache_revalidate on;
        # The cached copy answers while a fresh one is fetched (updating) and while the
        # instances fail; the fetch runs in the background, so no reader waits for it.
        proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
        proxy_cache_background_update on;
        # A crowd missing the same document sends one request to the instances, not one each.
        proxy_cache_lock on;
        # A request one instance fails (down, restarting) is retried on the next.
        proxy_next_upstream error timeout http_502 http_503;

        # HTTP/1.1 with no Connection header: the keepalive connections above are reused.
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        # The instances compress (br, gzip), each coding with its own strong ETag. nginx's
        # gzip (on in Debian's nginx.conf) would compress what they send uncompressed and
        # give it that body's ETag made weak (W/): two bodies, one tag, no longer strong.
        gzip off;

        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;
        # HIT, MISS, EXPIRED, STALE, UPDATING, REVALIDATED, BYPASS: what the cache did.
        add_header X-Cache-Status $upstream_cache_status always;
    }}
}}
"""
