"""Direct statements: Core statements compiled once, run on the DBAPI cursor.

Every submission runs a handful of statements. Through an ORM `Session`, or even a Core
`Connection`, SQLAlchemy's per-call machinery costs ten to twenty times the database work itself
(measured on SQLite: a primary-key read 515 µs through a Session, 218 µs through a Core
connection, 26 µs here, pool checkout included). So the hot path compiles each Core statement
once per dialect, takes the bind and result processors from the column types (values are
stored and read exactly as the ORM stores and reads them), and runs it on the raw cursor.

A `DirectUnit` is either its own unit of work (`Database.direct_read/direct_write`) or a view
of an ORM session's transaction (`DirectUnit.of(session)`), so the same statements serve both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session

Processor = Callable[[Any], Any]
_MISSING = object()


class DirectStatement:
    """One Core statement compiled for one dialect, with its parameter and result processing."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None))
        self.sql: str = compiled.string
        positional = compiled.positional
        names = list(compiled.positiontup or ()) if positional else list(compiled.binds)
        self._positional = positional
        self._binds: list[tuple[str, Processor | None, Any]] = []
        for name in names:
            bind = compiled.binds[name]
            default = _MISSING if bind.required or name in (column_keys or ()) else bind.effective_value
            self._binds.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect), default))
        columns = getattr(statement, "exported_columns", ())
        self._results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self._processes_results = any(p is not None for p in self._results)

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The DBAPI parameters for `values` (keyed by bind name), processed as SQLAlchemy would."""
        out: list[Any] = []
        for name, process, default in self._binds:
            value = values.get(name, default)
            if value is _MISSING:
                raise KeyError(f"no value for the bind parameter {name!r}")
            out.append(value if process is None or value is None else process(value))
        if self._positional:
            return out
        return {name: value for (name, _, _), value in zip(self._binds, out)}

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        """A result row with the column types' result processing applied."""
        if not self._processes_results:
            return tuple(raw)
        return tuple(v if p is None else p(v) for p, v in zip(self._results, raw))


_COMPILED: dict[tuple[str, str, int, tuple[str, ...]], tuple[ClauseElement, DirectStatement]] = {}


def compiled(statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] = ()) -> DirectStatement:
    """`statement` compiled for `dialect`, once per process (statements are module constants)."""
    key = (dialect.name, dialect.driver, id(statement), tuple(column_keys))
    hit = _COMPILED.get(key)
    if hit is None or hit[0] is not statement:
        hit = _COMPILED[key] = (statement, DirectStatement(statement, dialect, column_keys or None))
    return hit[1]


_MULTI_ROW: dict[tuple[str, tuple[str, ...], int, tuple[str, ...]], ClauseElement] = {}


def multi_row_insert(table: Table, columns: Sequence[str], count: int, returning: Sequence[str]) -> ClauseElement:
    """`INSERT INTO table (columns) VALUES (...) x count RETURNING returning`, made once per shape.

    Row i's value of column c binds as `c_i` (typed by the column, so values are processed as
    the ORM would). One statement object per shape, so `compiled` compiles each shape once.
    """
    key = (table.name, tuple(columns), count, tuple(returning))
    statement = _MULTI_ROW.get(key)
    if statement is None:
        rows = [{c: bindparam(f"{c}_{i}", type_=table.c[c].type) for c in columns} for i in range(count)]
        statement = _MULTI_ROW[key] = table.insert().values(rows).returning(*(table.c[c] for c in returning))
    return statement


class DirectUnit:
    """Runs direct statements inside one transaction (which whoever made the unit ends)."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self.dialect = dialect

    @classmethod
    def of(cls, session: Session) -> DirectUnit:
        """A view of `session`'s transaction: pending ORM rows are flushed first, in order."""
        session.flush()
        connection = session.connection()
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        return cls(dbapi.cursor(), connection.dialect)

    def rows(self, statement: Executable | ClauseElement, values: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a statement that answers rows (a select, or a write with RETURNING)."""
        direct = compiled(statement, self.dialect)  # type: ignore[arg-type]
        self._cursor.execute(direct.sql, direct.parameters(values or {}))
        return [direct.row(r) for r in self._cursor.fetchall()]

    def first(self, statement: Executable | ClauseElement, values: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
        """The first row a statement answers, or None."""
        rows = self.rows(statement, values)
        return rows[0] if rows else None

    def execute(self, statement: Executable | ClauseElement, values: Mapping[str, Any] | None = None) -> int:
        """Run a statement that answers no rows (an UPDATE or DELETE); how many rows it touched."""
        direct = compiled(statement, self.dialect)  # type: ignore[arg-type]
        self._cursor.execute(direct.sql, direct.parameters(values or {}))
        return int(self._cursor.rowcount)

    def insert(self, table_insert: ClauseElement, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Insert one row of exactly the columns in `values`; the RETURNING row if it has one."""
        direct = compiled(table_insert, self.dialect, tuple(values))
        self._cursor.execute(direct.sql, direct.parameters(values))
        if getattr(table_insert, "_returning", ()):
            raw = self._cursor.fetchone()
            return None if raw is None else direct.row(raw)
        return None

    def insert_returning(self, table: Table, rows: Sequence[Mapping[str, Any]],
                         returning: Sequence[str]) -> list[tuple[Any, ...]]:
        """Insert rows that all have the same columns in ONE statement (a multi-row VALUES); the
        `returning` columns of every row, in no promised order (SQLite promises none)."""
        if not rows:
            return []
        columns = tuple(rows[0])
        statement = multi_row_insert(table, columns, len(rows), returning)
        values = {f"{c}_{i}": row[c] for i, row in enumerate(rows) for c in columns}
        return self.rows(statement, values)

    def insert_many(self, table_insert: ClauseElement, rows: Iterable[Mapping[str, Any]]) -> None:
        """Insert rows that all have the same columns (one `executemany`)."""
        batch = list(rows)
        if not batch:
            return
        direct = compiled(table_insert, self.dialect, tuple(batch[0]))
        self._cursor.executemany(direct.sql, [direct.parameters(r) for r in batch])
