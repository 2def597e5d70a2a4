"""What a translation of a cerberus schema into JSON Schema carries along (`Context`),
what it comes across (`Found`), and how it puts keywords together (`merge`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cerberus import rules_set_registry

NOT_EXPRESSED = "Not expressed in JSON Schema, checked by the server: "


@dataclass
class Found:
    """What a translation came across, for the root's description."""

    notes: list[tuple[str, str]] = field(default_factory=list)
    value_used: bool = False
    integers: bool = False


@dataclass(frozen=True)
class Context:
    """Where a translation stands, and what the validator there does by default."""

    validator: type
    found: Found
    value_ref: str
    mapping: Callable[[dict, Context], dict]  # how a mapping schema is translated
    path: str = ""
    allow_unknown: Any = False
    require_all: bool = False
    purge_unknown: bool = False
    normalized: bool = True  # normalisation runs here (it does not inside *of rules)

    def at(self, path: str, **changes: Any) -> Context:
        return replace(self, path=path, **changes)

    def note(self, notes: list[str], text: str) -> None:
        notes.append(text)
        self.found.notes.append((self.path or "data", text))

    @property
    def value(self) -> dict[str, str]:
        """A reference to any storable JSON value (where the schema leaves one open)."""
        self.found.value_used = True
        return {"$ref": self.value_ref}


def default_kind(rules: dict, ctx: Context) -> str | None:
    """What normalisation does with a field that is missing (or null, unless nullable):
    'set' it to a default, set it to 'null' (a default of None on a field that is not
    nullable, which validation then refuses), or nothing (None)."""
    if not ctx.normalized:
        return None
    if "default_setter" in rules:
        return "set"
    if "default" in rules:
        return "null" if rules["default"] is None and not rules.get("nullable") else "set"
    return None


def merge(target: dict, extra: dict) -> dict:
    """`extra`'s keywords added to `target`; a keyword both have goes to `allOf` (or, for a
    bound, the tighter one wins)."""
    if ("prefixItems" in extra and "items" in target) or (
        "items" in extra and "prefixItems" in target
    ):
        target.setdefault("allOf", []).append(extra)  # `items` after `prefixItems` means the rest
        return target
    for key, value in extra.items():
        if key not in target or target[key] == value:
            target[key] = value
        elif key.startswith("min"):
            target[key] = max(target[key], value)
        elif key.startswith("max"):
            target[key] = min(target[key], value)
        elif key == "allOf":
            target[key] = [*target[key], *value]
        else:
            target.setdefault("allOf", []).append({key: value})
    return target


def resolve(rules: Any, registry=rules_set_registry) -> dict:
    """A rules set (or mapping schema), looked up when a registry name stands for it."""
    if isinstance(rules, str):
        return dict(registry.get(rules) or {})
    return dict(rules)
