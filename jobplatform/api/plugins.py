"""GET /api/plugins and GET /api/job-types: what the plugin host loaded, for any logged-in user."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from jobplatform.api.deps import Principal, current_user, services
from jobplatform.services import Services

router = APIRouter(prefix="/api", tags=["plugins"])


@router.get("/plugins")
def list_plugins(svc: Services = Depends(services), _: Principal = Depends(current_user)) -> dict:
    """Every plugin found: name, version, source, status (loaded, failed, disabled), error."""
    return {"plugins": [record.describe() for record in svc.host.plugins.values()]}


@router.get("/job-types")
def list_job_types(svc: Services = Depends(services), _: Principal = Depends(current_user)) -> dict:
    """Every job type on offer, with its plugin, data schema, retry policy, queue and timeout."""
    return {
        "job_types": [
            {**job_type.describe(), "plugin": svc.host.owner_of(name)}
            for name, job_type in sorted(svc.host.job_types.items())
        ]
    }
