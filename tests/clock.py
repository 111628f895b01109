"""A clock tests can move."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    """Callable like `Runtime.clock`; `advance` moves it forward."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward by a `timedelta(**delta)`."""
        self.now += timedelta(**delta)
