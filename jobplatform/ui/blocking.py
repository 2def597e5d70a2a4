"""Blocking service calls (MongoDB, Redis, password hashing) run off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from nicegui import context, core, run

P = ParamSpec("P")
R = TypeVar("R")


async def call(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `function` in a thread and return its result. The calling task is cancelled
    instead when, meanwhile, the page it updates was closed or the app is stopping (NiceGUI
    then answers None instead of running it)."""
    try:
        client = context.client
    except RuntimeError:  # the element this task was started from is gone already
        raise asyncio.CancelledError from None
    result = await run.io_bound(function, *args, **kwargs)
    if client.is_deleted or (result is None and core.app.is_stopping):
        raise asyncio.CancelledError
    return result
