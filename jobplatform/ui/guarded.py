"""A change made from a page: the role checked on the server first, the call run off the
event loop, and the platform's refusal (`PlatformError`) told to the user as a notification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from jobplatform.errors import PlatformError
from jobplatform.ui import blocking
from jobplatform.ui.session import allowed


@dataclass
class Outcome:
    """Whether a change was done, and what its call answered; true when it was done."""

    done: bool
    value: Any = None

    def __bool__(self) -> bool:
        return self.done


async def attempt(failure: str, function: Callable, *args, **kwargs) -> Outcome:
    """Call `function` in a thread; a refusal is notified as "`failure`: why"."""
    try:
        return Outcome(True, await blocking.call(function, *args, **kwargs))
    except PlatformError as exc:
        ui.notify(f"{failure}: {exc.message}", type="negative")
        return Outcome(False)


async def guarded(
    roles: tuple[str, ...],
    action: str,
    function: Callable,
    *args,
    failure: str | None = None,
    **kwargs,
) -> Outcome:
    """`attempt` the call if the session's role is one of `roles` (else refuse `action`);
    a refusal by the platform reads `failure` (default "Could not `action`")."""
    if not allowed(roles, action):
        return Outcome(False)
    return await attempt(failure or f"Could not {action}", function, *args, **kwargs)
