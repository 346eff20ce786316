"""What counting subscribers costs a polled feed: stats on against off. Not run by CI.

    python benchmarks/stats.py wrk [--workers 2] [--seconds 10] [--runs 5]
    python benchmarks/stats.py instructions [--requests 10000]

`wrk`: `GET /feed.atom` from a server with stats on and one with stats off, up side by side
and measured in turn (on, off, off, on, ...) so that drift in the machine's load falls on both
alike, in three shapes of traffic; and a second stats-off server against the first (A/A):
what the machine's noise alone does to the ratio. Needs `wrk`.

`instructions`: counted by valgrind's callgrind, which other load on the machine cannot
blur. What stats add to a request (FastPath in this process, fresh environ and strings per
request as a server makes them, a flush every 2,000 requests with its SQLite transaction)
against what a whole request costs a server worker (`feedsvc serve --workers 1`, stats off,
one keep-alive connection). Each figure is the difference between n and n/5 requests, so
start-up falls out. The kernel's share of a request (TCP) is in neither, so the ratio is an
upper bound. Needs `valgrind`.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
from bench import Server, free_port, wait_until, wrk_run  # noqa: E402

NEWSBOAT = "newsboat/2.30"
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )"
# 1,000 readers polling in turn, each its own address (believed: trust_forwarded = 1) with
# newsboat's user agent: every flush sees up to 1,000 distinct readers to hash and insert.
CROWD_SCRIPT = """counter = 0
request = function()
  counter = counter + 1
  local n = counter % 1000
  return wrk.format("GET", nil, {["User-Agent"] = "newsboat/2.30",
    ["X-Forwarded-For"] = "10.0." .. math.floor(n / 250) .. "." .. (n % 250)})
end
"""
FLUSH_EVERY = 2000  # requests per flush in `instructions`: one worker's second, and then some


def cmd_wrk(args):
    items = corpus.ensure(20, body_kb=3.8)
    env = {"FEEDSVC_TRUST_FORWARDED": "1"}
    servers = {"on": Server(items, args.workers, extra_env=env, stats=True),
               "off": Server(items, args.workers, extra_env=env, stats=False),
               "off again": Server(items, args.workers, extra_env=env, stats=False)}
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "crowd.lua"
        script.write_text(CROWD_SCRIPT)
        scenarios = {"one reader (newsboat)": dict(headers={"User-Agent": NEWSBOAT}),
                     "1,000 readers in turn": dict(script=str(script)),
                     "Feedly's poller": dict(headers={"User-Agent": FEEDLY})}
        try:
            for server in servers.values():
                server.ready(20)
            rates, cpu = runs(servers, scenarios, args)
            database = next(Path(servers["on"].cache_dir).rglob("*.stats.sqlite"))
            size = sum(path.stat().st_size for path in database.parent.glob("*.stats.sqlite*"))
        finally:
            for server in servers.values():
                server.stop()
    print(f"\nGET /feed.atom, {args.workers} workers; wrk -t2 -c32 -d{args.seconds}s, "
          f"{args.runs} runs each, measured in turn (medians):")
    print(f"  {'':38} {'req/s':>7} {'':>6} {'ratio':>6} {'(range)':>11}   "
          "server CPU per request")
    for name in scenarios:
        row(f"{name}: stats off, on", rates, cpu, name, "off", "on")
    row("A/A, one reader: off, off again", rates, cpu, next(iter(scenarios)), "off",
        "off again")
    print("  target: stats on >= 0.95 of off; A/A: what the machine's noise alone does")
    print(f"  stats database after all runs: {size / 1e6:.1f} MB")


def runs(servers: dict, scenarios: dict, args) -> tuple[dict, dict]:
    """Requests/s and server CPU microseconds per request, by (scenario, server)."""
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    first = next(iter(scenarios))
    for run in range(args.runs):
        for name, options in scenarios.items():
            order = ["on", "off"] + (["off again"] if name == first else [])
            for label in (order if run % 2 == 0 else order[::-1]):
                before = servers[label].cpu_seconds()
                rate, requests = wrk_run(servers[label].url + "feed.atom", args.seconds,
                                         **options)
                rates.setdefault((name, label), []).append(rate)
                cpu.setdefault((name, label), []).append(
                    (servers[label].cpu_seconds() - before) * 1e6 / requests)
    return rates, cpu


def row(title: str, rates: dict, cpu: dict, name: str, base: str, other: str) -> None:
    a, b = (statistics.median(rates[name, label]) for label in (base, other))
    # Each run's pair was measured back to back: their ratio is what drift spares.
    pairs = [y / x for x, y in zip(rates[name, base], rates[name, other])]
    cpu_a, cpu_b = (statistics.median(cpu[name, label]) for label in (base, other))
    print(f"  {title:38} {a:7.0f} {b:6.0f} {statistics.median(pairs):6.3f} "
          f"({min(pairs):.2f}-{max(pairs):.2f})   {cpu_a:.1f} / {cpu_b:.1f} us "
          f"({cpu_b / cpu_a - 1:+.1%})")


def cmd_instructions(args):
    n, few = args.requests, args.requests // 5
    per_request = {}
    for mode in ("off", "on", "crowd"):
        counts = [callgrind([sys.executable, __file__, "loop", mode, str(count)])
                  for count in (few, n)]
        per_request[mode] = (counts[1] - counts[0]) / (n - few)
    counts = [worker_instructions(count) for count in (few, n)]
    worker = (counts[1] - counts[0]) / (n - few)
    off = per_request["off"]
    print(f"\nInstructions per GET /feed.atom (callgrind; {n} minus {few} requests):")
    print(f"  FastPath in one process, stats off: {off:,.0f}")
    for mode, title in (("on", "one reader polling"), ("crowd", "1,000 readers in turn")):
        added = per_request[mode] - off
        print(f"  stats on, {title}: +{added:,.0f} (+{added / off:.1%} of FastPath; "
              f"{added / worker:.1%} of a whole request, i.e. throughput "
              f"x{worker / (worker + added):.3f} at worst)")
    print(f"  a whole request in a server worker, stats off: {worker:,.0f}")
    print("  target: throughput with stats on >= 0.95 of off")


def callgrind(command: list[str], env: dict | None = None) -> int:
    """The instructions `command` executes, all of them (one process)."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
                        *command], check=True, capture_output=True, timeout=1800,
                       env={**os.environ, **(env or {})})
        return int(re.search(r"^summary: (\d+)", (Path(folder) / "out").read_text(),
                             re.M).group(1))


