"""feedsvc benchmarks, one command per target of issue 5. Not run by CI.

    python benchmarks/bench.py throughput [--workers 1 2] [--seconds 10] [--runs 3]
    python benchmarks/bench.py startup    [--items 100000] [--runs 1] [--workers 2] [--baseline REV]
    python benchmarks/bench.py update     [--items 100000] [--edits 10]
    python benchmarks/bench.py item-page  [--items 100000] [--pages 200]
    python benchmarks/bench.py workers    [--items 100000] [--workers 1 2] [--seconds 10]

Each prints medians and the ratio to a baseline measured in the same run: nginx serving the
same bytes for throughput, feedsvc's own second run for start-up, a request that does no work
(/healthz) for item pages. Needs `wrk` and `nginx` (Debian packages) for `throughput`.
Stats on against off: `stats.py`.
Servers bind to 127.0.0.1; every load run is bounded by --seconds.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

# Newer than every corpus item (they end in 2025), so an edit lands at the top of the feed.
RECENT = "2026-01-01T00:00:00Z"
NGINX_CONF = """daemon off; worker_processes auto; pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  types {{ application/atom+xml atom; }}
  server {{ listen 127.0.0.1:{port}; root {dir}/www; etag on; }} }}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 600, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(interval)
    raise TimeoutError("server not ready")


# Linux's autogroup scheduler shares the CPU fairly between sessions first, then between the
# threads inside each. A server started in wrk's session competes with wrk thread by thread,
# and the one with more threads takes more of the cores: on 2026-12-02 feedsvc (a dozen
# threads) did 41,000 req/s in wrk's session and 35,000 in its own, nginx (2 processes) 75,000
# and 73,000. Before, feedsvc ran in a session of its own and nginx in wrk's. Now wrk and every
# server each get one, as separate machines would be; `--same-session` puts them all in the
# bench's session instead (each server in a process group of its own, for stop()).
SESSION = {"start_new_session": True}


