"""Job types for tests/test_json_schema.py: one a cerberus rule (`rule.NAME`), each with
the data the platform takes and the data it refuses, in `RULES`; and `NAMED`, data on
which the served JSON Schema and the platform disagree because the schema cannot say it
(each case names the words its description must hold). Loaded with
`EXTRA_PLUGINS=tests.plugins.schema_rules`."""

from __future__ import annotations

from datetime import datetime

from jobplatform.plugins.hookspecs import hookimpl
from jobplatform.plugins.jobtype import JobType


def no_root(field, value, error):
    """A check_with: the value may not be 'root'."""
    if value == "root":
        error(field, "may not be root")


def one(rules: dict) -> dict:
    """A schema of one field, `v`."""
    return {"v": rules}


def deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


# name: (schema, data the platform takes, data it refuses); `v` holds the value under test
RULES: dict[str, tuple[dict, list, list]] = {
    "type_string": (
        one({"type": "string"}),
        [{}, {"v": ""}, {"v": "a"}],
        [{"v": 1}, {"v": None}, {"v": []}],
    ),
    "type_integer": (
        one({"type": "integer"}),
        [{"v": 1}, {"v": -5}, {"v": 2**63 - 1}, {"v": -(2**63)}],
        [{"v": 1.5}, {"v": "1"}, {"v": 2**63}, {"v": None}, {"v": [1]}, {"v": True}],
    ),
    "type_float": (
        one({"type": "float"}),
        [{"v": 1}, {"v": 1.5}],
        [{"v": "1"}, {"v": None}, {"v": False}],
    ),
    "type_number": (one({"type": "number"}), [{"v": 1}, {"v": -1.5}], [{"v": True}, {"v": "1"}]),
    "type_boolean": (
        one({"type": "boolean"}),
        [{"v": True}, {"v": False}],
        [{"v": 0}, {"v": "true"}],
    ),
    "type_dict": (
        one({"type": "dict"}),
        [{"v": {}}, {"v": {"a": [1, {"b": None}]}}],
        [{"v": []}, {"v": "x"}, {"v": {"a": {"$x": 1}}}, {"v": {"a.b": 1}}],
    ),
    "type_list": (
        one({"type": "list"}),
        [{"v": []}, {"v": [1, "a", {}, None]}],
        [{"v": {}}, {"v": "ab"}, {"v": [{"a.b": 1}]}],
    ),
    "type_list_of_types": (
        one({"type": ["string", "integer"]}),
        [{"v": "a"}, {"v": 1}],
        [{"v": 1.5}, {"v": None}, {"v": {}}],
    ),
    "type_container": (
        one({"type": "container"}),
        [{"v": []}, {"v": {"a": 1}}],
        [{"v": "a"}, {"v": 1}],
    ),
    "type_datetime": (one({"type": "datetime"}), [{}], [{"v": "2024-01-02T03:04:05"}, {"v": 1}]),
    "type_binary": (one({"type": "binary"}), [{}], [{"v": "YWJj"}, {"v": []}]),
    "untyped": (
        one({}),
        [{"v": 1}, {"v": "a"}, {"v": [1, [2]]}, {"v": {"a": [1]}}, {"v": False}],
        [{"v": None}, {"v": {"$a": 1}}, {"v": [{"a.b": 1}]}, {"v": {"a": {"b\u0000": 1}}}],
    ),
    "nullable": (one({"type": "string", "nullable": True}), [{"v": None}, {"v": "a"}], [{"v": 1}]),
    "nullable_allowed": (
        one({"type": "string", "nullable": True, "allowed": ["a"]}),
        [{"v": None}, {"v": "a"}],
        [{"v": "b"}],
    ),
    "required": (one({"type": "string", "required": True}), [{"v": "a"}], [{}, {"v": None}]),
    "required_default": (
        one({"type": "string", "required": True, "default": "x"}),
        [{}, {"v": None}, {"v": "a"}],
        [{"v": 1}],
    ),
    "default_none": (one({"type": "string", "default": None}), [{"v": "a"}], [{}, {"v": None}]),
    "empty_false": (one({"type": "string", "empty": False}), [{"v": "a"}], [{"v": ""}]),
    "empty_false_list": (one({"type": "list", "empty": False}), [{"v": [1]}], [{"v": []}]),
    "empty_true": (
        one({"type": "string", "empty": True, "minlength": 3, "regex": "[a-z]+"}),
        [{"v": ""}, {"v": "abc"}],
        [{"v": "ab"}, {"v": "ABC"}],
    ),
    "length_string": (
        one({"type": "string", "minlength": 2, "maxlength": 3}),
        [{"v": "ab"}, {"v": "abc"}, {"v": "\U0001f600\U0001f600"}],
        [{"v": "a"}, {"v": "abcd"}, {"v": ""}],
    ),
    "length_list": (
        one({"type": "list", "minlength": 1, "maxlength": 2}),
        [{"v": [1]}, {"v": [1, 2]}],
        [{"v": []}, {"v": [1, 2, 3]}],
    ),
    "length_dict": (one({"type": "dict", "minlength": 1}), [{"v": {"a": 1}}], [{"v": {}}]),
    "min_max": (
        one({"type": "integer", "min": 1, "max": 5}),
        [{"v": 1}, {"v": 5}],
        [{"v": 0}, {"v": 6}, {"v": True}, {"v": False}],
    ),
    "min_max_float": (
        one({"type": "float", "min": 0.5, "max": 1.5}),
        [{"v": 1}, {"v": 0.5}],
        [{"v": 0.4}, {"v": False}, {"v": True}, {"v": 2}],
    ),
    "min_untyped": (one({"min": 1}), [{"v": "a"}, {"v": 1}, {"v": [0]}], [{"v": 0}, {"v": False}]),
    "allowed": (
        one({"type": "string", "allowed": ["a", "b"]}),
        [{"v": "a"}],
        [{"v": "c"}, {"v": ""}],
    ),
    "allowed_list": (
        one({"type": "list", "allowed": ["a", "b"]}),
        [{"v": []}, {"v": ["a", "b", "a"]}],
        [{"v": ["c"]}, {"v": ["a", "c"]}],
    ),
    "allowed_integer": (
        one({"type": "integer", "allowed": [0, 1]}),
        [{"v": 0}, {"v": 1}],
        [{"v": 2}, {"v": True}, {"v": False}],
    ),
    "allowed_dict": (
        one({"type": "dict", "allowed": ["a"]}),
        [{"v": {"a": 1}}, {"v": {}}],
        [{"v": {"b": 1}}],
    ),
    "forbidden": (one({"type": "string", "forbidden": ["root"]}), [{"v": "x"}], [{"v": "root"}]),
    "forbidden_list": (
        one({"type": "list", "forbidden": [1]}),
        [{"v": [2]}],
        [{"v": [1]}, {"v": [True]}],
    ),
    "regex": (
        one({"type": "string", "regex": "[a-z]+"}),
        [{"v": "abc"}, {"v": "abc\n"}],
        [{"v": "abc\n\n"}, {"v": "Abc"}, {"v": "abc1"}, {"v": ""}, {"v": "a\nb"}],
    ),
    "regex_end_of_string": (
        one({"type": "string", "regex": r"[a-z]+\Z"}),
        [{"v": "abc"}],
        [{"v": "abc\n"}],
    ),
    "regex_digits_and_spaces": (
        one({"type": "string", "regex": r"\d+\s\d+"}),
        [{"v": "1 2"}, {"v": "\u0661\u00a02"}],
        [{"v": "1\ufeff2"}, {"v": "a 1"}],
    ),
    "regex_prefix": (
        one({"type": "string", "regex": "a|b$"}),
        [{"v": "a"}, {"v": "axyz"}, {"v": "b"}],
        [{"v": "xb"}, {"v": "bx"}],
    ),
    "regex_ignore_case": (one({"type": "string", "regex": "(?i)ab"}), [{"v": "aB"}], [{"v": "ac"}]),
    "schema_dict": (
        one(
            {
                "type": "dict",
                "schema": {"a": {"type": "integer", "required": True}, "b": {"type": "string"}},
            }
        ),
        [{"v": {"a": 1}}, {"v": {"a": 1, "b": "x"}}],
        [{"v": {}}, {"v": {"a": "1"}}, {"v": {"a": 1, "c": 2}}],
    ),
    "schema_dict_allow_unknown": (
        one({"type": "dict", "allow_unknown": True, "schema": {"a": {"type": "integer"}}}),
        [{"v": {"c": 2}}, {"v": {"a": 1, "c": {"d": [1]}}}],
        [{"v": {"a": "x"}}, {"v": {"c": {"$x": 1}}}],
    ),
    "schema_dict_allow_unknown_rules": (
        one({"type": "dict", "allow_unknown": {"type": "string"}, "schema": {}}),
        [{"v": {"c": "x"}}],
        [{"v": {"c": 1}}],
    ),
    "schema_dict_require_all": (
        one(
            {
                "type": "dict",
                "require_all": True,
                "schema": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 1}},
            }
        ),
        [{"v": {"a": 1}}],
        [{"v": {}}, {"v": {"b": 2}}],
    ),
    "schema_dict_purge_unknown": (
        one({"type": "dict", "purge_unknown": True, "schema": {"a": {"type": "integer"}}}),
        [{"v": {"x": 1}}, {"v": {"a": 1}}],
        [{"v": {"a": "x"}}, {"v": {"x": {"$y": 1}}}],
    ),
    "schema_list": (
        one({"type": "list", "schema": {"type": "integer", "min": 0}}),
        [{"v": []}, {"v": [0, 5]}],
        [{"v": [-1]}, {"v": ["a"]}, {"v": [None]}],
    ),
    "schema_list_of_dicts": (
        one({"type": "list", "schema": {"type": "dict", "schema": {"k": {"type": "string"}}}}),
        [{"v": [{"k": "x"}, {}]}],
        [{"v": [{"j": 1}]}, {"v": [{"k": 1}]}],
    ),
    "items": (
        one({"type": "list", "items": [{"type": "string"}, {"type": "integer"}]}),
        [{"v": ["a", 1]}],
        [{"v": ["a"]}, {"v": ["a", 1, 2]}, {"v": [1, "a"]}],
    ),
    "keysrules": (
        one({"type": "dict", "keysrules": {"type": "string", "regex": "[a-z]+"}}),
        [{"v": {"ab": 1}}, {"v": {}}],
        [{"v": {"Ab": 1}}, {"v": {"a": {"$b": 1}}}],
    ),
    "valuesrules": (
        one({"type": "dict", "valuesrules": {"type": "integer"}}),
        [{"v": {"a": 1}}],
        [{"v": {"a": "x"}}, {"v": {"$a": 1}}],
    ),
    "schema_and_valuesrules": (
        one({"type": "dict", "schema": {"a": {"type": "integer"}}, "valuesrules": {"min": 0}}),
        [{"v": {"a": 1}}],
        [{"v": {"a": -1}}, {"v": {"b": 1}}],
    ),
    "anyof": (
        one({"anyof": [{"type": "string"}, {"type": "integer", "min": 10}]}),
        [{"v": "a"}, {"v": 10}],
        [{"v": 5}, {"v": None}, {"v": []}],
    ),
    "oneof": (
        one({"type": "integer", "oneof": [{"min": 0}, {"max": 10}]}),
        [{"v": -1}, {"v": 11}],
        [{"v": 5}],
    ),
    "allof": (
        one({"type": "string", "allof": [{"minlength": 2}, {"maxlength": 3}]}),
        [{"v": "ab"}],
        [{"v": "a"}, {"v": "abcd"}],
    ),
    "noneof": (
        one({"type": "integer", "noneof": [{"min": 10}, {"max": 0}]}),
        [{"v": 5}],
        [{"v": 10}, {"v": 0}],
    ),
    "anyof_type": (
        one({"anyof_type": ["string", "integer"]}),
        [{"v": "a"}, {"v": 1}],
        [{"v": 1.5}],
    ),
    "oneof_regex": (
        one({"type": "string", "oneof_regex": ["a.*", "[a-z]b"]}),
        [{"v": "ax"}, {"v": "bb"}],
        [{"v": "ab"}, {"v": "xx"}],
    ),
    "anyof_nullable": (
        one({"nullable": True, "anyof": [{"type": "string"}]}),
        [{"v": None}, {"v": "a"}],
        [{"v": 1}],
    ),
    "anyof_inherits_allow_unknown": (
        one({"type": "dict", "anyof": [{"schema": {"a": {"type": "integer"}}}]}),
        [{"v": {"a": 1}}],
        [{"v": {"a": 1, "b": 2}}],
    ),
    "anyof_without_defaults": (
        one({"type": "dict", "anyof": [{"schema": {"a": {"required": True, "default": 1}}}]}),
        [{"v": {"a": 2}}],
        [{"v": {}}],
    ),
    "dependencies": (
        {"v": {"type": "string", "dependencies": "w"}, "w": {"type": "string"}},
        [{}, {"w": "x"}, {"v": "a", "w": "b"}],
        [{"v": "a"}],
    ),
    "dependencies_values": (
        {"v": {"dependencies": {"w": ["a", "b"]}}, "w": {}},
        [{"v": 1, "w": "a"}, {"w": "c"}],
        [{"v": 1, "w": "c"}, {"v": 1}],
    ),
    "excludes": (
        {"v": {"type": "string", "excludes": "w"}, "w": {"type": "string"}},
        [{"v": "a"}, {"w": "b"}, {}],
        [{"v": "a", "w": "b"}],
    ),
    "excludes_required": (
        {
            "v": {"type": "string", "required": True, "excludes": "w"},
            "w": {"type": "string", "required": True, "excludes": "v"},
        },
        [{"v": "a"}, {"w": "b"}],
        [{}, {"v": "a", "w": "b"}],
    ),
    "contains": (
        one({"type": "list", "contains": ["a", "b"]}),
        [{"v": ["a", "b", "c"]}],
        [{"v": ["a"]}, {"v": []}],
    ),
    "readonly": (one({"type": "string", "readonly": True}), [{}], [{"v": "a"}]),
    "meta": (
        one({"type": "string", "meta": {"label": "V", "help": "a letter"}}),
        [{"v": "a"}],
        [{"v": 1}],
    ),
}

