"""A list of rows read from the platform and drawn in a column, read again on `show`.

With a `signature` (what of the rows the user would notice), `show` draws the rows again
only when it changed or when forced, so a periodic refresh keeps the elements the user may
be clicking; without one, every `show` draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from nicegui import ui

from jobplatform.ui import blocking

Row = TypeVar("Row")


class LiveList(Generic[Row]):
    def __init__(
        self,
        marker: str,
        load: Callable[[], Sequence[Row]],
        draw: Callable[[Row], None],
        signature: Callable[[Sequence[Row]], Any] | None = None,
        empty: str | None = None,
    ):
        """`load` runs in a thread; `draw` draws one row; `empty` is said when there is none."""
        self.load = load
        self.draw = draw
        self.signature = signature
        self.column = ui.column().classes("w-full gap-1").mark(marker)
        self.empty = ui.label(empty).classes("opacity-70") if empty else None
        self.seen: Any = None

    async def show(self, force: bool = False) -> None:
        rows = await blocking.call(self.load)
        if self.signature is not None:
            signature = self.signature(rows)
            if not force and signature == self.seen:
                return  # unchanged: keep the elements the user may be clicking
            self.seen = signature
        self.column.clear()
        if self.empty is not None:
            self.empty.visible = not rows
        with self.column:
            for row in rows:
                self.draw(row)
