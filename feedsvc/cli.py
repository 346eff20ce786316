"""The `feedsvc` command: serve, check, build, stats, new, import, deploy."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import click

from .config import ConfigError, Settings, load_settings
from .text import slugify

items_option = click.option("--items", "items_dir", type=click.Path(path_type=Path),
                            help="Items folder (default: ./items, or FEEDSVC_ITEMS_DIR).")
config_option = click.option("--config", "config_file", type=click.Path(path_type=Path),
                             help="Settings file (default: ./feedsvc.toml if present).")


def _settings(config_file: Path | None, **overrides) -> Settings:
    try:
        settings = load_settings(config_file, **overrides)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    if not Path(settings.items_dir).is_dir():
        raise click.UsageError(f"items folder {settings.items_dir} does not exist "
                               "(pass --items DIR or set FEEDSVC_ITEMS_DIR)")
    return settings


@click.group()
@click.version_option(package_name="feedsvc")
def main():
    """Publish a folder of article files as Atom, RSS and JSON feeds and HTML pages."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@items_option
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--base-url", help="Public URL of the site; every absolute URL starts with it "
              "(default: http://HOST:PORT/).")
@click.option("--workers", type=int, default=None,
              help="Server processes (default: the `workers` setting; 0 picks one per core, "
                   "at least 2). They share one parsed index.")
@click.option("--access-log/--no-access-log", default=None,
              help="One line per request on standard output (default: the `access_log` "
                   "setting, on).")
@click.option("--stats/--no-stats", default=None,
              help="Count each feed's subscribers (`feedsvc stats`; default: the `stats` "
                   "setting, on).")
def serve(items_dir, config_file, host, port, base_url, workers, access_log, stats):
    """Run the production HTTP server (granian) on the items folder."""
    import gc
    import multiprocessing

    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    from . import web

    options = dict(items_dir=items_dir, base_url=base_url, workers=workers,
                   access_log=access_log, stats=stats)
    settings = _settings(config_file, **options)
    # The default is still there when neither the user nor a moved site's config gave one.
    if base_url is None and "base_url" not in _configured(config_file) and \
            settings.base_url == Settings.base_url:
        # Nothing says where the site lives: where it listens, so its links work here.
        options["base_url"] = f"http://{host}:{port}/"
        settings = _settings(config_file, **options)
    workers = settings.workers or default_workers()
    click.echo(f"feedsvc: serving {settings.items_dir} at {settings.base_url} "
               f"(listening on {host}:{port}, {workers} worker{'s' * (workers > 1)})",
               err=True)
    # Absolute, but not resolved: `--items current` must keep following the link when a
    # deploy swaps it.
    options["items_dir"] = os.path.abspath(settings.items_dir)
    if "fork" in multiprocessing.get_all_start_methods():
        # The index is built once, here, and the workers are forked from it: they share its
        # memory (copy-on-write; frozen out of the cyclic GC's reach, whose bookkeeping
        # would write to every object) instead of each parsing and holding its own.
        from .workers import Changes, Follower

        multiprocessing.set_start_method("fork", force=True)
        app = web.build_app({"config_file": config_file, **options})
        changes = Changes()
        Follower(app.extensions["feedsvc"].store, changes).start()
        gc.freeze()
        loader = partial(_forked_worker, app, changes)
    else:  # no fork (macOS's default, Windows): each worker builds its own from the settings
        for name, value in options.items():
            if value is not None:
                os.environ[f"FEEDSVC_{name.upper()}"] = str(value)
        if config_file is not None:
            os.environ["FEEDSVC_CONFIG"] = str(Path(config_file).resolve())
        loader = None
    _raise_open_files_limit(settings.max_connections * workers + 1024)
    Granian(
        "feedsvc.web:create_app",
        factory=True,
        interface=Interfaces.WSGI,
        address=host,
        port=port,
        workers=workers,
        blocking_threads=web.PYTHON_THREADS,
        # Our own access log (accesslog.py), written off the request path; granian's formats
        # each line in the request's thread.
        log_access=False,
        # Crowds: thousands of pollers keep connections open; granian's default admits
        # backlog/workers (1024) at once and makes the next reader wait behind idle ones.
        backlog=4096,
        backpressure=settings.max_connections,
        # Slow or idle clients are dropped after header_timeout (it covers the wait for the
        # next request on a keep-alive connection too), never held forever.
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_timeout * 1000)),
        # A worker that dies (the OOM killer, a crash in C code) is replaced, not fatal.
        respawn_failed_workers=True,
        respawn_interval=1.0,
        # SIGTERM lets responses in flight finish, but a reader that stops reading must not
        # hold the shutdown forever.
        workers_kill_timeout=SHUTDOWN_GRACE,
    ).serve(target_loader=loader)


