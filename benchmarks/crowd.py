"""Crowds: 10,000 connections held open on feedsvc and on nginx serving the same bytes.

    python benchmarks/crowd.py [--connections 10000] [--servers feedsvc nginx]
                               [--shapes none idle slow mix] [--watch 25] [--probes 50]
                               [--timeouts shipped | --timeouts SECONDS]

For each server (`feedsvc serve` on the bundled items/ folder, one worker as shipped; nginx with
worker_processes auto and worker_connections 10240, serving /feed.atom as fetched from feedsvc)
and each shape of crowd:

  none   no crowd: the fresh-client baseline
  idle   each connection sent one full GET /feed.atom, read the answer, and stays open
  slow   each connection sends a request line and then one header line every --dribble
         seconds (2), never the blank line that ends the headers
  mix    half idle, half slow, interleaved

it opens the crowd (at most 256 connects in flight), then times a fresh client in a separate
process: --probes (50) GET /feed.atom, each on a new connection, one every 0.1 s, 5 s timeout
each. Then it watches until the server has closed every crowd connection or --watch seconds
have passed since the crowd was complete. A connection's drop time counts from when it went
quiet: an idle one from the end of its answer, a slow one from its connect.

--timeouts shipped (the default) runs both servers as shipped: feedsvc header_timeout 10 s
(which also bounds an idle keep-alive connection), nginx's compiled-in client_header_timeout
60 s and keepalive_timeout 75 s. --timeouts 10 gives nginx client_header_timeout 10s and
keepalive_timeout 10s and feedsvc header_timeout 10, so both drop on the same clock.
To see nginx's shipped drops, watch past 75 s: --servers nginx --shapes idle slow --watch 80.

Every phase has a deadline; children are stopped on every exit; the default run takes ~3 min.
Crowd phases bind client sockets to their own source address (127.0.0.10, .11, ...) so that
no phase waits for ports another left in TIME_WAIT. Servers bind to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import http.client
import json
import os
import re
import resource
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

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = """daemon off; worker_processes auto; pid {dir}/nginx.pid;
error_log {dir}/error.log; worker_rlimit_nofile {nofile};
events {{ worker_connections 10240; }}
http {{ access_log off; {timeouts}
  types {{ application/atom+xml atom; }}
  server {{ listen 127.0.0.1:{port}; root {dir}/www; }} }}
