"""The Workflows page through NiceGUI's simulated `User`: the list, the graph coloured by
the steps' states and redrawn live, a click on a step opening its job, and the job's link
back to its workflow. No worker runs here: the steps' ends are written to MongoDB as a
worker leaves them."""

from __future__ import annotations

import uuid

from nicegui import ui
from nicegui.testing import User

from jobplatform.config import load_settings
from jobplatform.jobs.models import Job, utcnow
from jobplatform.jobs.workflows import submit_workflow
from jobplatform.services import build_services
from jobplatform.ui.pages.workflows import STEP_COLOURS
from tests.helpers import eventually
from tests.ui.test_ui_pages import account, log_in


def mail(key: str, *after: str) -> dict:
    data = {"recipient": "a@example.com", "subject": key}
    return {"key": key, "name": "sendEmail", "data": data, "after": list(after)}


def node_colours(user: User) -> dict[str, str]:
    [chart] = user.find(marker="workflow-graph").elements
    return {n["name"]: n["itemStyle"]["color"] for n in chart.options["series"][0]["data"]}


async def test_the_graph_shows_the_steps_live_and_opens_a_step(user: User) -> None:
    services = build_services(load_settings())
    name = f"onboarding {uuid.uuid4().hex[:6]}"
    workflow = submit_workflow(services.jobs, name, [mail("fetch"), mail("send", "fetch")])
    await log_in(user, account("wendy", "operator"))

    await user.open("/workflows")
    await user.should_see(name)
    await user.should_see(marker=f"workflow-{workflow.id}")

    await user.open(f"/workflows/{workflow.id}")
    await user.should_see(marker="workflow-graph")
    assert node_colours(user) == {"fetch": STEP_COLOURS["queued"], "send": STEP_COLOURS["blocked"]}
    [chart] = user.find(marker="workflow-graph").elements
    assert chart.options["series"][0]["links"] == [{"source": "fetch", "target": "send"}]

    fetch, send = (s.job_id for s in workflow.steps)
    now = utcnow()
    Job._get_collection().update_one(
        {"_id": fetch}, {"$set": {"state": "succeeded", "finished_at": now, "attempt_count": 1}}
    )
    services.jobs.transitions.steps.release([send])  # as the worker's success releases it

    await eventually(
        lambda: (
            node_colours(user)
            == {"fetch": STEP_COLOURS["succeeded"], "send": STEP_COLOURS["queued"]}
        ),
        message="the graph redrawn without a reload",
    )

    user.find(marker="workflow-graph").trigger(
        "componentClick",
        {
            "componentType": "series",
            "seriesType": "graph",
            "seriesIndex": 0,
            "seriesName": "",
            "name": "send",
            "dataIndex": 1,
            "data": {},
            "value": "queued",
        },
    )
    await user.should_see(marker="detail-id", retries=100)
    [shown] = user.find(marker="detail-id").elements
    assert shown.text == str(send)
    await user.should_see("step 'send' of a workflow")
    links = [e for e in user.find(ui.link).elements if e.props.get("href", "").startswith("/wo")]
    assert f"/workflows/{workflow.id}" in [link.props["href"] for link in links]

    await user.open(f"/workflows/{workflow.id}")
    await user.should_see(marker="cancel-workflow", retries=100)
    user.find(marker="cancel-workflow").click()
    await user.should_see("Workflow cancelled", retries=100)
    assert Job.objects.get(id=send).state == "cancelled"
