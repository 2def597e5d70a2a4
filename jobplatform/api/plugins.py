"""GET /api/plugins, GET /api/job-types and GET /api/job-types/NAME/schema: what the plugin
host loaded, for any logged-in user."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from jobplatform.api.deps import Principal, current_user, services
from jobplatform.jobs.limits import describe_limits
from jobplatform.plugins.json_schema import job_data_schema
from jobplatform.services import Services

router = APIRouter(prefix="/api", tags=["plugins"])


@router.get("/plugins")
def list_plugins(svc: Services = Depends(services), _: Principal = Depends(current_user)) -> dict:
    """Every plugin found: name, version, source, status (loaded, failed, disabled), error."""
    return {"plugins": [record.describe() for record in svc.host.plugins.values()]}


@router.get("/job-types")
def list_job_types(svc: Services = Depends(services), _: Principal = Depends(current_user)) -> dict:
    """Every job type on offer, with its plugin, data schema, retry policy, queue, timeout,
    its limits (`rate_limit`, `concurrency_limit`, null when it has none) and `slots_taken`:
    its attempts running against the concurrency limit now, across all workers."""
    limits = describe_limits(svc.host.job_types, svc.limit_store)
    return {
        "job_types": [
            {
                **job_type.describe(),
                "plugin": svc.host.owner_of(name),
                "slots_taken": limits.get(name, {}).get("slots_taken"),
            }
            for name, job_type in sorted(svc.host.job_types.items())
        ]
    }


@router.get("/job-types/{name}/schema")
def job_type_schema(
    name: str, svc: Services = Depends(services), _: Principal = Depends(current_user)
) -> dict:
    """The JSON Schema (draft 2020-12) of the job type's data, to check data with before
    submitting it; what the server checks beyond it is named in its descriptions."""
    return job_data_schema(svc.host.job_type(name))
