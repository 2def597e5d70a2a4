"""One field's cerberus rules as JSON Schema keywords: what its value may be. The part
of the translation in `json_schema.py` below the level of a mapping's fields."""

from __future__ import annotations

from functools import cache
from typing import Any

from cerberus import rules_set_registry, schema_registry

from jobplatform.jobs.data_rules import INT64_MAX, INT64_MIN
from jobplatform.plugins.jobtype import json_safe
from jobplatform.plugins.json_schema_context import (
    NOT_EXPRESSED,
    Context,
    default_kind,
    merge,
    resolve,
)
from jobplatform.plugins.regex_dialect import cerberus_pattern, literal

KEY_RULE = {"not": {"pattern": r"^\$|[.\u0000]"}}
KINDS = ("array", "boolean", "number", "object", "string")  # every non-null JSON value
SAMPLES = {"boolean": True, "integer": 1, "number": 0.5, "string": "s", "array": [], "object": {}}
FORMATS = {"date": "date", "datetime": "date-time"}  # reached from JSON only through coerce
EMPTY = {"string": "", "array": [], "object": {}}
LENGTHS = {"string": "Length", "array": "Items", "object": "Properties"}
# Keywords that apply to every JSON value; the others apply to one kind only, so null
# passes them.
UNIVERSAL = {"enum", "const", "not", "anyOf", "oneOf", "allOf", "if", "then", "else"}
LOGICAL = {"allof": "allOf", "anyof": "anyOf", "oneof": "oneOf", "noneof": None}
CODE_RULES = ("check_with", "coerce", "default_setter")
MAPPING_RULES = ("dependencies", "excludes", "rename", "rename_handler")


def translate_rules(rules: dict, ctx: Context, *, null_reaches: bool = True) -> dict | bool:
    """The JSON Schema of a value that must satisfy `rules`. `null_reaches` is False
    where cerberus never looks at a null (inside *of rules: `nullable` decides first)."""
    if rules.get("readonly"):
        return False  # present at all is an error
    notes = _code_rules(rules, ctx)
    kinds, typed, extra = _kinds(rules, ctx, notes)
    core = _core(rules, kinds, typed, ctx, notes) if kinds else False
    if core is not False:
        core.update(extra)
    schema = _nullable(core, rules, typed, ctx) if null_reaches else core
    return _annotate(schema, rules, ctx, notes)


def _kinds(rules: dict, ctx: Context, notes: list[str]) -> tuple[set[str], bool, dict]:
    """The JSON types a non-null value may have, whether a `type` rule says so, and the
    keywords a type adds (a date's format)."""
    declared = rules.get("type")
    if not declared:
        return set(KINDS), False, {}
    names = [declared] if isinstance(declared, str) else list(declared)
    coerced = ctx.normalized and "coerce" in rules
    kinds: set[str] = set()
    extra: dict[str, Any] = {}
    for name in names:
        matched = _probe(ctx.validator, name)
        if matched:
            kinds |= matched
        elif coerced and name in FORMATS:
            kinds.add("string")
            extra = {"format": FORMATS[name]} if len(names) == 1 else {}
        elif coerced:
            ctx.note(notes, f"type {name} (reached only through coerce)")
            return set(KINDS), False, {}
    if "integer" in kinds and "number" in kinds:
        kinds.discard("integer")
    return kinds, True, extra


@cache
def _probe(validator: type, name: str) -> frozenset[str]:
    """The JSON types whose values the validator's type `name` accepts, found by asking it
    (cerberus's `integer` takes true, its `float` takes 1)."""
    check = validator({"v": {"type": name}})
    matched = {kind for kind, sample in SAMPLES.items() if check.validate({"v": sample})}
    if "number" in matched:
        matched.discard("integer")  # JSON Schema's number covers whole numbers
    return frozenset(matched)


