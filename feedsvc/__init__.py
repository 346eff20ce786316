"""feedsvc: a folder of article files published as Atom, RSS and JSON feeds and HTML pages."""

from .web import create_app

__all__ = ["create_app"]
