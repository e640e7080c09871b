"""Progress bars (rich), silent when disabled or when output is not a terminal in CI."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def bar(enabled: bool, description: str, *, total: float | None, unit: str = "items"):
    """Yield ``advance(k)``; shows a rich progress bar with a rate column when enabled."""
    if not enabled:
        yield lambda k=1, rate=None: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    if unit == "bytes":
        columns = [DownloadColumn(), TransferSpeedColumn()]
    else:
        columns = [MofNCompleteColumn(), TextColumn("{task.fields[rate]}")]
    with Progress(TextColumn("{task.description}"), BarColumn(), *columns,
                  TimeElapsedColumn(), TimeRemainingColumn(), transient=False) as p:
        task = p.add_task(description, total=total, rate="")

        def advance(k=1, rate: str | None = None):
            p.update(task, advance=k, **({"rate": rate} if rate is not None else {}))

        yield advance
