"""The workflow operations as `protocol.Call`s, driven by both clients like the job ones.

A workflow submission carries no idempotency key (the API takes none), so it is sent
again only when it surely did not arrive: a lost answer is never a second workflow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from jobplatform_client.models import NewStep, Workflow, WorkflowPage
from jobplatform_client.protocol import Call, Params, Request


def step_body(step: NewStep | Mapping[str, Any]) -> dict[str, Any]:
    fields = asdict(step) if isinstance(step, NewStep) else dict(step)
    return {key: value for key, value in fields.items() if value is not None}


def submit_workflow(name: str, jobs: Sequence[NewStep | Mapping[str, Any]]) -> Call[Workflow]:
    """All or nothing: a refused step or edge refuses the workflow (`jobs.N.field`)."""
    body = {"name": name, "jobs": [step_body(step) for step in jobs]}
    request = Request("POST", "/api/workflows", json=body, repeatable=False)
    return Call(request, Workflow.from_api)


def get_workflow(workflow_id: str) -> Call[Workflow]:
    return Call(Request("GET", f"/api/workflows/{workflow_id}"), Workflow.from_api)


def list_workflows(
    *,
    state: str | Sequence[str] | None = None,
    name: str | None = None,
    created_by: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[WorkflowPage]:
    states = [state] if isinstance(state, str) else list(state or ())
    params: Params = [("state", s) for s in states]
    given = {"name": name, "created_by": created_by, "limit": limit, "cursor": cursor}
    params += [(key, str(value)) for key, value in given.items() if value is not None]
    return Call(Request("GET", "/api/workflows", params=params), WorkflowPage.from_api)


def cancel_workflow(workflow_id: str) -> Call[Workflow]:
    return Call(Request("POST", f"/api/workflows/{workflow_id}/cancel"), Workflow.from_api)