def cmd_loop(args):
    """(Run under callgrind by `instructions`.) FastPath answers `count` polls."""
    from feedsvc.stats import Recorder
    from feedsvc.web import create_app

    items = corpus.ensure(20, body_kb=3.8)
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"items_dir": items, "base_url": "https://bench.example.org/",
                          "cache_dir": folder, "stats_db": f"{folder}/stats.sqlite"},
                         watch=False)
        svc = app.extensions["feedsvc"]
        app.test_client().get("/feed.atom")  # built, and remembered for FastPath
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/feed.atom", "QUERY_STRING": "",
                   "HTTP_ACCEPT_ENCODING": "gzip", "SERVER_PROTOCOL": "HTTP/1.1"}
        recorder = Recorder(svc.settings)
        wsgi = app.wsgi_app

        def start_response(status, headers, exc_info=None):
            return None

        gc.freeze()  # as `serve` does before forking its workers
        if args.mode != "off":
            svc.stats = recorder
            wsgi(dict(environ, REMOTE_ADDR="10.1.0.1", HTTP_USER_AGENT="x"), start_response)
            recorder.flush()  # the database opened and made: not the requests' cost
        readers = 1000 if args.mode == "crowd" else 1
        addresses = [f"10.0.{n // 250}.{n % 250}" for n in range(readers)]
        for block in range(args.count // FLUSH_EVERY + 1):
            for n in range(min(FLUSH_EVERY, args.count - block * FLUSH_EVERY)):
                request = dict(environ, REMOTE_ADDR="".join(addresses[n % readers]))
                request["HTTP_USER_AGENT"] = "".join(NEWSBOAT)  # new strings, as a server's
                wsgi(request, start_response)
            if args.mode != "off":
                recorder.flush()


def worker_instructions(requests: int) -> int:
    """All the instructions the worker of a fresh `feedsvc serve --workers 1 --no-stats`
    executed, from its fork to its exit, having answered `requests` polls of /feed.atom."""
    items = corpus.ensure(20, body_kb=3.8)
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "serve.log"
        process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/cg.%p",
             sys.executable, "-m", "feedsvc", "serve", "--items", str(items), "--port",
             str(port), "--workers", "1", "--no-access-log", "--no-stats",
             "--base-url", "https://bench.example.org/"],
            env={**os.environ, "XDG_CACHE_HOME": folder, "XDG_DATA_HOME": folder},
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda: urllib.request.urlopen(
                f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200, 600, 0.5)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for _ in range(requests):
                connection.request("GET", "/feed.atom", headers={
                    "User-Agent": NEWSBOAT, "Accept-Encoding": "gzip"})
                response = connection.getresponse()
                response.read()
                assert response.status == 200, response.status
            connection.close()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=300)
        time.sleep(0.5)
        worker = re.search(r"Spawning worker-1 with PID: (\d+)", log.read_text()).group(1)
        dump = (Path(folder) / f"cg.{worker}").read_text(errors="replace")
        return int(re.search(r"^summary: (\d+)", dump, re.M).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    wrk = commands.add_parser("wrk")
    wrk.add_argument("--workers", type=int, default=2)
    wrk.add_argument("--seconds", type=int, default=10)
    wrk.add_argument("--runs", type=int, default=5)
    commands.add_parser("instructions").add_argument("--requests", type=int, default=10_000)
    loop = commands.add_parser("loop")
    loop.add_argument("mode", choices=("off", "on", "crowd"))
    loop.add_argument("count", type=int)
    args = parser.parse_args()
    {"wrk": cmd_wrk, "instructions": cmd_instructions, "loop": cmd_loop}[args.command](args)


if __name__ == "__main__":
    main()
