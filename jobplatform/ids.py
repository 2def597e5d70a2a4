"""Ids that arrive as text (from a URL, a form, a token) turned into ObjectIds."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId


def parse_object_id(text: str) -> ObjectId | None:
    """The ObjectId `text` spells, or None if it spells none (an id from a URL, say)."""
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        return None