def _core(rules: dict, kinds: set[str], typed: bool, ctx: Context, notes: list[str]) -> dict:
    out: dict[str, Any] = {}
    if typed:
        ordered = sorted(kinds)
        out["type"] = ordered[0] if len(ordered) == 1 else ordered
    merge(out, _bounds(rules, kinds, ctx, notes))
    if rules.get("empty") is False:
        merge(out, {f"min{LENGTHS[k]}": 1 for k in LENGTHS if k in kinds})
    containers = _containers(rules, kinds, ctx)
    value = {"$ref": ctx.value_ref}
    if not typed and containers == {
        "additionalProperties": value,
        "propertyNames": KEY_RULE,
        "items": value,
    }:
        # any storable value; where anyof and the like have the say, their subschemas do
        containers = {} if rules.keys() & {"allof", "anyof", "oneof"} else value
    merge(out, containers)
    merge(out, _logical(rules, ctx))
    merge(out, _contains(rules, kinds))
    sized = _sized(rules, kinds, ctx, notes)
    if sized and rules.get("empty") is True:
        empties = [EMPTY[k] for k in EMPTY if k in kinds]
        sized = {"anyOf": [{"enum": empties}, sized]} if empties else sized
    return merge(out, sized)


def _bounds(rules: dict, kinds: set[str], ctx: Context, notes: list[str]) -> dict:
    out: dict[str, Any] = {}
    low, high = rules.get("min"), rules.get("max")
    for rule, bound in (("min", low), ("max", high)):
        if bound is not None and not _is_number(bound):
            ctx.note(notes, f"{rule} {bound!r} (compared as Python compares)")
    low = low if _is_number(low) else None
    high = high if _is_number(high) else None
    if "integer" in kinds:  # the platform's own limit
        ctx.found.integers = True
        low = INT64_MIN if low is None else max(low, INT64_MIN)
        high = INT64_MAX if high is None else min(high, INT64_MAX)
        out["format"] = "int64"
    if kinds & {"integer", "number"}:
        out.update({k: v for k, v in (("minimum", low), ("maximum", high)) if v is not None})
    if "boolean" in kinds:  # Python compares true as 1, false as 0
        refused = [
            b
            for b in (False, True)
            if (low is not None and b < low) or (high is not None and b > high)
        ]
        if refused:
            out["not"] = {"enum": refused}
    return out


def _sized(rules: dict, kinds: set[str], ctx: Context, notes: list[str]) -> dict:
    """The keywords of the rules that `empty: true` lifts for "", [] and {}."""
    out: dict[str, Any] = {}
    for rule, prefix in (("minlength", "min"), ("maxlength", "max")):
        if rule in rules:
            merge(out, {f"{prefix}{LENGTHS[k]}": rules[rule] for k in LENGTHS if k in kinds})
    if "allowed" in rules:
        merge(out, _allowed(list(rules["allowed"]), kinds))
    if "forbidden" in rules:
        refused = _python_equal(list(rules["forbidden"]), set(KINDS))
        merge(out, {"not": {"enum": refused}})
        if "array" in kinds:
            merge(out, {"items": {"not": {"enum": refused}}})
    if "items" in rules and "array" in kinds:
        items = [
            translate_rules(resolve(r), ctx.at(f"{ctx.path}[{i}]"))
            for i, r in enumerate(rules["items"])
        ]
        merge(out, {"prefixItems": items, "minItems": len(items), "maxItems": len(items)})
    if "regex" in rules and "string" in kinds:
        pattern, regex_notes = cerberus_pattern(rules["regex"])
        for text in regex_notes:
            ctx.note(notes, text)
        if pattern:
            merge(out, {"pattern": pattern})
    return out