# name: (schema, data, whether the platform takes it, words the schema's description holds)
NAMED: dict[str, tuple[dict, dict, bool, str]] = {
    "check_with": (
        one({"type": "string", "check_with": no_root}),
        {"v": "root"},
        False,
        "check_with no_root",
    ),
    "coerce": (one({"type": "integer", "coerce": int}), {"v": "5"}, True, "coerce int"),
    "coerce_datetime": (
        one({"type": "datetime", "coerce": datetime.fromisoformat}),
        {"v": "not a time"},
        False,
        "coerce fromisoformat",
    ),
    "rename": ({"v": {"rename": "w"}, "w": {"type": "integer"}}, {"v": "x"}, False, "v: rename"),
    "integer_written_as_float": (one({"type": "integer"}), {"v": 1.0}, False, "(1.0, 1e3)"),
    "deep": (one({}), {"v": deep(40)}, False, "nested deeper than 32 levels"),
    "lone_surrogate": (one({"type": "string"}), {"v": "\ud800"}, False, "lone surrogates"),
    "integer_beyond_64_bits": (
        one({"type": "number"}),
        {"v": 2**64},
        False,
        "integers beyond 64 bits",
    ),
    "nan": (one({"type": "float"}), {"v": float("nan")}, False, "NaN"),
    "dependency_elsewhere": (
        {"v": {"dependencies": "^w.x"}, "w": {}},
        {"v": 1, "w": {}},
        False,
        "dependencies on '^w.x'",
    ),
}


def noop(ctx) -> None:
    return None


@hookimpl
def register_job_types(settings: dict) -> list[JobType]:
    tables = {**{n: s for n, (s, _, _) in RULES.items()}, **{n: s for n, (s, *_) in NAMED.items()}}
    return [
        JobType(name=f"rule.{name}", processor=noop, schema=schema, queue="tests")
        for name, schema in tables.items()
    ]
