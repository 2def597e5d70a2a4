"""A NiceGUI form generated from a job type's cerberus schema.

Each schema rule becomes an input: strings (a text area when long), numbers, booleans,
lists (chips, or a multi-select with `allowed`), nested dicts (a group of inputs), a
choice of allowed values (a select), and "one address or a list" (`anyof` of a string and
a list of strings: comma-separated text). A dict without a sub-schema is edited as JSON.
`meta` gives a field's `label` and `help`. Each input checks its own value with cerberus
against its own rule as the user types, and `show_errors` puts the errors the job service
returned (the same schema the API uses) next to the fields they belong to.

A job type's `form_widgets[field](label, rule)` replaces a field's input; it returns an
element with a `.value` (and, if it can show errors, an `.error`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from jobplatform.jobs.data_rules import DataValidator

LONG_TEXT = 1000  # strings allowed to be longer than this get a text area
Widget = Callable[[str, dict[str, Any]], Any]


class FormInputError(ValueError):
    """A field's text cannot be turned into a value (e.g. malformed JSON)."""


def field_error(name: str, rule: dict[str, Any], value: Any) -> str | None:
    """The first cerberus error for `value` checked against `rule` alone, or None."""
    if value is None or value in ("", [], {}):
        return None
    rule = {k: v for k, v in rule.items() if k != "required"}
    validator = DataValidator({name: rule})
    if validator.validate({name: value}):
        return None
    return _first_message(validator.errors.get(name))


def _first_message(errors: Any) -> str:
    if isinstance(errors, list):
        for error in errors:
            return _first_message(error)
    if isinstance(errors, dict):
        for key, error in errors.items():
            return f"{key}: {_first_message(error)}"
    return str(errors)


def _label(name: str, rule: dict[str, Any]) -> str:
    meta = rule.get("meta") or {}
    label = meta.get("label") or name.replace("_", " ").capitalize()
    return f"{label} *" if rule.get("required") else label


def _is_address_choice(rule: dict[str, Any]) -> bool:
    """`anyof` of a string and a list of strings: one value, or several separated by commas."""
    kinds = {option.get("type") for option in rule.get("anyof", [])}
    return kinds == {"string", "list"}


@dataclass
class FormField:
    name: str
    rule: dict[str, Any]
    element: Any
    read: Callable[[], Any]  # the value to submit, or None to leave the field out