def _allowed(values: list, kinds: set[str]) -> dict:
    """cerberus's `allowed`: the value, or each item of a list, or each key of a dict."""
    out: dict[str, Any] = {}
    if "array" in kinds:
        out["items"] = {"enum": _python_equal(values, set(KINDS))}
    if "object" in kinds:
        out["propertyNames"] = {"enum": [v for v in values if isinstance(v, str)]}
    scalars = kinds - {"array", "object"}
    if scalars:
        rule = {"enum": _python_equal(values, kinds)}
        containers = sorted(kinds - scalars)
        merge(out, {"anyOf": [{"type": containers}, rule]} if containers else rule)
    return out


def _python_equal(values: list, kinds: set[str]) -> list:
    """`values` and what Python counts as equal to them (true == 1, false == 0.0)."""
    found = json_safe(values)
    for value in values:
        twin: Any = None
        if isinstance(value, bool) and kinds & {"integer", "number"}:
            twin = int(value)
        elif _is_number(value) and value in (0, 1) and "boolean" in kinds:
            twin = bool(value)
        if twin is not None and not any(type(twin) is type(v) and twin == v for v in found):
            found.append(twin)
    return found


def _containers(rules: dict, kinds: set[str], ctx: Context) -> dict:
    """Keys and values of an object, items of a list."""
    out: dict[str, Any] = {}
    sub = rules.get("schema")
    if "object" in kinds:
        mapping = resolve(sub, schema_registry) if _is_mapping(sub) else None
        if mapping is not None:
            inner = ctx.at(
                ctx.path,
                allow_unknown=rules.get("allow_unknown", ctx.allow_unknown),
                require_all=rules.get("require_all", ctx.require_all),
                purge_unknown=rules.get("purge_unknown", ctx.purge_unknown),
            )
            merge(out, ctx.mapping(mapping, inner))
        if "valuesrules" in rules:
            values = translate_rules(resolve(rules["valuesrules"]), ctx.at(f"{ctx.path}.*"))
            merge(
                out,
                {"allOf": [{"additionalProperties": values}]}
                if mapping
                else {"additionalProperties": values},
            )
        elif mapping is None:
            out["additionalProperties"] = ctx.value
        names = dict(KEY_RULE) if mapping is None else {}
        if "keysrules" in rules:
            keys = ctx.at(f"{ctx.path} (keys)")
            names = merge(
                translate_rules(resolve(rules["keysrules"]), keys, null_reaches=False), names
            )
        if names:
            merge(out, {"propertyNames": names})
    if "array" in kinds:
        if sub is not None and _is_rules_set(sub, ctx.validator):
            out["items"] = translate_rules(resolve(sub), ctx.at(f"{ctx.path}[]"))
        elif "items" not in rules:
            out["items"] = ctx.value
    return out


def _is_mapping(sub: Any) -> bool:
    if isinstance(sub, str):
        return schema_registry.get(sub) is not None
    return isinstance(sub, dict) and all(isinstance(v, dict | str) for v in sub.values())


def _is_rules_set(sub: Any, validator: type) -> bool:
    if isinstance(sub, str):
        return rules_set_registry.get(sub) is not None
    return isinstance(sub, dict) and set(sub) <= set(validator.rules)


def _logical(rules: dict, ctx: Context) -> dict:
    """anyof, allof, oneof, noneof: each definition gets the field's type and
    allow_unknown unless it has its own, and is checked without normalisation."""
    out: dict[str, Any] = {}
    for rule, keyword in LOGICAL.items():
        if rule not in rules:
            continue
        subschemas = []
        for index, definition in enumerate(rules[rule]):
            definition = resolve(definition)
            for inherited in ("allow_unknown", "type"):
                if inherited not in definition and inherited in rules:
                    definition[inherited] = rules[inherited]
            definition.setdefault("allow_unknown", ctx.allow_unknown)
            inner = ctx.at(f"{ctx.path} ({rule} {index})", allow_unknown=True, normalized=False)
            subschemas.append(translate_rules(definition, inner, null_reaches=False))
        merge(out, {keyword: subschemas} if keyword else {"not": {"anyOf": subschemas}})
    return out


