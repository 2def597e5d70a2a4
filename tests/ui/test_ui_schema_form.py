"""The form generated from a cerberus schema: every kind of field, meta labels and help,
a plugin's widget replacing a field, inline checks from the schema, and the document read
back. Pages are built from the schema in the test, on the real app (tests/ui/app.py)."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from jobplatform.ui.schema_form import FormInputError, SchemaForm, field_error

SCHEMA = {
    "name": {
        "type": "string",
        "required": True,
        "minlength": 3,
        "maxlength": 10,
        "meta": {"label": "Customer name", "help": "as on the invoice"},
    },
    "code": {"type": "string", "regex": r"^[A-Z]{3}$"},
    "count": {"type": "integer", "min": 1, "max": 5},
    "ratio": {"type": "number"},
    "urgent": {"type": "boolean"},
    "color": {"type": "string", "allowed": ["red", "green"]},
    "tags": {"type": "list", "schema": {"type": "string", "maxlength": 5}},
    "sizes": {"type": "list", "schema": {"type": "integer"}},
    "channels": {"type": "list", "allowed": ["mail", "sms"]},
    "address": {
        "type": "dict",
        "schema": {
            "city": {"type": "string", "required": True},
            "zip": {"type": "string", "regex": r"^\d{5}$"},
        },
    },
    "extra": {"type": "dict"},
    "note": {"type": "string"},
}


def test_field_error_uses_the_rule_alone():
    assert field_error("code", SCHEMA["code"], "abc") == "value does not match regex '^[A-Z]{3}$'"
    assert field_error("code", SCHEMA["code"], "ABC") is None
    assert field_error("name", SCHEMA["name"], "") is None  # empty is for `required` at submit
    assert field_error("count", SCHEMA["count"], 9) == "max value is 5"


async def test_every_kind_of_field_reads_back_as_the_document(user: User) -> None:
    read: dict = {}

    def stars(label: str, rule: dict) -> ui.slider:
        return ui.slider(min=1, max=5, value=4).props(f'label-always aria-label="{label}"')

    @ui.page("/schema-form-test")
    def page() -> None:
        form = SchemaForm(SCHEMA, widgets={"note": stars})

        def submit() -> None:
            try:
                read["values"] = form.values()
            except FormInputError as exc:
                read["error"] = str(exc)

        ui.button("Read", on_click=submit)

    await user.open("/schema-form-test")
    await user.should_see("Customer name *")
    [name] = user.find(marker="field-name").elements
    assert name.props["hint"] == "as on the invoice"
    assert isinstance(name, ui.input)
    assert isinstance(user.find(marker="field-color").elements.pop(), ui.select)
    assert isinstance(user.find(marker="field-urgent").elements.pop(), ui.checkbox)
    assert isinstance(user.find(marker="field-tags").elements.pop(), ui.input_chips)
    assert isinstance(user.find(marker="field-note").elements.pop(), ui.slider)
    assert user.find(marker="field-channels").elements.pop().multiple

    user.find(marker="field-code").type("abc")
    assert name.error is None
    [code] = user.find(marker="field-code").elements
    assert code.error == "value does not match regex '^[A-Z]{3}$'"  # shown as the user types
    code.value = "ABC"
    assert code.error is None

    name.value = "Ada"
    user.find(marker="field-count").type("3")
    user.find(marker="field-ratio").type("0.5")
    user.find(marker="field-urgent").click()
    user.find(marker="field-color").elements.pop().value = "green"
    user.find(marker="field-tags").elements.pop().value = ["a", "b"]
    user.find(marker="field-sizes").elements.pop().value = ["1", "2"]
    user.find(marker="field-channels").elements.pop().value = ["sms"]
    user.find(marker="field-city").type("Graz")
    user.find(marker="field-extra").type('{"k": [1, 2]}')
    user.find("Read").click()
    assert read["values"] == {
        "name": "Ada",
        "code": "ABC",
        "count": 3,
        "ratio": 0.5,
        "urgent": True,
        "color": "green",
        "tags": ["a", "b"],
        "sizes": [1, 2],
        "channels": ["sms"],
        "address": {"city": "Graz"},
        "extra": {"k": [1, 2]},
        "note": 4,
    }

    user.find(marker="field-extra").elements.pop().value = "{not json"
    user.find("Read").click()
    assert read["error"].startswith("extra: not valid JSON")


@pytest.mark.parametrize(
    "errors, expected_unplaced",
    [
        ({"name": ["required field"]}, []),
        ({"address": [{"city": ["required field"]}]}, []),
        ({"unknown": ["unknown field"]}, ["unknown: unknown field"]),
    ],
)
async def test_service_errors_are_shown_next_to_their_fields(
    user: User, errors, expected_unplaced
) -> None:
    forms: list[SchemaForm] = []

    @ui.page("/schema-errors-test")
    def page() -> None:
        forms.append(SchemaForm(SCHEMA))

    await user.open("/schema-errors-test")
    [form] = forms
    with user:
        assert form.show_errors(errors) == expected_unplaced
    if "name" in errors:
        assert user.find(marker="field-name").elements.pop().error == "required field"
    if "address" in errors:
        assert user.find(marker="field-city").elements.pop().error == "required field"
