"""The Alembic migrations and the SQLModel tables describe the same schema, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

import service.db.models  # noqa: F401
from service.db.migrate import upgrade


def test_autogenerate_finds_no_difference(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_is_idempotent_and_seeds_the_audit_head(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, size FROM audit_head")).all() == [(1, 0)]
    engine.dispose()


def test_numeric_form_migration_fills_existing_ranges(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    from policies.cidr import parse_cidr
    from policies.range_rows import stored_first
    from service.db.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0001")
    cidrs = ["10.0.0.0/8", "192.0.2.128/25", "2001:db8::/32", "ff00::/8", "::/0", "fe80::1/128"]
    engine = create_engine(url)
    with engine.begin() as conn:
        for cidr in cidrs:
            conn.execute(text("INSERT INTO owned_ranges (cidr, owner, created_at, created_by) VALUES (:c, 'o', '2026-01-01 00:00:00', 'x')"),
                         {"c": cidr})
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT cidr, version, first_high, first_low, prefix_len FROM owned_ranges ORDER BY id")).all()
    engine.dispose()
    for cidr, version, high, low, plen in rows:
        parsed = parse_cidr(cidr)
        assert (version, high, low, plen) == (parsed.version, *stored_first(parsed.version, parsed.first), parsed.prefix_len)
    assert [r[0] for r in rows] == cidrs
