"""New job: pick a job type, fill the form generated from its schema, submit."""

from __future__ import annotations

from nicegui import ui

from jobplatform.jobs.service import InvalidJobData, JobError
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.schema_form import FormInputError, SchemaForm, job_type_form
from jobplatform.ui.session import OPERATE, allowed, require_login
from jobplatform.ui.shell import frame


def register(services: Services) -> None:
    @ui.page("/jobs/new", title="New job · jobplatform")
    def new_job_page(type: str | None = None) -> None:  # noqa: A002 - the query parameter
        user = require_login()
        if user is None:
            return
        job_types = services.host.job_types
        with frame("New job", services, user):
            if not job_types:
                ui.label("No job types are loaded; see the Plugins page.")
                return
            names = {name: f"{t.title or name} ({name})" for name, t in sorted(job_types.items())}
            chosen = type if type in job_types else next(iter(names))
            with ui.card().classes("w-full max-w-3xl q-pa-md"):
                select = (
                    ui.select(names, value=chosen, label="Job type")
                    .classes("w-full")
                    .mark("job-type")
                )
                form_area = ui.column().classes("w-full gap-1")
                with ui.expansion("Options: delay, priority, idempotency key").classes("w-full"):
                    delay = (
                        ui.number("Delay (seconds)", min=0, max=365 * 86400)
                        .classes("w-full")
                        .mark("delay")
                    )
                    priority = (
                        ui.number("Priority (-100 to 100)", min=-100, max=100, precision=0)
                        .classes("w-full")
                        .mark("priority")
                    )
                    idempotency_key = (
                        ui.input("Idempotency key").classes("w-full").mark("idempotency-key")
                    )
                problems = ui.label("").classes("text-negative text-sm").mark("form-problems")
                submit_button = ui.button("Submit job", icon="send").mark("submit")

            state: dict[str, SchemaForm] = {}

            def build_form() -> None:
                state["form"] = job_type_form(form_area, job_types[select.value])

            async def submit() -> None:
                if not allowed(OPERATE, "submit jobs"):
                    return
                form = state["form"]
                form.clear_errors()
                problems.text = ""
                try:
                    values = form.values()
                except FormInputError as exc:
                    problems.text = str(exc)
                    return
                try:
                    job = await blocking.call(
                        services.jobs.submit,
                        select.value,
                        values,
                        created_by=user["username"],
                        delay=delay.value or None,
                        priority=int(priority.value) if priority.value is not None else None,
                        idempotency_key=idempotency_key.value or None,
                    )
                except InvalidJobData as exc:
                    unplaced = form.show_errors(exc.details or {})
                    problems.text = "; ".join([exc.message, *unplaced])
                    return
                except JobError as exc:
                    problems.text = exc.message
                    return
                ui.notify(f"Job {job.id} submitted", type="positive")
                ui.navigate.to(f"/jobs?job={job.id}")

            select.on_value_change(build_form)
            submit_button.on_click(submit)
            build_form()
