"""`jobplatform.client`, kept importable for code written against it: the client package's
public names (`jobplatform_client`, clients/python), re-exported. New code imports
`jobplatform_client` itself; its results are dataclasses (`job.id`, not `job["id"]`)."""

import jobplatform_client
from jobplatform_client import *  # noqa: F403  (the package's public names, listed once there)

__all__ = jobplatform_client.__all__
