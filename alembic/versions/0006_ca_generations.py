"""Issuing CA generations (`certgate ca rollover`) and which generation signed each certificate.

Existing certificates were all signed by generation 1, the issuing CA `certgate init` made.

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.db.types import UtcDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ca_generations",
        sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("certificate_sha256", sa.String(length=64), nullable=False),
        sa.Column("active_from", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
    )
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("issuer_ca", sa.SmallInteger(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("issuer_ca")
    op.drop_table("ca_generations")