"""
PROBE_INTERVAL = 0.1
PROBE_TIMEOUT = 5.0
CONNECTS_IN_FLIGHT = 256
OPEN_DEADLINE = 60.0          # to open one crowd
NOTABLE = re.compile(r"panic|Traceback|ERROR|error|respawn|Too many|not enough|died|exit",
                     re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def process_tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            pending += [int(c) for c in
                        Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            pass
    return found


def rss_mb(pid: int) -> float:
    total = 0
    for each in process_tree(pid):
        try:
            total += int(re.search(r"VmRSS:\s+(\d+)",
                                   Path(f"/proc/{each}/status").read_text()).group(1))
        except (OSError, AttributeError):
            pass
    return total / 1024


def get(port: int, path: str = "/feed.atom", timeout: float = 5) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.read()


def wait_until(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError("server not ready")


class Child:
    """A server started in its own session, stopped with its whole process group."""

    name = ""
    process: subprocess.Popen
    log: Path

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()

    def ready(self, predicate, timeout: float):
        try:
            wait_until(predicate, timeout)
        except BaseException:
            self.stop()
            raise

    def workers(self) -> list[int]:
        return sorted(process_tree(self.process.pid)[1:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        except ProcessLookupError:
            pass

    def notable_log_lines(self) -> list[str]:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines()
                if NOTABLE.search(line) and "Websockets are not supported" not in line]


class Feedsvc(Child):
    name = "feedsvc"

    def __init__(self, folder: Path, header_timeout: float | None):
        super().__init__(folder)
        env = dict(os.environ, XDG_CACHE_HOME=str(folder / "cache"))
        if header_timeout is not None:
            env["FEEDSVC_HEADER_TIMEOUT"] = str(header_timeout)
        self.log = folder / "feedsvc.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "feedsvc", "serve", "--items", str(ROOT / "items"),
                 "--port", str(self.port), "--no-access-log"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        self.ready(lambda: json.loads(get(self.port, "/healthz", 2))["items"] > 0, 30)


class Nginx(Child):
    name = "nginx"

    def __init__(self, folder: Path, body: bytes, timeouts: float | None):
        super().__init__(folder)
        (folder / "www").mkdir()
        (folder / "www" / "feed.atom").write_bytes(body)
        for each in (folder, folder.parent):
            os.chmod(each, 0o755)  # its workers run as an unprivileged user
        tuned = "" if timeouts is None else \
            f"client_header_timeout {timeouts:g}s; keepalive_timeout {timeouts:g}s;"
        (folder / "nginx.conf").write_text(NGINX_CONF.format(
            dir=folder, port=self.port, nofile=20480, timeouts=tuned))
        self.log = folder / "error.log"
        self.process = subprocess.Popen(
            ["nginx", "-c", str(folder / "nginx.conf"), "-p", str(folder)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(folder / "stderr.log", "wb"), start_new_session=True)
        self.ready(lambda: get(self.port, timeout=2) == body, 10)


# ---------------------------------------------------------------- the crowd (asyncio)

class Conn(asyncio.Protocol):
    """One crowd connection: 'idle' (one full request, then quiet) or 'slow' (dribbling)."""

    def __init__(self, crowd: "Crowd", kind: str):
        self.crowd, self.kind = crowd, kind
        self.transport = None
        self.quiet_at = None      # idle: its answer was read; slow: connected
        self.closed_at = None     # the server closed it
        self.how = None           # FIN, or the exception's name
        self.buffer = bytearray()
        self.wanted = None
        self.answered = asyncio.get_running_loop().create_future()
        self.last_words = b""     # what the server sent after the connection went quiet

    def connection_made(self, transport):
        self.transport = transport
        self.crowd.open += 1
        if self.kind == "idle":
            transport.write(self.crowd.request)
        else:
            transport.write(self.crowd.request_line)
            self.quiet_at = time.monotonic()
            self.crowd.slow.append(self)

    def data_received(self, data):
        if self.quiet_at is not None:
            if len(self.last_words) < 64:
                self.last_words += data[:64]
            return
        self.buffer += data
        if self.wanted is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = re.search(r"(?im)^content-length:\s*(\d+)", head)
            status = head.split(" ", 2)[1] if " " in head else "?"
            if status != "200" or not length:
                self.crowd.failed[f"answer {status}"] += 1
                self.quiet_at = time.monotonic()
                self._answered(False)
                return
            self.wanted = end + 4 + int(length.group(1))
        if len(self.buffer) >= self.wanted:
            self.quiet_at = time.monotonic()
            self.buffer = bytearray()
            self._answered(True)

    def _answered(self, ok: bool):
        if not self.answered.done():
            self.answered.set_result(ok)

    def eof_received(self):
        self.how = "FIN"
        return False

    def connection_lost(self, exc):
        self.crowd.open -= 1
        if not self.crowd.closing:
            self.closed_at = time.monotonic()
            if exc is not None:
                self.how = type(exc).__name__
        self._answered(False)

    def dribble(self, line: bytes):
        if self.closed_at is None and not self.transport.is_closing():
            self.transport.write(line)


class Crowd:
    def __init__(self, port: int, source: str):
        self.port, self.source = port, source
        self.request = (b"GET /feed.atom HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                        b"User-Agent: crowd\r\n\r\n" % port)
        self.request_line = b"GET /feed.atom HTTP/1.1\r\n"
        self.conns: list[Conn] = []
        self.slow: list[Conn] = []
        self.open = 0
        self.closing = False
        self.failed: collections.Counter = collections.Counter()

    async def _open_one(self, kind: str, gate: asyncio.Semaphore):
        loop = asyncio.get_running_loop()
        async with gate:
            try:
                _, conn = await asyncio.wait_for(loop.create_connection(
                    lambda: Conn(self, kind), "127.0.0.1", self.port,
                    local_addr=(self.source, 0)), 10)
            except (OSError, TimeoutError) as error:
                self.failed[f"connect {type(error).__name__}"] += 1
                return
            self.conns.append(conn)
            if kind == "idle":
                try:
                    if not await asyncio.wait_for(asyncio.shield(conn.answered), 10):
                        self.failed["no answer"] += 1
                except TimeoutError:
                    self.failed["answer timeout"] += 1

    async def open_all(self, kinds: list[str]) -> float:
        gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)
        started = time.monotonic()
        if not kinds:
            return 0.0
        tasks = [asyncio.ensure_future(self._open_one(kind, gate)) for kind in kinds]
        _, pending = await asyncio.wait(tasks, timeout=OPEN_DEADLINE)
        for task in pending:
            task.cancel()
        if pending:
            self.failed["open deadline"] += len(pending)
            await asyncio.wait(pending, timeout=5)
        return time.monotonic() - started

    async def dribbler(self, period: float):
        """One header line to every slow connection each period, spread over the period."""
        buckets, count = 40, 0
        while True:
            for bucket in range(buckets):
                await asyncio.sleep(period / buckets)
                line = b"X-Dribble-%d: %d\r\n" % (count, time.monotonic_ns() % 1000)
                for conn in self.slow[bucket::buckets]:
                    conn.dribble(line)
            count += 1

    def close_all(self):
        self.closing = True
        for conn in self.conns:
            if conn.transport is not None and not conn.transport.is_closing():
                conn.transport.abort()


async def probe(port: int, count: int, expected: int) -> dict:
    """A fresh client in its own process, so that the crowd's event loop does not time it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--probe", str(port), str(count), str(expected),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(process.communicate(),
                                        count * (PROBE_INTERVAL + PROBE_TIMEOUT) + 10)
    except TimeoutError:
        process.kill()
        await process.wait()
        return {"latencies": [], "failures": {"probe process deadline": count}}
    return json.loads(out)


