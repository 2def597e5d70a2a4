"""The job data in the OpenAPI document: each job type's data schema as a component
(`JobData.NAME`, with `JobDataValue` for values a schema leaves open), and the job
submission body (`JobRequest`, of POST /api/jobs and each job of POST /api/jobs/batch) as
one request a job type (`JobRequest.NAME`, whose `data` refers to its `JobData.NAME`),
told apart by `name`, the discriminator. So a generated client has a type, and a schema
to check, for each job type's data, and an OpenAPI validator checks data exactly (the
variants' `name` constants make the `oneOf` exclusive without the discriminator).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from jobplatform.plugins.jobtype import JobType
from jobplatform.plugins.json_schema import VALUE, job_data_schema, job_data_value_schema

COMPONENTS = "#/components/schemas/"
REQUEST = "JobRequest"


def document_job_data(app: FastAPI, job_types: dict[str, JobType]) -> None:
    """Add the job types' data schemas to `app`'s OpenAPI document when it is built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        add_job_data(document, job_types)
        app.openapi_schema = document
        return document

    app.openapi = openapi


def add_job_data(document: dict[str, Any], job_types: dict[str, JobType]) -> None:
    """Put the data schemas into `document` and make `JobRequest` their union."""
    schemas = document.get("components", {}).get("schemas", {})
    request = schemas.get(REQUEST)
    if request is None or not job_types:
        return
    schemas[VALUE] = job_data_value_schema(COMPONENTS)
    variants = {}
    for name, job_type in sorted(job_types.items()):
        schemas[f"JobData.{name}"] = job_data_schema(job_type, definitions=COMPONENTS)
        variant = copy.deepcopy(request)
        variant["title"] = f"{REQUEST}.{name}"
        variant["properties"]["name"] = {
            "type": "string",
            "const": name,
            "description": "the job type",
        }
        variant["properties"]["data"] = {
            "$ref": f"{COMPONENTS}JobData.{name}",
            "description": f"the job's data; also served at GET /api/job-types/{name}/schema",
        }
        schemas[f"{REQUEST}.{name}"] = variant
        variants[name] = f"{COMPONENTS}{REQUEST}.{name}"
    schemas[REQUEST] = {
        "title": REQUEST,
        "description": "A job to submit: its type (`name`), its data, and options. One "
        "variant a job type, told apart by `name`.",
        "oneOf": [{"$ref": ref} for ref in variants.values()],
        "discriminator": {"propertyName": "name", "mapping": variants},
    }
