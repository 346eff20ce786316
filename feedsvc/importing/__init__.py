"""`feedsvc import`: saved web pages and existing feeds become item files.

Retrieving bytes and reading them are separate steps, as in lemon24/reader: `sources` turns
a path or URL into a `Source` (bytes, the URL they came from, their media type); `pages`
reads a saved page (HTML through trafilatura, plain text by the item format's own rules),
`entries` reads a feed (Atom and RSS through feedparser, JSON Feed by its spec), each into
frozen `Article`s; `writer` turns an article into a file in the items folder, unless the
folder already holds it. Nothing here is used by `serve`.
"""

from .article import Article, SourceError  # noqa: F401 (the package's surface)


def import_sources(names: list[str], settings, as_feed: bool = False, progress=None):
    """Import each source (a file, a folder of pages, an http(s) URL; with `as_feed`, a
    feed): yields (source name, an `Imported`, a `Skipped` or a `SourceError`) for each
    article or failure, as they happen. `progress(total)` is as `export.build` takes it."""
    from contextlib import nullcontext

    from .entries import read_feed
    from .pages import read_page
    from .sources import expand, retrieve
    from .writer import Importer

    importer = Importer(settings)
    sources = names if as_feed else expand(names)
    with progress(len(sources)) if progress else nullcontext() as bar:
        for name in sources:
            try:
                source = retrieve(name)
                articles = read_feed(source) if as_feed else [read_page(source, settings)]
            except SourceError as error:
                yield name, error
            else:
                for article in articles:
                    try:
                        yield name, importer.add(article)
                    except OSError as error:
                        yield name, SourceError(name, "cannot write into "
                                                f"{importer.folder}: {error.strerror or error}")
            if bar is not None:
                bar.update(1)
