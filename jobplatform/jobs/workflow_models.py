"""The workflow document: a named set of step jobs and the `after` edges between them.

The steps are ordinary jobs (jobs/models.py) that carry `workflow_id` and `step_key`; the
workflow keeps which job each key is, the edges, and its own state, derived from its
steps' (jobs/workflow_steps.py): running until every step has ended, then succeeded
(every step did), failed (a step died) or cancelled (a step, or the workflow, was)."""

from __future__ import annotations

from mongoengine import (
    DateTimeField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentListField,
    ListField,
    ObjectIdField,
    StringField,
)

from jobplatform.jobs.models import utcnow

RUNNING, SUCCEEDED, FAILED, CANCELLED = "running", "succeeded", "failed", "cancelled"
WORKFLOW_STATES = (RUNNING, SUCCEEDED, FAILED, CANCELLED)
WORKFLOW_FINISHED = "workflow.finished"  # the event a workflow's end emits


class Step(EmbeddedDocument):
    key = StringField(required=True)
    job_id = ObjectIdField(required=True)
    type = StringField(required=True)
    after = ListField(StringField())  # the keys of the steps it waits for


class Workflow(Document):
    meta = {
        "collection": "workflows",
        "indexes": [{"fields": ["state", "-_id"]}, {"fields": ["created_by", "-_id"]}],
    }

    name = StringField(required=True)
    created_by = StringField()
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField()
    state = StringField(required=True, choices=WORKFLOW_STATES, default=RUNNING)
    steps = EmbeddedDocumentListField(Step)

    @property
    def edges(self) -> list[list[str]]:
        """[parent key, child key] for each `after` (stored on the steps: FerretDB keeps
        no nested arrays)."""
        return [[parent, step.key] for step in self.steps for parent in step.after]

    def job_ids(self) -> list:
        return [step.job_id for step in self.steps]

    def describe(self) -> dict:
        """The workflow without its steps' states (see workflows.workflow_view for those)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "state": self.state,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
            "step_count": len(self.steps),
        }


def _iso(value):
    return value.isoformat(timespec="milliseconds") + "Z" if value else None
