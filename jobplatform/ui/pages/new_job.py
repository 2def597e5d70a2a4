"""New job: pick a job type, fill the form generated from its schema, submit."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from jobplatform.jobs.errors import JobError
from jobplatform.jobs.submission_options import MAX_DELAY_SECONDS, MAX_PRIORITY, MIN_PRIORITY
from jobplatform.services import Services
from jobplatform.ui import blocking
from jobplatform.ui.job_data_form import JobDataForm
from jobplatform.ui.session import OPERATE, allowed, require_login
from jobplatform.ui.shell import frame


class NewJobForm:
    """The job type, its data, the options (delay, priority, idempotency key) and Submit,
    which sends the user to the new job."""

    def __init__(self, services: Services, user: dict, job_types: dict[str, Any], chosen):
        self.services = services
        self.user = user
        with ui.card().classes("w-full max-w-3xl q-pa-md"):
            self.data = JobDataForm(job_types, chosen, "job-type")
            with ui.expansion("Options: delay, priority, idempotency key").classes("w-full"):
                self.delay = (
                    ui.number("Delay (seconds)", min=0, max=MAX_DELAY_SECONDS)
                    .classes("w-full")
                    .mark("delay")
                )
                self.priority = (
                    ui.number(
                        f"Priority ({MIN_PRIORITY} to {MAX_PRIORITY})",
                        min=MIN_PRIORITY,
                        max=MAX_PRIORITY,
                        precision=0,
                    )
                    .classes("w-full")
                    .mark("priority")
                )
                self.idempotency_key = (
                    ui.input("Idempotency key").classes("w-full").mark("idempotency-key")
                )
            self.data.add_problems("form-problems")
            ui.button("Submit job", icon="send", on_click=self.submit).mark("submit")

    async def submit(self) -> None:
        if not allowed(OPERATE, "submit jobs"):
            return
        values = self.data.read()
        if values is None:
            return
        priority = self.priority.value
        try:
            job = await blocking.call(
                self.services.jobs.submit,
                self.data.job_type,
                values,
                created_by=self.user["username"],
                delay=self.delay.value or None,
                priority=int(priority) if priority is not None else None,
                idempotency_key=self.idempotency_key.value or None,
            )
        except JobError as exc:
            self.data.refused(exc)
            return
        ui.notify(f"Job {job.id} submitted", type="positive")
        ui.navigate.to(f"/jobs?job={job.id}")


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
            NewJobForm(services, user, job_types, chosen=type)
