"""The job type select and, under it, the form of the chosen type's data (drawn again when
the choice changes), with the line that says why a submission was refused: what the New
job and Schedules pages share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nicegui import ui

from jobplatform.jobs.errors import InvalidJobData, JobError
from jobplatform.ui.schema_form import FormInputError, job_type_form


class JobDataForm:
    def __init__(self, job_types: dict[str, Any], chosen: str | None, marker: str):
        """`chosen` is the type selected first (the first by name when it is not loaded);
        `marker` marks the select."""
        names = {name: f"{t.title or name} ({name})" for name, t in sorted(job_types.items())}
        self.job_types = job_types
        self.select = (
            ui.select(
                names, value=chosen if chosen in job_types else next(iter(names)), label="Job type"
            )
            .classes("w-full")
            .mark(marker)
        )
        self.area = ui.column().classes("w-full gap-1")
        self.problems: ui.label | None = None
        self.form = job_type_form(self.area, job_types[self.select.value])
        self.select.on_value_change(self._draw)

    @property
    def job_type(self) -> str:
        return self.select.value

    def _draw(self) -> None:
        self.form = job_type_form(self.area, self.job_types[self.select.value])

    def add_problems(self, marker: str) -> ui.label:
        """Place here the line that says why a submission was refused."""
        self.problems = ui.label("").classes("text-negative text-sm").mark(marker)
        return self.problems

    def read(self) -> dict[str, Any] | None:
        """The job data, after clearing the errors shown; None (and why, in the problems
        line) when a field's text is no value."""
        self.form.clear_errors()
        self.problems.text = ""
        try:
            return self.form.values()
        except FormInputError as exc:
            self.problems.text = str(exc)
            return None

    def refused(
        self, exc: JobError, data_errors: dict | None = None, more: Sequence[str] = ()
    ) -> None:
        """Say why the job service refused: the data's errors (`exc.details` unless given)
        next to their fields, the rest and `more` in the problems line."""
        errors = exc.details or {} if data_errors is None else data_errors
        unplaced = self.form.show_errors(errors) if isinstance(exc, InvalidJobData) else []
        self.problems.text = "; ".join([exc.message, *unplaced, *more])