def _contains(rules: dict, kinds: set[str]) -> dict:
    """cerberus's `contains`: items of a list, keys of a dict, characters of a string."""
    if "contains" not in rules:
        return {}
    expected = rules["contains"]
    values = list(expected) if isinstance(expected, list | tuple | set) else [expected]
    out: dict[str, Any] = {}
    if "array" in kinds:
        merge(out, {"allOf": [{"contains": {"const": v}} for v in json_safe(values)]})
    if "object" in kinds:
        keys = all(isinstance(v, str) for v in values)
        merge(out, {"required": values} if keys else {"not": {"type": "object"}})
    if "string" in kinds:
        chars = all(isinstance(v, str) and len(v) == 1 for v in values)
        ahead = "".join(rf"(?=[\s\S]*{literal(v)})" for v in values) if chars else ""
        merge(out, {"pattern": f"^{ahead}"} if chars else {"not": {"type": "string"}})
    return out


def _nullable(core: dict | bool, rules: dict, typed: bool, ctx: Context) -> dict | bool:
    """Let null through where cerberus does: `nullable`, or a default that replaces it."""
    if not (rules.get("nullable") or default_kind(rules, ctx) == "set"):
        return core if _refuses_null(core) else merge(core, {"not": {"type": "null"}})
    if core is False:
        return {"type": "null"}
    universal = set(core) & UNIVERSAL
    if typed and universal <= {"enum"}:
        types = core["type"] if isinstance(core["type"], list) else [core["type"]]
        core["type"] = [*types, "null"]
        if "enum" in core:
            core["enum"] = [*core["enum"], None]
        return core
    return core if not typed and not universal else {"anyOf": [{"type": "null"}, core]}


def _refuses_null(schema: dict | bool) -> bool:
    """Whether `schema` refuses null by its types alone (no `not` needed)."""
    if schema is False:
        return True
    if not isinstance(schema, dict):
        return False
    types = schema.get("type")
    if types is not None:
        return "null" not in (types if isinstance(types, list) else [types])
    branches = [schema.get("anyOf"), schema.get("oneOf")]
    if any(b and all(map(_refuses_null, b)) for b in branches):
        return True
    return any(map(_refuses_null, schema.get("allOf", [])))


def _code_rules(rules: dict, ctx: Context) -> list[str]:
    """Notes for the rules that run code, or that JSON Schema cannot reach from here."""
    notes: list[str] = []
    for rule in CODE_RULES:
        if rule in rules and (rule == "check_with" or ctx.normalized):
            ctx.note(notes, f"{rule} {_name(rules[rule])}")
    for rule in MAPPING_RULES:  # a mapping takes these from its fields' rules
        if rule in rules:
            ctx.note(notes, f"{rule} (here JSON Schema cannot see the fields it names)")
    for rule in sorted(set(rules) - set(ctx.validator.rules)):
        ctx.note(notes, f"{rule} (a rule of the validator's own)")
    return notes


def _annotate(schema: dict | bool, rules: dict, ctx: Context, notes: list[str]) -> dict | bool:
    meta = rules.get("meta")
    meta = meta if isinstance(meta, dict) else {"help": meta} if meta else {}
    annotations: dict[str, Any] = {}
    if meta.get("label"):
        annotations["title"] = str(meta["label"])
    texts = [str(t) for t in (meta.get("help") or meta.get("description"),) if t]
    if notes:
        texts.append(NOT_EXPRESSED + "; ".join(notes) + ".")
    if ctx.normalized and "default" in rules:
        annotations["default"] = json_safe(rules["default"])
    if not (annotations or texts):
        return schema
    schema = {"not": {}} if schema is False else dict(schema)
    if isinstance(schema.get("description"), str):
        texts.append(schema["description"])
    if texts:
        annotations["description"] = " ".join(texts)
    return {**schema, **annotations}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _name(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_name(v) for v in value)
    return value if isinstance(value, str) else getattr(value, "__name__", repr(value))
