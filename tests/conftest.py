"""Fixtures: temporary items folders, apps over them, and the real `feedsvc serve` process."""

from __future__ import annotations

import inspect
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from feedsvc import create_app

BUNDLED_ITEMS = Path(__file__).resolve().parent.parent / "items"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test (and every server it starts) keeps its on-disk cache and its stats in its
    own folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

BASE_URL = "https://feeds.example.org/"


@pytest.fixture
def items_dir(tmp_path) -> Path:
    """A private copy of the bundled items."""
    target = tmp_path / "items"
    shutil.copytree(BUNDLED_ITEMS, target)
    return target


class Clock:
    """An injected wall clock. Each reading moves it on by `tick` (a store publishes at most
    one snapshot per clock second, so tests that refresh twice need time to pass);
    `advance` moves it on by hand."""

    def __init__(self, start: datetime | None = None, tick: float = 1.0):
        self.now = start or datetime.now(timezone.utc) - timedelta(hours=1)
        self.tick = timedelta(seconds=tick)

    def __call__(self) -> datetime:
        self.now += self.tick
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def make_app(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray feedsvc.toml from the developer's folder
    for key in [k for k in os.environ if k.startswith("FEEDSVC_")]:
        monkeypatch.delenv(key)  # the private_cache fixture keeps XDG_CACHE_HOME

    def make(items: Path, clock=None, **settings):
        return create_app({"items_dir": items, "base_url": BASE_URL, **settings}, watch=False,
                          clock=clock or Clock())

    return make


@pytest.fixture
def app(make_app, items_dir):
    return make_app(items_dir)


@pytest.fixture
def client(app):
    return app.test_client()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A real `feedsvc serve` process on 127.0.0.1, stopped when the test ends."""

    def __init__(self, items: Path, *args: str, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = items.parent / f"server-{self.port}.log"
        command = [sys.executable, "-m", "feedsvc", "serve", "--items", str(items),
                   "--port", str(self.port), *args]
        clean_env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        self.process = subprocess.Popen(command, stdout=self.log.open("wb"),
                                        stderr=subprocess.STDOUT, cwd=items.parent,
                                        env={**clean_env, **(env or {})})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def get(self, path: str, headers: dict | None = None):
        request = urllib.request.Request(self.url + path.lstrip("/"), headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def stop(self):
        stop_process(self.process)


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL if it is not gone within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def serve():
    servers = []

    def start(items: Path, *args: str, **kwargs) -> Server:
        server = Server(items, *args, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what=None):
    """Poll `predicate` until it returns something true, and return that. The deadline is only
    a safety net: past it, fail naming what never happened (`what`: a text, or a callable
    giving one, e.g. with the state seen; by default the predicate's own source)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)  # a polling interval, not a wait for something
    if callable(what):
        what = what()
    if what is None:
        try:
            what = inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            what = repr(predicate)
    raise AssertionError(f"gave up after {timeout:g} s waiting for: {what}")