class Server:
    def __init__(self, items: Path, workers: int = 1, cache_dir: str | None = None,
                 extra_env: dict | None = None, access_log: bool = False, stats: bool = True,
                 code: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, **(extra_env or {})}
        env["XDG_CACHE_HOME"] = cache_dir or tempfile.mkdtemp(prefix="feedsvc-bench-cache-")
        # The stats database goes there too, never into the user's own data folder.
        env["XDG_DATA_HOME"] = (extra_env or {}).get("XDG_DATA_HOME", env["XDG_CACHE_HOME"])
        self.cache_dir = env["XDG_CACHE_HOME"]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "feedsvc", "serve", "--items", str(Path(items).resolve()), "--port",
             str(self.port), "--workers", str(workers),
             "--access-log" if access_log else "--no-access-log",
             # Only when off: a baseline commit from before the stats knows no such flag.
             *([] if stats else ["--no-stats"]),
             # one public URL for every run: it is part of what the on-disk cache is keyed by
             "--base-url", "https://bench.example.org/"],
            # The access log goes to a file, as a service manager's journal takes it.
            env=env, stdout=open(os.devnull if not access_log else
                                 Path(env["XDG_CACHE_HOME"]) / "access.log", "wb"),
            stderr=subprocess.DEVNULL,
            # `-m feedsvc` imports the package from the working folder first: `code` runs
            # another checkout (a baseline) with this one's environment.
            cwd=code, **(SESSION or {"process_group": 0}))

    def health(self) -> dict:
        import json
        with urllib.request.urlopen(self.url + "healthz", timeout=2) as response:
            return json.loads(response.read())

    def ready(self, items: int) -> float:
        wait_until(lambda: self.health()["items"] >= items)
        return time.perf_counter() - self.started

    def rss_mb(self) -> float:
        """Resident memory of the server and all its processes."""
        total, pids = 0, [self.process.pid]
        while pids:
            pid = pids.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                pids.extend(int(child) for child in children)
            except (OSError, AttributeError):
                continue
        return total / 1024

    def memory_mb(self, field: str = "Pss") -> dict[int, float]:
        """`field` of /proc/PID/smaps_rollup for the server and each of its processes. PSS
        counts a page shared by n processes as 1/n in each: their sum is what they hold."""
        found, pids = {}, [self.process.pid]
        while pids:
            pid = pids.pop()
            try:
                text = Path(f"/proc/{pid}/smaps_rollup").read_text()
                found[pid] = int(re.search(rf"^{field}:\s+(\d+)", text, re.M)[1]) / 1024
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                pids.extend(int(child) for child in children)
            except (OSError, TypeError):
                continue
        return found

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server and all its processes so far."""
        total, pids = 0, [self.process.pid]
        while pids:
            pid = pids.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                pids.extend(int(child) for child in children)
            except (OSError, IndexError, ValueError):
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)


WARM_UP = 3  # seconds of wrk, not counted, before the measured runs of each server


def wrk(url: str, seconds: int, headers: dict | None = None, script: str | None = None) -> float:
    return wrk_run(url, seconds, headers, script)[0]


def wrk_run(url: str, seconds: int, headers: dict | None = None,
            script: str | None = None) -> tuple[float, int]:
    """(requests/s, requests) of one wrk run."""
    command = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", script]
    output = subprocess.run(command + [url], capture_output=True, text=True,
                            timeout=seconds + 30, **SESSION).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(0)}")
    return (float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            int(re.search(r"(\d+) requests in", output).group(1)))


def cmd_throughput(args):
    items = corpus.ensure(20, body_kb=3.8)  # a feed of about 100 KB
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # nginx's workers run as an unprivileged user
        nginx_port = free_port()
        for workers in args.workers:
            server = Server(items, workers)
            try:
                server.ready(20)
                with urllib.request.urlopen(server.url + "feed.atom") as response:
                    body, etag = response.read(), response.headers["ETag"]
                if workers == args.workers[0]:
                    (Path(folder) / "www").mkdir()
                    (Path(folder) / "www" / "feed.atom").write_bytes(body)
                    (Path(folder) / "nginx.conf").write_text(
                        NGINX_CONF.format(dir=folder, port=nginx_port))
                    print(f"feed: {len(body)} bytes")
                for _ in range(args.runs):
                    runs.setdefault(f"feedsvc x{workers} 200", []).append(
                        wrk(server.url + "feed.atom", args.seconds))
                    runs.setdefault(f"feedsvc x{workers} 304", []).append(
                        wrk(server.url + "feed.atom", args.seconds, {"If-None-Match": etag}))
            finally:
                server.stop()
        nginx = subprocess.Popen(["nginx", "-c", f"{folder}/nginx.conf", "-p", folder],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 **SESSION)
        try:
            wait_until(lambda: urllib.request.urlopen(
                f"http://127.0.0.1:{nginx_port}/feed.atom", timeout=2).status == 200, 10)
            runs["nginx static"] = [wrk(f"http://127.0.0.1:{nginx_port}/feed.atom",
                                        args.seconds) for _ in range(args.runs)]
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    print(f"\nwrk -t2 -c32 -d{args.seconds}s, median of {args.runs} runs (requests/s):")
    for name, value in medians.items():
        print(f"  {name:20} {value:10.0f}")
    for workers in args.workers:
        ok, not_modified = medians[f"feedsvc x{workers} 200"], medians[f"feedsvc x{workers} 304"]
        print(f"  workers={workers}: 200/nginx = {ok / medians['nginx static']:.2f} "
              f"(target >= 0.35); 304/200 = {not_modified / ok:.2f} (target >= 1.0)")


def cmd_startup(args):
    items = corpus.ensure(args.items)
    sides = {"feedsvc": None}
    if args.baseline:
        sides[args.baseline] = checkout(args.baseline)
    try:
        results = {side: startups(items, args, code) for side, code in sides.items()}
    finally:
        for code in sides.values():
            if code is not None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(code)], capture_output=True)
    print(f"{args.items} items, {args.workers} workers, median of {args.runs} run(s), every "
          "file read once before each start (in the page cache, as after a deploy):")
    for side, (cold, warm, memory) in results.items():
        print(f"  {side}:")
        print(f"    cold start, ready to serve   {cold:7.2f} s  (target <= 15 s)")
        print(f"    restart with the cache       {warm:7.2f} s  (target <= 3 s); "
              f"restart/cold = {warm / cold:.2f}")
        print(f"    memory (RSS, all processes)  {memory:7.0f} MB (shared pages counted in "
              "each process: `workers` gives PSS)")
    if args.baseline:
        (cold, warm, _), (old_cold, old_warm, _) = results.values()
        print(f"  feedsvc / {args.baseline}: cold start {cold / old_cold:.2f}, "
              f"restart {warm / old_warm:.2f}")


ROOT = Path(__file__).resolve().parent.parent


def checkout(revision: str) -> Path:
    """A work tree of `revision` (outside the repository), for a baseline in the same run."""
    folder = Path(tempfile.mkdtemp(prefix="feedsvc-baseline-")) / "checkout"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder),
                    revision], check=True, capture_output=True)
    return folder


def startups(items: Path, args, code: Path | None) -> tuple[float, float, float]:
    """Median cold start, restart with the cache and memory, over args.runs runs."""
    results: dict[str, list] = {"cold": [], "restart": []}
    for _ in range(args.runs):
        cache_dir = tempfile.mkdtemp(prefix="feedsvc-bench-cache-")
        for phase in ("cold", "restart"):
            corpus.warm(items)  # and the cache file: both sides read from memory
            if phase == "restart":
                corpus.warm(Path(cache_dir))
            server = Server(items, args.workers, cache_dir, code=code)
            try:
                seconds = server.ready(args.items)
                time.sleep(2)  # let the cache write and the parse pool exit before measuring
                results[phase].append((seconds, server.rss_mb()))
            finally:
                server.stop()
        shutil.rmtree(cache_dir, ignore_errors=True)
    cold = statistics.median(s for s, _ in results["cold"])
    warm = statistics.median(s for s, _ in results["restart"])
    memory = statistics.median(m for _, m in results["cold"] + results["restart"])
    return cold, warm, memory


def feed_titles(server: Server) -> str:
    with urllib.request.urlopen(server.url + "feed.atom", timeout=5) as response:
        return response.read().decode()


def cmd_update(args):
    items = corpus.ensure(args.items)
    server = Server(items, 1)
    latencies = []
    try:
        server.ready(args.items)
        for edit in range(args.edits):
            name = items / "2099" / f"bench-edit-{edit}.md"
            name.parent.mkdir(exist_ok=True)
            title = f"Benchmark edit {edit} {time.time_ns()}"
            written = time.perf_counter()
            name.write_text(f"---\ntitle: {title}\ndate: {RECENT}\n---\nNew.\n")
            wait_until(lambda: title in feed_titles(server), 10, 0.005)
            latencies.append(time.perf_counter() - written)
    finally:
        server.stop()
        shutil.rmtree(items / "2099", ignore_errors=True)
    print(f"write -> visible in /feed.atom, median of {args.edits}: "
          f"{statistics.median(latencies) * 1000:.0f} ms (target <= 1000 ms)")
    cpu = update_cpu(items, args.edits)
    print(f"CPU of one incremental update among {args.items}: median {cpu:.1f} ms "
          "(target <= 50 ms)")


def update_cpu(items: Path, edits: int) -> float:
    """In-process: CPU time of Store.refresh for one changed file."""
    from feedsvc.config import Settings
    from feedsvc.store import Store

    store = Store(Settings(items_dir=items, cache_dir=tempfile.mkdtemp()))
    samples = []
    path = items / "2099" / "bench-cpu.md"
    path.parent.mkdir(exist_ok=True)
    try:
        for edit in range(edits):
            path.write_text(f"---\ntitle: CPU {edit}\ndate: {RECENT}\n---\nx{edit}\n")
            start = time.process_time()
            store.refresh(["2099/bench-cpu.md"])
            samples.append((time.process_time() - start) * 1000)
    finally:
        shutil.rmtree(items / "2099", ignore_errors=True)
    return statistics.median(samples)


def cmd_item_page(args):
    items = corpus.ensure(args.items)
    slugs = [p.stem.split("-", 3)[3] for p in sorted(items.rglob("*.md"))]
    server = Server(items, 1)
    try:
        server.ready(args.items)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

        def timed(path: str) -> float:
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.status == 200, (path, response.status)
            return (time.perf_counter() - start) * 1000

        baseline = statistics.median(timed("/healthz") for _ in range(args.pages))
        chosen = random.Random(7).sample(slugs, args.pages)
        first_views = statistics.median(timed(f"/items/{slug}") for slug in chosen)
        cached = statistics.median(timed(f"/items/{slug}") for slug in chosen)
    finally:
        server.stop()
    print(f"/items/<slug>, median over {args.pages} pages, client-side over keep-alive:")
    print(f"  never viewed before  {first_views:6.2f} ms")
    print(f"  viewed again         {cached:6.2f} ms")
    print(f"  /healthz (baseline)  {baseline:6.2f} ms")
    print(f"  server time for a first view ~ {first_views - baseline:.2f} ms above the "
          "baseline (target <= 5 ms)")


# nginx as Debian ships it (/etc/nginx/nginx.conf and the default site), in a temporary prefix:
# access log on, to a file; worker_processes auto; 768 connections a worker; gzip on.
NGINX_DEBIAN = """daemon off; worker_processes auto; pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{ worker_connections 768; }}
http {{ sendfile on; tcp_nopush on; types_hash_max_size 2048;
  include /etc/nginx/mime.types; default_type application/octet-stream;
  access_log {dir}/{access}; gzip on;
  server {{ listen 127.0.0.1:{port}; root {dir}/www; index index.html;
    location / {{ try_files $uri $uri/ =404; }} }} }}