def default_workers() -> int:
    """One worker per core, and never fewer than two: when one dies, the other keeps
    listening while it is replaced (benchmarks/README.md has the measurements)."""
    return max(2, os.cpu_count() or 1)


def _forked_worker(app, changes, target: str):
    """In each forked worker: catch up with the folder, then start its own threads."""
    from .web import start

    return start(app, changes)


SHUTDOWN_GRACE = 30  # seconds


def _raise_open_files_limit(wanted: int) -> None:
    """Every connection is a file descriptor: raise the soft limit toward the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:
            click.echo(f"feedsvc: cannot raise the open files limit to {target}: {error}",
                       err=True)


def _configured(config_file: Path | None) -> set[str]:
    """Setting names given explicitly by the config file or the environment."""
    names = {key[len("FEEDSVC_"):].lower() for key in os.environ if key.startswith("FEEDSVC_")}
    path = Path(config_file or os.environ.get("FEEDSVC_CONFIG") or "feedsvc.toml")
    if path.is_file():
        import tomllib
        try:
            names |= set(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            pass  # load_settings reports it
    return names


def _quiet() -> None:
    """Silence feedsvc's log for this command, and give it back when the command ends (a
    command run in-process, as the tests and other tools do, must not leave it muted)."""
    logger = logging.getLogger("feedsvc")
    click.get_current_context().call_on_close(partial(logger.setLevel, logger.level))
    logger.setLevel(logging.CRITICAL)


@main.command()
@items_option
@config_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(items_dir, config_file, strict):
    """Report every item that cannot be published, and what readers will suffer."""
    from .check import check as check_items
    from .store import Store
    from .templating import engine

    _quiet()  # the report says it all
    settings = _settings(config_file, items_dir=items_dir)
    kind = engine(settings)
    if kind:
        click.echo(f"# a {kind.capitalize()} site: base_url {settings.base_url}, permalink "
                   f"{settings.permalink}, entry_id {settings.entry_id}, timezone "
                   f"{settings.timezone} (settings you give win over its config)")
    store = Store(settings)
    problems = check_items(store)
    for problem in problems:
        click.echo(str(problem))
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = sum(1 for p in problems if p.severity == "warning")
    skipped = sum(1 for p in problems if p.severity == "skipped")
    sections = len(store.snapshot.sections)
    click.echo(f"{len(store.snapshot.items)} published, "
               + (f"{sections} section{'s' if sections != 1 else ''}, " if sections else "")
               + (f"{skipped} skipped as no item, " if skipped else "")
               + f"{errors} error(s), {warnings} warning(s)")
    sys.exit(1 if errors or (strict and warnings) else 0)


@main.command()
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@items_option
@config_option
@click.option("--base-url", help="Public URL the files will be served from.")
@click.option("--force", is_flag=True, help="Render and write every file again, as if OUT "
              "held none (say, after files in it were changed by hand).")
def build(out, items_dir, config_file, base_url, force):
    """Write every page, feed and archive into OUT, for a static file host.

    Run again, it renders only what changed, writes only the files whose bytes changed and
    deletes those no longer made; OUT/.feedsvc-build.sqlite records what it wrote."""
    from .export import BuildError, build as export
    from .web import create_app

    settings = _settings(config_file, items_dir=items_dir, base_url=base_url)
    app = create_app({"config_file": config_file, "items_dir": settings.items_dir,
                      "base_url": settings.base_url}, watch=False)
    try:
        report = export(app, out, progress=_progress_bar("Rendering {total} documents"),
                        force=force)
    except (BuildError, OSError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{out} for {settings.base_url}: {report.rendered} documents rendered by "
               f"{report.processes} process{'es' if report.processes > 1 else ''}; files: "
               f"{report.written} written / {report.unchanged} unchanged / "
               f"{report.deleted} deleted")


def _progress_bar(label: str):
    """On a terminal, a function of the total giving a click progress bar (a context manager
    with `update(count)`) labelled `label`; None in a log or a pipe, which get no bar."""
    if not sys.stdout.isatty():
        return None

    def progress(total):
        return click.progressbar(length=total, label=label.format(total=total),
                                 file=sys.stdout)

    return progress


@main.command("import")
@click.argument("sources", nargs=-1, required=True, metavar="FILE_OR_URL...")
@click.option("--feed", "as_feed", is_flag=True,
              help="Each source is a feed (Atom, RSS or JSON Feed): one item per entry, with "
                   "the entry's own id.")
@items_option
@config_option
def import_(sources, as_feed, items_dir, config_file):
    """Turn saved web pages into items: .html and .txt files, folders of them, or http(s)
    URLs. With --feed, every entry of a feed. What the folder already holds is skipped."""
    from .importing import SourceError, import_sources
    from .importing.writer import Imported

    _quiet()  # other files are check's job
    settings = _settings(config_file, items_dir=items_dir)
    progress = _progress_bar("Importing {total} sources") if len(sources) > 1 or \
        any(Path(name).is_dir() for name in sources) else None
    counts = {"imported": 0, "skipped": 0, "errors": 0, "warnings": 0}
    lines: list[tuple[str, bool]] = []  # (line, to standard error); after the bar, if any

    def say(line: str, error: bool = False) -> None:
        if progress is None:
            click.echo(line, err=error)
        else:
            lines.append((line, error))

    for name, outcome in import_sources(list(sources), settings, as_feed, progress):
        if isinstance(outcome, SourceError):
            counts["errors"] += 1
            say(f"{outcome.source}: error: {outcome.message}", error=True)
        elif isinstance(outcome, Imported):
            counts["imported"] += 1
            say(f"{Path(settings.items_dir) / outcome.path} <- {name}")
            for warning in outcome.warnings:
                counts["warnings"] += 1
                say(f"{outcome.path}:1: warning: {warning}")
        else:
            counts["skipped"] += 1
            say(f"{name}: skipped: already in {outcome.path} ({outcome.reason})")
    for line, error in lines:
        click.echo(line, err=error)
    click.echo(f"{counts['imported']} imported, {counts['skipped']} already there (skipped), "
               f"{counts['errors']} error(s), {counts['warnings']} warning(s)")
    sys.exit(1 if counts["errors"] else 0)


@main.command()
@items_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 100_000),
              help="Days of the daily series, today included.")
def stats(items_dir, config_file, as_json, days):
    """Print each feed's subscribers (direct readers, and what each aggregator reports) and
    its requests, 304s and bytes per day, as `feedsvc serve` recorded them."""
    import json
    import sqlite3

    from . import statsreport

    settings = _settings(config_file, items_dir=items_dir)
    try:
        report = statsreport.read(settings, days)
    except sqlite3.Error as error:
        raise click.ClickException(f"cannot read the stats in {statsreport.stats_path(settings)}"
                                   f" ({error}); the stats_db setting names the file") from None
    if as_json:
        click.echo(json.dumps(statsreport.as_json(report), indent=1))
    else:
        click.echo(statsreport.as_text(report), nl=False)


@main.command()
@click.argument("title")
@items_option
@config_option
def new(title, items_dir, config_file):
    """Create a new Markdown item with front matter, ready to edit."""
    settings = _settings(config_file, items_dir=items_dir)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    slug = slugify(title)
    if not slug:
        raise click.UsageError("the title needs at least one letter or digit")
    path = Path(settings.items_dir) / f"{now:%Y-%m-%d}-{slug}.md"
    if path.exists():
        raise click.UsageError(f"{path} already exists")
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(f'---\ntitle: "{quoted}"\ndate: {now.isoformat()}\ntags: []\n'
                    f'summary: ""\n---\n\nWrite here.\n', encoding="utf-8")
    click.echo(path)


@main.group("deploy")
def deploy_group():
    """Print configuration for the servers in front of feedsvc."""


@deploy_group.command("nginx")
@items_option
@config_option
@click.option("--upstream", "upstreams", multiple=True, metavar="HOST:PORT",
              help="A `feedsvc serve` instance; repeat for each (default: 127.0.0.1:8000).")
@click.option("--server-name", help="nginx's server_name (default: the host of base_url).")
@click.option("--listen", default="80", show_default=True, help="nginx's listen address.")
@click.option("--cache-dir", default="/var/cache/nginx/feedsvc", show_default=True,
              help="Where nginx keeps its cache.")
@click.option("--static", "static_out", type=click.Path(path_type=Path, file_okay=False),
              metavar="OUT", help="Print the config for serving `feedsvc build OUT` instead.")
def deploy_nginx(items_dir, config_file, upstreams, server_name, listen, cache_dir,
                 static_out):
    """Print an nginx config (for its http context) caching the instances in front of
    readers; the site's settings give its server_name and Cache-Control."""
    from .deploy import DEFAULT_UPSTREAM, nginx_config

    settings = _settings(config_file, items_dir=items_dir)
    try:
        if static_out is not None:
            from .export import nginx_config as static_config

            text = static_config(settings, Path(static_out), listen=listen,
                                 server_name=server_name)
        else:
            text = nginx_config(settings, upstreams or (DEFAULT_UPSTREAM,),
                                server_name=server_name, listen=listen, cache_dir=cache_dir)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(text, nl=False)
