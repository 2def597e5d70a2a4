"""The `context` a hook implementation may take: its plugin's name and settings, and the
job service of the process it runs in, for a hook that submits jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PluginContext:
    plugin: str
    settings: dict[str, Any]
    _host: Any  # the PluginHost, which holds the process's job service once there is one

    @property
    def jobs(self) -> Any:
        """The process's `JobService` (submit, retry, cancel, ...). Not there yet while
        plugins load (in `settings_schema`, `check_settings`, `register_job_types`)."""
        if self._host.jobs is None:
            raise RuntimeError("the job service is not running yet; use it from on_job_event")
        return self._host.jobs
