"""The roles a user or API token can hold, and which of them may do what.

`admin` may do everything, including users, API tokens and webhooks; `operator` may submit,
retry, cancel and delete jobs and control queues and schedules; `viewer` reads only.
"""

from __future__ import annotations

ADMIN, OPERATOR, VIEWER = "admin", "operator", "viewer"
ROLES = (ADMIN, OPERATOR, VIEWER)

OPERATE = (ADMIN, OPERATOR)  # change jobs, queues and schedules
ADMINISTER = (ADMIN,)  # users, API tokens, webhooks