class SchemaForm:
    """Inputs for every field of `schema`; `values()` reads them, `show_errors` marks them."""

    def __init__(self, schema: dict[str, Any], widgets: dict[str, Widget] | None = None):
        self.fields: dict[str, FormField] = {}
        self.groups: dict[str, SchemaForm] = {}
        widgets = widgets or {}
        for name, rule in schema.items():
            if name in widgets:
                element = widgets[name](_label(name, rule), rule)
                self._add(name, rule, element, lambda e=element: _empty_to_none(e.value))
            else:
                self._build(name, rule)

    def _add(self, name: str, rule: dict[str, Any], element: Any, read: Callable[[], Any]) -> None:
        help_text = (rule.get("meta") or {}).get("help")
        if hasattr(element, "props"):
            element.props("dense" + (f' hint="{help_text}"' if help_text else ""))
        element.mark(f"field-{name}")
        self.fields[name] = FormField(name, rule, element, read)

    def _checked(self, name: str, rule: dict[str, Any], convert: Callable[[Any], Any]):
        def check(value: Any) -> str | None:
            try:
                return field_error(name, rule, convert(value))
            except FormInputError as exc:
                return str(exc)

        return check

    def _build(self, name: str, rule: dict[str, Any]) -> None:
        kind = rule.get("type")
        label = _label(name, rule)
        if kind == "dict" and "schema" in rule:
            with ui.card().props("flat bordered").classes("w-full q-pa-sm"):
                ui.label(label).classes("text-sm font-semibold")
                group = SchemaForm(rule["schema"])
            self.groups[name] = group
            self._add(name, rule, group_marker(), lambda g=group: g.values() or None)
        elif "allowed" in rule and kind != "list":
            element = ui.select(list(rule["allowed"]), label=label, clearable=True).classes(
                "w-full"
            )
            self._add(name, rule, element, lambda: element.value)
        elif kind == "boolean":
            element = ui.checkbox(label, value=bool(rule.get("default", False)))
            self._add(name, rule, element, lambda: element.value)
        elif kind in ("integer", "number", "float"):
            convert = _number(kind)
            element = ui.number(
                label,
                min=rule.get("min"),
                max=rule.get("max"),
                validation=self._checked(name, rule, convert),
            ).classes("w-full")
            self._add(name, rule, element, lambda: convert(element.value))
        elif kind == "list" and "allowed" in rule:
            element = ui.select(list(rule["allowed"]), label=label, multiple=True).classes("w-full")
            self._add(name, rule, element, lambda: element.value or None)
        elif kind == "list":
            convert = _list(rule.get("schema", {}).get("type"))
            element = ui.input_chips(label, validation=self._checked(name, rule, convert)).classes(
                "w-full"
            )
            self._add(name, rule, element, lambda: convert(element.value))
        elif _is_address_choice(rule):
            element = ui.input(label, validation=self._checked(name, rule, _one_or_many)).classes(
                "w-full"
            )
            self._add(name, rule, element, lambda: _one_or_many(element.value))
        elif kind == "string" or kind is None and "anyof" not in rule and "schema" not in rule:
            long = (rule.get("maxlength") or 0) > LONG_TEXT
            make = ui.textarea if long else ui.input
            element = make(label, validation=self._checked(name, rule, _empty_to_none)).classes(
                "w-full"
            )
            if long:
                element.props("autogrow")
            self._add(name, rule, element, lambda: _empty_to_none(element.value))
        else:  # a dict without a sub-schema, or a shape the form has no input for: JSON
            element = (
                ui.textarea(f"{label} (JSON)", validation=self._checked(name, rule, _json))
                .classes("w-full font-mono")
                .props("autogrow")
            )
            self._add(name, rule, element, lambda: _json(element.value))

    def values(self) -> dict[str, Any]:
        """The document to submit: fields left empty are left out. Raises FormInputError."""
        out = {}
        for name, form_field in self.fields.items():
            try:
                value = form_field.read()
            except FormInputError as exc:
                raise FormInputError(f"{name}: {exc}") from None
            if value is not None:
                out[name] = value
        return out

    def show_errors(self, errors: dict[str, Any]) -> list[str]:
        """Put cerberus errors next to their fields; return those no field could show."""
        unplaced = []
        for name, messages in errors.items():
            if (
                name in self.groups
                and isinstance(messages, list)
                and messages
                and isinstance(messages[0], dict)
            ):
                unplaced += [f"{name}.{m}" for m in self.groups[name].show_errors(messages[0])]
                continue
            form_field = self.fields.get(name)
            message = _first_message(messages)
            if form_field is not None and hasattr(form_field.element, "error"):
                form_field.element.error = message
            else:
                unplaced.append(f"{name}: {message}")
        return unplaced

    def clear_errors(self) -> None:
        for form_field in self.fields.values():
            if hasattr(form_field.element, "error"):
                form_field.element.error = None
        for group in self.groups.values():
            group.clear_errors()


def group_marker() -> ui.element:
    """An invisible element standing for a nested group (its inputs carry the errors)."""
    return ui.element("div").classes("hidden")


def _empty_to_none(value: Any) -> Any:
    return None if value in (None, "", []) else value


def _number(kind: str):
    def convert(value: Any) -> Any:
        if value is None or value == "":
            return None
        return int(value) if kind == "integer" and float(value).is_integer() else value

    return convert


def _list(item_type: str | None):
    def convert(values: list[str] | None) -> list[Any] | None:
        if not values:
            return None
        if item_type in ("integer", "number", "float"):
            try:
                return [int(v) if item_type == "integer" else float(v) for v in values]
            except ValueError:
                raise FormInputError(f"every item must be a {item_type}") from None
        return list(values)

    return convert


def _one_or_many(text: str | None) -> str | list[str] | None:
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts


def _json(text: str | None) -> Any:
    if not text or not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormInputError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None


def job_type_form(area: ui.element, job_type: Any) -> SchemaForm:
    """Draw the form of a job type's data in `area`, in place of what was there: its
    description, then an input for each field of its schema."""
    area.clear()
    with area:
        if job_type.description:
            ui.label(job_type.description).classes("text-sm opacity-80")
        return SchemaForm(job_type.schema, job_type.form_widgets)
