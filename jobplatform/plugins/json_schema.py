"""A job type's data schema (cerberus) as JSON Schema, draft 2020-12, so that clients in
other languages can validate job data before they send it (GET /api/job-types/NAME/schema,
and the OpenAPI document's `JobData.NAME` components).

The translation follows what the platform's validation does (`JobService.validate`): the
data rules of `jobs/data_rules.py`, then its cerberus `DataValidator` with the defaults (unknown
fields refused, none required unless it says so) that normalises the data first. Where
cerberus surprises, the translation follows it:
- the JSON types of each cerberus type come from asking the validator (the platform's
  refuses true and false for `integer` and `float`; cerberus's own takes them);
- a field with a default may be missing or null: normalisation fills it in;
- `empty: true` lifts the length, `regex`, `allowed`, `forbidden` and `items` rules for
  "", [] and {}; `allowed` on a list checks its items, on a dict its keys;
- `regex` matches from the start to an end that may have one newline after it;
- of two required fields that exclude each other, one is enough;
- `anyof` and its kin check without normalising (no defaults there).

What it cannot express is named, by field, in the `description` of the subschema it
belongs to and in the root's: `check_with`, `coerce` and `default_setter` (code),
`rename`, and `dependencies` on fields outside the object. The storable-data rules are
expressed where they can be (keys, 64-bit integer fields) and named in the root's
description otherwise.
"""

from __future__ import annotations

from typing import Any

from jobplatform.jobs.data_rules import INT64_MAX, INT64_MIN, MAX_DEPTH, DataValidator
from jobplatform.plugins.jobtype import JobType, json_safe
from jobplatform.plugins.json_schema_context import (
    NOT_EXPRESSED,
    Context,
    Found,
    default_kind,
    resolve,
)
from jobplatform.plugins.json_schema_rules import KEY_RULE, MAPPING_RULES, translate_rules

DIALECT = "https://json-schema.org/draft/2020-12/schema"
VALUE = "JobDataValue"
PLATFORM_RULES = (
    "Whatever the fields allow, the platform refuses data nested deeper than {depth} "
    "levels, integers beyond 64 bits ({low} to {high}), NaN and Infinity, strings or keys "
    "holding lone surrogates, and keys that start with '$' or hold '.' or NUL "
    "(propertyNames says so wherever keys are open)."
)
INTEGER_NOTE = (
    "An integer field refuses a whole number written with a fraction or an exponent "
    "(1.0, 1e3): write 1, 1000."
)


def job_data_schema(
    job_type: JobType, *, definitions: str = "#/$defs/", validator: type = DataValidator
) -> dict[str, Any]:
    """The JSON Schema of `job_type`'s data.

    With the default `definitions` it is a document of its own (`$schema`, `$defs`);
    with another, its references to `JobDataValue` point there and it leaves the
    definition out (the OpenAPI document keeps it among its components)."""
    found = Found()
    ctx = Context(
        validator=validator,
        found=found,
        value_ref=f"{definitions}{VALUE}",
        mapping=translate_mapping,
    )
    fields = dict(validator(job_type.schema).schema)  # with cerberus's shorthands expanded
    schema = {"title": job_type.title or job_type.name, "type": "object"}
    schema.update(translate_mapping(fields, ctx))
    schema["description"] = _root_description(job_type.description, found)
    if definitions != "#/$defs/":
        return schema
    schema = {"$schema": DIALECT, **schema}
    if found.value_used:
        schema["$defs"] = {VALUE: job_data_value_schema(definitions)}
    return schema


def job_data_value_schema(definitions: str = "#/$defs/") -> dict[str, Any]:
    """Any JSON value the platform can store (where a schema leaves a value open)."""
    ref = {"$ref": f"{definitions}{VALUE}"}
    return {
        "description": "Any JSON value the platform stores: no object key, at any depth, "
        "starts with '$' or holds '.' or NUL.",
        "propertyNames": KEY_RULE,
        "additionalProperties": ref,
        "items": ref,
    }


