"""Blocking service calls (MongoDB, Redis, password hashing) run off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from nicegui import core, run

P = ParamSpec("P")
R = TypeVar("R")


async def call(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `function` in a thread; cancel the calling task when the app is stopping
    (NiceGUI then answers None instead of running it)."""
    result = await run.io_bound(function, *args, **kwargs)
    if result is None and core.app.is_stopping:
        raise asyncio.CancelledError
    return result