def probe_main(port: int, count: int, expected: int):
    latencies, failures = [], collections.Counter()
    start = time.perf_counter()
    for n in range(count):
        pause = start + n * PROBE_INTERVAL - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        began = time.perf_counter()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
            connection.request("GET", "/feed.atom")
            response = connection.getresponse()
            body = response.read()
            connection.close()
            took = time.perf_counter() - began
            if response.status != 200 or len(body) != expected:
                failures[f"status {response.status}, {len(body)} bytes"] += 1
            elif took > PROBE_TIMEOUT:
                failures[f"over {PROBE_TIMEOUT:g} s"] += 1
            else:
                latencies.append(took * 1000)
        except (OSError, http.client.HTTPException) as error:
            failures[type(error).__name__] += 1
    print(json.dumps({"latencies": latencies, "failures": failures}))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def run_shape(server: Child, shape: str, args, source: str, expected: int) -> dict:
    count = 0 if shape == "none" else args.connections
    kinds = {"none": [], "idle": ["idle"] * count, "slow": ["slow"] * count,
             "mix": ["idle", "slow"] * (count // 2) + ["idle"] * (count % 2)}[shape]
    workers_before = server.workers()
    crowd = Crowd(server.port, source)
    dribbler = asyncio.ensure_future(crowd.dribbler(args.dribble))
    row = {"server": server.name, "shape": shape, "failed_open": crowd.failed}
    try:
        row["open_s"] = await crowd.open_all(kinds)
        complete = time.monotonic()
        row["held_before"] = crowd.open
        row["rss_mb"] = rss_mb(server.process.pid)
        row["probe"] = await probe(server.port, args.probes, expected)
        row["held"] = crowd.open
        deadline = complete + args.watch
        while crowd.open and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        row["still_open"] = crowd.open
        row["watched_s"] = time.monotonic() - complete
        drops: dict[str, list[float]] = collections.defaultdict(list)
        hows: collections.Counter = collections.Counter()
        for conn in crowd.conns:
            if conn.closed_at is not None and conn.quiet_at is not None:
                drops[conn.kind].append(conn.closed_at - conn.quiet_at)
                words = conn.last_words.split(b"\r\n", 1)[0].decode("latin-1")[:40]
                hows[f"{conn.kind}: {conn.how}" + (f" after {words!r}" if words else "")] += 1
        row["drops"] = {kind: (statistics.median(v), max(v), len(v))
                        for kind, v in drops.items()}
        row["how"] = hows
    finally:
        dribbler.cancel()
        crowd.close_all()
    await asyncio.sleep(1 if count else 0)  # let the server see the closes
    row["rss_after_mb"] = rss_mb(server.process.pid)
    row["alive"] = server.alive()
    row["respawned"] = server.workers() != workers_before
    return row


def fmt_drop(row: dict) -> str:
    if row["shape"] == "none":
        return "-"
    parts = []
    for kind, (median, longest, n) in sorted(row["drops"].items()):
        parts.append(f"{kind} {median:.1f} s (max {longest:.1f})")
    if row["still_open"]:
        parts.append(f"{row['still_open']} open at {row['watched_s']:.0f} s")
    return "; ".join(parts) or "-"


def report(rows: list[dict], args):
    print(f"\nfresh client: {args.probes} x GET /feed.atom, new connection each, "
          f"{PROBE_INTERVAL:g} s apart, {PROBE_TIMEOUT:g} s timeout; timeouts: {args.timeouts}")
    head = ("server", "shape", "held", "median ms", "p95 ms", "failures", "dropped after")
    table = [head]
    for row in rows:
        latencies = row["probe"]["latencies"]
        failures = sum(row["probe"]["failures"].values())
        table.append((
            row["server"], row["shape"],
            f"{row['held']:,}" if row["shape"] != "none" else "0",
            f"{statistics.median(latencies):.2f}" if latencies else "-",
            f"{percentile(latencies, 0.95):.2f}" if latencies else "-",
            f"{failures}/{args.probes}", fmt_drop(row)))
    widths = [max(len(str(r[i])) for r in table) for i in range(len(head))]
    print("| " + " | ".join(str(c).ljust(w) for c, w in zip(head, widths)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for line in table[1:]:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |")
    print("\ndetails:")
    for row in rows:
        notes = [f"server RSS {row['rss_mb']:.0f} MB with the crowd, "
                 f"{row['rss_after_mb']:.0f} MB after it"]
        if row["shape"] != "none":
            notes[:0] = [f"opened in {row['open_s']:.1f} s", f"held {row['held_before']:,} "
                         f"at the start of the probes, {row['held']:,} at their end"]
        if row["failed_open"]:
            notes.append(f"failed to open: {dict(row['failed_open'])}")
        if row["probe"]["failures"]:
            notes.append(f"fresh-client failures: {dict(row['probe']['failures'])}")
        if not row["alive"]:
            notes.append("SERVER EXITED")
        if row["respawned"]:
            notes.append("WORKER REPLACED (crashed or killed)")
        print(f"  {row['server']} {row['shape']}: " + "; ".join(notes))
        for how, n in row["how"].most_common(4):
            print(f"      closed by the server: {how} x {n}")


async def run(args, rows: list[dict], servers: list[Child], folder: Path, stop_at: float):
    timeouts = None if args.timeouts == "shipped" else float(args.timeouts)
    (folder / "feedsvc").mkdir()
    feedsvc = Feedsvc(folder / "feedsvc", timeouts)  # always: nginx serves its bytes
    servers.append(feedsvc)
    body = get(feedsvc.port)
    print(f"feed: {len(body)} bytes; open-files limit here {raise_nofile()}")
    if "nginx" in args.servers:
        (folder / "nginx").mkdir()
        servers.append(Nginx(folder / "nginx", body, timeouts))
    source = 10
    for server in servers:
        if server.name not in args.servers:
            continue
        for shape in args.shapes:
            needed = (args.watch + 20) if shape != "none" else 10
            if time.monotonic() + needed > stop_at:
                print(f"skipped {server.name} {shape}: the --deadline is near")
                continue
            print(f"{server.name} {shape} ...", flush=True)
            rows.append(await run_shape(server, shape, args, f"127.0.0.{source}", len(body)))
            source += 1


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--probe":
        probe_main(*map(int, sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--servers", nargs="+", default=["feedsvc", "nginx"],
                        choices=["feedsvc", "nginx"])
    parser.add_argument("--shapes", nargs="+", default=["none", "idle", "slow", "mix"],
                        choices=["none", "idle", "slow", "mix"])
    parser.add_argument("--watch", type=float, default=25,
                        help="seconds to wait, after a crowd is complete, for it to be dropped")
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--dribble", type=float, default=2.0,
                        help="seconds between a slow client's header lines")
    parser.add_argument("--timeouts", default="shipped",
                        help="'shipped', or seconds for both servers' header/keep-alive timeout")
    parser.add_argument("--deadline", type=float, default=280,
                        help="skip phases that would end later than this (seconds)")
    args = parser.parse_args()
    if args.timeouts != "shipped":
        float(args.timeouts)
    if not shutil.which("nginx") and "nginx" in args.servers:
        parser.error("needs nginx (apt-get install -y nginx)")
    hard = raise_nofile()
    if hard < args.connections + 1000:
        parser.error(f"open-files hard limit {hard} < {args.connections} + 1000")

    def bail(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")
    signal.signal(signal.SIGTERM, bail)
    signal.signal(signal.SIGALRM, bail)
    started = time.monotonic()
    signal.alarm(int(args.deadline + args.watch + 60))  # a last resort if a phase hangs
    rows: list[dict] = []
    servers: list[Child] = []
    folder = Path(tempfile.mkdtemp(prefix="feedsvc-crowd-"))
    try:
        asyncio.run(run(args, rows, servers, folder, started + args.deadline))
    finally:
        signal.alarm(0)
        for server in servers:
            server.stop()
        logs = {s.name: s.notable_log_lines() for s in servers}
        shutil.rmtree(folder, ignore_errors=True)
        if rows:
            report(rows, args)
        for name, lines in logs.items():
            if lines:
                print(f"\n{name} log, {len(lines)} notable line(s), first 5:")
                for line in lines[:5]:
                    print("   ", line[:160])
        print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
