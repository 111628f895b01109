"""Read-your-writes for the in-memory registries: one read of every change-log head per request.

A registry that each worker keeps in memory (the owned ranges; the owned domains follow the same
pattern) is fed by an append-only change log whose `seq` grows in commit order. Before a request
is judged, `ChangeHeads.catch_up` reads the head of every such log in ONE statement of the
request's own read transaction (`SELECT (SELECT max(seq) FROM range_changes), ...`: a primary-key
index lookup each) and has every registry that is behind replay up to it. So a change committed
before a request started is seen by that request, on every worker and every instance over the
same database; a registry that is current costs only that one read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast


from sqlalchemy import ScalarSelect, Select, func, select
from sqlalchemy.sql.schema import Table

from service.db.direct import DirectUnit


class FollowsChangeLog(Protocol):
    """A registry kept current from a change log (`service.range_registry.RangeRegistry` is one)."""

    @property
    def change_log(self) -> Table:
        """The log's table; its integer primary key `seq` grows in commit order."""
        ...

    def catch_up(self, head: int) -> None:
        """Apply every change up to at least `head` (a build when there is no index yet); cheap when there."""
        ...


def heads_statement(logs: Sequence[Table]) -> Select[Any]:
    """One SELECT answering the head (highest `seq`, or NULL when empty) of every log, in order."""
    return cast("Select[Any]", select(*head_columns(logs)))


def head_columns(logs: Sequence[Table]) -> list[ScalarSelect[int | None]]:
    """The head of each log as a scalar subquery, to put in a SELECT of one's own."""
    return [select(func.max(log.c.seq)).scalar_subquery() for log in logs]


class ChangeHeads:
    """The change-log heads of a process's registries, checked in one read per request.

    `catch_up` runs the check as a statement of its own. A caller that reads something else at
    the start of the request anyway puts `columns` in front of that SELECT (no extra round trip
    to the database: on PostgreSQL that is most of the cost) and hands the values to `apply`.
    """

    def __init__(self, registries: Sequence[FollowsChangeLog]) -> None:
        self._registries = tuple(registries)
        self.columns = head_columns([r.change_log for r in self._registries])
        self._statement = select(*self.columns) if self.columns else None

    def catch_up(self, reads: DirectUnit) -> None:
        """Bring every registry up to the heads committed when the statement ran (at least).

        Raises:
            ServiceUnavailable: a replay could not reach the database.
        """
        if self._statement is None:
            return
        row = reads.first(self._statement)
        assert row is not None  # a SELECT without FROM answers one row
        self.apply(row)

    def apply(self, heads: Sequence[int | None]) -> None:
        """Replay every registry whose head (in `columns` order) is ahead of what it applied.

        Raises:
            ServiceUnavailable: a replay could not reach the database.
        """
        for registry, head in zip(self._registries, heads):
            registry.catch_up(head or 0)
