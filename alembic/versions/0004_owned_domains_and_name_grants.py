"""Owned domains: the domain registry, its change log, and grants that cover DNS names.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.db.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('owned_domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain', sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('domain')
    )
    op.create_table('domain_changes',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('op', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('domain', sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    # Existing grants cover IPs only: their name list starts empty.
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dns_names', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.alter_column('dns_names', existing_type=sa.JSON(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_column('dns_names')
    op.drop_table('domain_changes')
    op.drop_table('owned_domains')
