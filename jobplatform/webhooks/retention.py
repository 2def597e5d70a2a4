"""Delivery retention: finished deliveries (and their tries) older than `retention_days`,
or past an endpoint's newest `keep_per_endpoint`, are removed. Pending ones stay.

FerretDB has no TTL indexes, so each worker's dispatcher runs this about hourly; two
workers doing it at once only delete the same documents.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from jobplatform.jobs.models import utcnow
from jobplatform.webhooks.models import (
    DELIVERED,
    FAILED,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookTry,
)

log = logging.getLogger("jobplatform.webhooks")
BATCH = 1000
FINISHED = (DELIVERED, FAILED)


def _remove(**conditions) -> int:
    removed = 0
    while True:
        ids = [
            row["_id"]
            for row in WebhookDelivery.objects(state__in=FINISHED, **conditions)
            .only("id")
            .limit(BATCH)
            .as_pymongo()
        ]
        if not ids:
            return removed
        WebhookTry.objects(delivery_id__in=ids).delete()
        removed += WebhookDelivery.objects(id__in=ids).delete()
        if len(ids) < BATCH:
            return removed


def trim(retention_days: float, keep_per_endpoint: int, now: datetime | None = None) -> int:
    """Remove what the bounds say; return how many deliveries were removed."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    removed = _remove(finished_at__lt=cutoff)
    for endpoint_id in WebhookEndpoint.objects.scalar("id"):
        oldest_kept = (
            WebhookDelivery.objects(endpoint_id=endpoint_id)
            .order_by("-id")
            .skip(keep_per_endpoint - 1)
            .only("id")
            .first()
        )
        if oldest_kept is not None:
            removed += _remove(endpoint_id=endpoint_id, id__lt=oldest_kept.id)
    if removed:
        log.info("webhook retention: removed %d finished deliveries", removed)
    return removed
