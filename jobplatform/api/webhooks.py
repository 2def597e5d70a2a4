"""/api/webhooks: endpoints the platform POSTs signed job events to, for admins.

Every rule (URL, events, job-type filter, the secret) is `WebhookService`'s; this module
only carries requests to it. The secret is in the answers of create and rotate-secret
only; it is never readable again. Deliveries are jobs of type `webhook.deliver`, also
under /api/jobs.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from jobplatform.api.deps import Principal, admin, services
from jobplatform.services import Services
from jobplatform.webhooks.crypto import SecretBox
from jobplatform.webhooks.models import EVENTS
from jobplatform.webhooks.service import MAX_DELIVERIES_PAGE, WebhookService

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
EVENTS_TEXT = ", ".join(EVENTS)


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="the http:// or https:// URL to POST to")
    events: list[str] = Field(max_length=20, description=f"one or more of {EVENTS_TEXT}")
    job_types: list[str] = Field(
        default_factory=list, max_length=200, description="only these job types; [] = all"
    )
    enabled: bool = True
    description: str = Field("", max_length=500)


class WebhookChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    events: list[str] | None = Field(None, max_length=20)
    job_types: list[str] | None = Field(None, max_length=200)
    enabled: bool | None = None
    description: str | None = Field(None, max_length=500)


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    job_types: list[str]
    enabled: bool
    description: str
    secret_hint: str = Field(description="the secret's first characters, to tell it apart")
    created_by: str | None
    created_at: str | None
    updated_at: str | None
    secret_rotated_at: str | None


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="signs every delivery; shown only this once")


class AttemptOut(BaseModel):
    number: int
    started_at: str | None
    finished_at: str | None
    outcome: str | None = Field(description="succeeded, failed, timeout, ... (as a job's)")
    status_code: int | None = Field(description="the endpoint's answer; null: none came")
    latency_ms: float | None = Field(description="from sending to the answer (or giving up)")
    error: str | None
    retry_delay: float | None = Field(description="seconds until the next attempt, if any")


class DeliveryOut(BaseModel):
    id: str = Field(description="the delivery's job (GET /api/jobs/{id}); its Webhook-Id")
    event: str
    job_id: str | None = Field(description="the job whose event it carries; null: a ping")
    job_type: str | None
    state: str = Field(description="the delivery job's state: queued ... succeeded, dead")
    attempt_count: int
    max_attempts: int
    next_attempt_at: str | None
    status_code: int | None = Field(description="of the latest attempt")
    latency_ms: float | None = Field(description="of the latest attempt")
    error: str | None
    created_at: str | None
    finished_at: str | None
    attempts: list[AttemptOut]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None = Field(description="pass as `before` for the next page")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


def _service(svc: Services) -> WebhookService:
    return WebhookService(svc.host, SecretBox(svc.jwt_secret), svc.jobs)


@router.get("", response_model=WebhookList)
async def list_webhooks(svc: Services = Depends(services), _: Principal = Depends(admin)) -> dict:
    endpoints = await run_in_threadpool(_service(svc).list)
    return {"webhooks": [e.describe() for e in endpoints]}


@router.post("", status_code=201, response_model=WebhookWithSecret)
async def create_webhook(
    body: WebhookRequest, svc: Services = Depends(services), me: Principal = Depends(admin)
) -> dict:
    """Register an endpoint. The answer's `secret` signs its deliveries; it is shown only
    this once (rotate it to get a new one)."""
    service, fields = _service(svc), body.model_dump()
    endpoint, secret = await run_in_threadpool(lambda: service.create(fields, created_by=me.actor))
    return {**endpoint.describe(), "secret": secret}


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(
    webhook_id: str, svc: Services = Depends(services), _: Principal = Depends(admin)
) -> dict:
    return (await run_in_threadpool(_service(svc).get, webhook_id)).describe()


@router.patch("/{webhook_id}", response_model=WebhookOut)
async def change_webhook(
    webhook_id: str,
    body: WebhookChange,
    svc: Services = Depends(services),
    _: Principal = Depends(admin),
) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return (await run_in_threadpool(_service(svc).update, webhook_id, changes)).describe()


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(
    webhook_id: str, svc: Services = Depends(services), _: Principal = Depends(admin)
) -> Response:
    """Remove the endpoint; its waiting deliveries are cancelled, its delivery jobs stay in
    the job history."""
    await run_in_threadpool(_service(svc).delete, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookWithSecret)
async def rotate_secret(
    webhook_id: str, svc: Services = Depends(services), _: Principal = Depends(admin)
) -> dict:
    """A new secret, in force at once; shown only this once."""
    endpoint, secret = await run_in_threadpool(_service(svc).rotate_secret, webhook_id)
    return {**endpoint.describe(), "secret": secret}


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    webhook_id: str,
    limit: int = Query(50, ge=1, le=MAX_DELIVERIES_PAGE),
    before: str | None = Query(None, description="a next_cursor this API gave"),
    svc: Services = Depends(services),
    _: Principal = Depends(admin),
) -> dict:
    """The endpoint's deliveries (jobs of type webhook.deliver), newest first, each with
    every attempt."""
    found, cursor = await run_in_threadpool(_service(svc).deliveries, webhook_id, limit, before)
    return {"deliveries": found, "next_cursor": cursor}


@router.post("/{webhook_id}/test", status_code=202, response_model=DeliveryOut)
async def test_webhook(
    webhook_id: str, svc: Services = Depends(services), _: Principal = Depends(admin)
) -> dict:
    """Submit a `ping` delivery to the endpoint (one attempt) and answer it, queued; a
    worker serving the `webhooks` queue sends it (follow it in the deliveries or as a
    job)."""
    return await run_in_threadpool(_service(svc).ping, webhook_id)