def translate_mapping(schema: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The object keywords for a cerberus mapping schema: the data's, or a `schema` rule's
    on a dict field."""
    fields = {str(name): resolve(rules) for name, rules in schema.items()}
    notes: list[str] = []
    properties: dict[str, Any] = {}
    renamed = set()
    for name, rules in fields.items():
        child = ctx.at(f"{ctx.path}.{name}" if ctx.path else name)
        if ctx.normalized and ("rename" in rules or "rename_handler" in rules):
            rule = "rename" if "rename" in rules else "rename_handler"
            ctx.note(notes, f"{name}: {rule} (the server renames the field, then checks it)")
            properties[name] = ctx.value
            renamed.add(rules.get("rename"))
            continue
        value_rules = {k: v for k, v in rules.items() if k not in MAPPING_RULES}
        properties[name] = translate_rules(value_rules, child)
    out: dict[str, Any] = {"properties": properties} if properties else {}
    out.update(_required(fields, ctx, renamed))
    out.update(_dependencies(fields, ctx, notes))
    out["additionalProperties"] = _unknown_fields(ctx, notes)
    if out["additionalProperties"] is not False or any(map(_bad_key, properties)):
        out["propertyNames"] = KEY_RULE
    if notes:
        out["description"] = NOT_EXPRESSED + "; ".join(notes) + "."
    return out


def _required(fields: dict[str, dict], ctx: Context, renamed: set) -> dict[str, Any]:
    """`required` (and `require_all`) after normalisation: a field with a default is
    always there; a required field that excludes another, present, lifts its requirement."""
    plain, either = [], []
    for name, rules in fields.items():
        kind = default_kind(rules, ctx)
        declared = rules.get("required", ctx.require_all) is True
        if kind == "set" or name in renamed or not (declared or kind == "null"):
            continue
        lifting = [
            other
            for other, other_rules in fields.items()
            if other != name
            and other_rules.get("required", ctx.require_all)
            and name in _listed(other_rules.get("excludes"))
        ]
        if lifting:
            either.append({"anyOf": [{"required": [n]} for n in [name, *lifting]]})
        else:
            plain.append(name)
    out: dict[str, Any] = {"required": plain} if plain else {}
    if either:
        out["allOf"] = either
    return out


def _dependencies(fields: dict[str, dict], ctx: Context, notes: list[str]) -> dict[str, Any]:
    """`dependencies` and `excludes`: what a field, when present, asks of its siblings."""
    required: dict[str, list[str]] = {}
    schemas: dict[str, Any] = {}
    for name, rules in fields.items():
        dependencies = rules.get("dependencies")
        condition: dict[str, Any] | bool = {}
        if isinstance(dependencies, dict):
            condition = _value_dependencies(name, dependencies, fields, ctx, notes)
        elif dependencies is not None:
            needed = [
                other
                for other in _listed(dependencies)
                if _sibling(name, other, ctx, notes)
                and default_kind(fields.get(other, {}), ctx) is None  # else always there
            ]
            if needed:
                required[name] = needed
        for other in _listed(rules.get("excludes")):
            if other in fields and default_kind(fields[other], ctx) is not None:
                condition = False  # normalisation puts `other` there: `name` never fits
            elif condition is not False:
                condition.setdefault("properties", {})[other] = False
        if condition or condition is False:
            schemas[name] = condition
    out: dict[str, Any] = {"dependentRequired": required} if required else {}
    if schemas:
        out["dependentSchemas"] = schemas
    return out


def _value_dependencies(
    name: str, dependencies: dict, fields: dict[str, dict], ctx: Context, notes: list[str]
) -> dict[str, Any]:
    """`dependencies: {other: values}`: `other` must hold one of `values` (a missing field
    counts as None, or as its default)."""
    condition: dict[str, Any] = {}
    for other, values in dependencies.items():
        if not _sibling(name, other, ctx, notes):
            continue
        allowed = list(values) if isinstance(values, list | tuple) else [values]
        condition.setdefault("properties", {})[other] = {"enum": json_safe(allowed)}
        other_rules = fields.get(other, {})
        missing = other_rules.get("default") if default_kind(other_rules, ctx) == "set" else None
        if missing not in allowed:
            condition.setdefault("required", []).append(other)
    return condition


def _sibling(name: str, other: Any, ctx: Context, notes: list[str]) -> bool:
    """Whether a dependency names a field of the same object (JSON Schema sees no other)."""
    if isinstance(other, str) and not other.startswith("^") and "." not in other:
        return True
    ctx.note(notes, f"{name}: dependencies on {other!r} (a field outside this object)")
    return False


def _unknown_fields(ctx: Context, notes: list[str]) -> Any:
    allow = ctx.allow_unknown
    if isinstance(allow, dict | str):
        return translate_rules(resolve(allow), ctx.at(f"{ctx.path}.*" if ctx.path else "*"))
    if allow:
        return ctx.value
    if ctx.purge_unknown:
        ctx.note(notes, "purge_unknown (the server drops unknown fields)")
        return ctx.value
    return False


def _bad_key(name: str) -> bool:
    return name.startswith("$") or "." in name or "\x00" in name


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set) else [value]


def _root_description(text: str, found: Found) -> str:
    parts = [text] if text else []
    parts.append(PLATFORM_RULES.format(depth=MAX_DEPTH, low=INT64_MIN, high=INT64_MAX))
    if found.integers:
        parts.append(INTEGER_NOTE)
    if found.notes:
        listed = "; ".join(f"{path}: {note}" for path, note in found.notes)
        parts.append(f"{NOT_EXPRESSED}{listed}.")
    return "\n\n".join(parts)
