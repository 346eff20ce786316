"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/) as a JSON Schema, written from the
spec's text. feedparser 6 reads only XML feeds, so JSON feeds are checked against this."""

from __future__ import annotations

import json
from datetime import datetime

import jsonschema

_AUTHOR = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                   "avatar": {"type": "string", "format": "uri"}},
    "anyOf": [{"required": ["name"]}, {"required": ["url"]}, {"required": ["avatar"]}],
}
_ATTACHMENT = {
    "type": "object",
    "required": ["url", "mime_type"],
    "properties": {"url": {"type": "string", "format": "uri"},
                   "mime_type": {"type": "string", "pattern": "^[a-z]+/[-+.\\w]+$"},
                   "title": {"type": "string"},
                   "size_in_bytes": {"type": "integer", "minimum": 0},
                   "duration_in_seconds": {"type": "number", "minimum": 0}},
}
_ITEM = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "url": {"type": "string", "format": "uri"},
        "external_url": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "content_html": {"type": "string"},
        "content_text": {"type": "string"},
        "summary": {"type": "string"},
        "image": {"type": "string", "format": "uri"},
        "attachments": {"type": "array", "items": _ATTACHMENT},
        "date_published": {"type": "string", "format": "date-time"},
        "date_modified": {"type": "string", "format": "date-time"},
        "authors": {"type": "array", "items": _AUTHOR},
        "tags": {"type": "array", "items": {"type": "string"}},
        "language": {"type": "string"},
    },
    "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
}
SCHEMA = {
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string"},
        "home_page_url": {"type": "string", "format": "uri"},
        "feed_url": {"type": "string", "format": "uri"},
        "description": {"type": "string"},
        "next_url": {"type": "string", "format": "uri"},
        "language": {"type": "string"},
        "expired": {"type": "boolean"},
        "icon": {"type": "string", "format": "uri"},
        "authors": {"type": "array", "items": _AUTHOR},
        "hubs": {"type": "array", "items": {
            "type": "object", "required": ["type", "url"],
            "properties": {"type": {"type": "string"}, "url": {"type": "string"}}}},
        "items": {"type": "array", "items": _ITEM},
    },
}


def parse_json_feed(data: bytes) -> dict:
    """Parse and validate a JSON Feed 1.1 document; raise on any departure from the spec."""
    document = json.loads(data.decode("utf-8"))
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    for item in document["items"]:
        for key in ("date_published", "date_modified"):
            if key in item:  # RFC 3339 requires an offset
                assert datetime.fromisoformat(item[key]).tzinfo is not None
    ids = [item["id"] for item in document["items"]]
    assert len(ids) == len(set(ids)), "item ids must be unique"
    return document