"""


def nginx_rate(folder: Path, body: bytes, seconds: int, runs: int,
               access: str) -> tuple[list[float], float]:
    """Requests/s of nginx serving `body` as /feed.atom (Debian's config; `access`: the access
    log's file name, or "off"), and the memory (PSS, MB) of its processes after the runs."""
    port = free_port()
    (folder / "www").mkdir(exist_ok=True)
    (folder / "www" / "feed.atom").write_bytes(body)
    conf = folder / f"nginx-{port}.conf"
    conf.write_text(NGINX_DEBIAN.format(dir=folder, port=port, access=access)
                    .replace(f"access_log {folder}/off;", "access_log off;"))
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(folder)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **SESSION)
    try:
        url = f"http://127.0.0.1:{port}/feed.atom"
        wait_until(lambda: urllib.request.urlopen(url, timeout=2).status == 200, 10)
        wrk(url, WARM_UP)
        rates = [wrk(url, seconds) for _ in range(runs)]
        holder = Server.__new__(Server)  # just its memory_mb, on nginx's processes
        holder.process = nginx
        return rates, sum(holder.memory_mb().values())
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def cmd_workers(args):
    """Throughput of /feed.atom with 1, 2, N workers and the access log on and off, memory
    of each at --items items, and nginx serving the same bytes, all in one run."""
    items = corpus.ensure(args.items)
    cache_dir = tempfile.mkdtemp(prefix="feedsvc-bench-cache-")
    server = Server(items, 1, cache_dir)  # a cold start fills the item cache: every row
    try:                                  # below is a restart, alike
        server.ready(args.items)
        wait_until(lambda: any(Path(cache_dir).rglob("*.json")), 60)
    finally:
        server.stop()
    rows, body = [], None
    for workers in args.workers:
        for log in (True, False):
            server = Server(items, workers, cache_dir, access_log=log)
            try:
                ready = server.ready(args.items)
                if body is None:
                    with urllib.request.urlopen(server.url + "feed.atom") as response:
                        body = response.read()
                # Every worker up and past its first requests, as nginx is below: `ready`
                # comes when one worker answers, and a run then may time one worker alone.
                wait_until(lambda: len(server.memory_mb()) > workers, 60)
                wrk(server.url + "feed.atom", WARM_UP)
                rates = [wrk(server.url + "feed.atom", args.seconds) for _ in range(args.runs)]
                memory = server.memory_mb()
                rows.append((f"feedsvc, {workers} worker{'s' * (workers > 1)}, access log "
                             f"{'on' if log else 'off'}", statistics.median(rates), memory,
                             ready))
            finally:
                server.stop()
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # nginx's workers run as an unprivileged user
        for access in ("access.log", "off"):
            rates, memory = nginx_rate(Path(folder), body, args.seconds, args.runs, access)
            rows.append((f"nginx (Debian's config), access log "
                         f"{'on' if access != 'off' else 'off'}", statistics.median(rates),
                         {0: memory}, None))
    shutil.rmtree(cache_dir, ignore_errors=True)
    nginx_on = rows[-2][1]
    print(f"\nGET /feed.atom ({len(body)} bytes), {args.items} items; wrk -t2 -c32 "
          f"-d{args.seconds}s, median of {args.runs}; memory: PSS after the runs")
    print(f"  {'':44} {'req/s':>8} {'/nginx':>7} {'memory':>9}  {'processes (MB)':<30} ready")
    for name, rate, memory, ready in rows:
        parts = " + ".join(f"{value:.0f}" for value in memory.values())
        print(f"  {name:44} {rate:8.0f} {rate / nginx_on:7.2f} {sum(memory.values()):7.0f} MB"
              f"  {parts:<30} {'' if ready is None else f'{ready:.1f} s'}")
    by_name = {name: (rate, sum(memory.values())) for name, rate, memory, _ in rows}
    for workers in args.workers:
        label = f"feedsvc, {workers} worker{'s' * (workers > 1)}, access log"
        on, off = by_name[f"{label} on"][0], by_name[f"{label} off"][0]
        print(f"  {workers} worker(s): access log costs {1 - on / off:.0%} of throughput "
              "(target <= 10%)")
    if 1 in args.workers:
        one = by_name["feedsvc, 1 worker, access log on"][1]
        for workers in args.workers[1:]:
            many = by_name[f"feedsvc, {workers} workers, access log on"][1]
            print(f"  memory of {workers} workers / 1 worker: {many / one:.2f} "
                  "(target <= 1.3)")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    throughput = commands.add_parser("throughput")
    throughput.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    throughput.add_argument("--seconds", type=int, default=10)
    throughput.add_argument("--runs", type=int, default=3)
    workers = commands.add_parser("workers")
    workers.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    workers.add_argument("--seconds", type=int, default=10)
    workers.add_argument("--runs", type=int, default=3)
    for name in ("throughput", "workers"):
        commands.choices[name].add_argument(
            "--same-session", action="store_true",
            help="run wrk and the servers in the bench's own session (see SESSION)")
    for name in ("startup", "update", "item-page", "workers"):
        command = commands.choices.get(name) or commands.add_parser(name)
        command.add_argument("--items", type=int, default=100_000)
    commands.choices["startup"].add_argument("--runs", type=int, default=1)
    commands.choices["startup"].add_argument("--workers", type=int, default=2)
    commands.choices["startup"].add_argument(
        "--baseline", metavar="REVISION", help="also measure this commit, in the same run")
    commands.choices["update"].add_argument("--edits", type=int, default=10)
    commands.choices["item-page"].add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    if getattr(args, "same_session", False):
        SESSION.clear()
    {"throughput": cmd_throughput, "startup": cmd_startup, "update": cmd_update,
     "item-page": cmd_item_page, "workers": cmd_workers}[args.command](args)


if __name__ == "__main__":
    main()
