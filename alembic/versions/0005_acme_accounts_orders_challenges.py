"""ACME: nonces, EAB keys, accounts, orders, authorizations, challenges and ARI renewal marks.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-03 08:48:32.076562
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

import service.db.types
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('acme_accounts',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('thumbprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('jwk', sa.JSON(), nullable=False),
    sa.Column('requester', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('contact', sa.JSON(), nullable=False),
    sa.Column('eab_kid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', service.db.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('thumbprint')
    )
    with op.batch_alter_table('acme_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acme_accounts_requester'), ['requester'], unique=False)

    op.create_table('acme_eab_keys',
    sa.Column('kid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('requester', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('hmac_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('revoked_at', service.db.types.UtcDateTime(), nullable=True),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.PrimaryKeyConstraint('kid')
    )
    with op.batch_alter_table('acme_eab_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acme_eab_keys_requester'), ['requester'], unique=False)

    op.create_table('acme_nonces',
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('expires_at', service.db.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('value')
    )
    with op.batch_alter_table('acme_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acme_nonces_expires_at'), ['expires_at'], unique=False)

    op.create_table('acme_renewal_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_key_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('acme_orders',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('identifiers', sa.JSON(), nullable=False),
    sa.Column('expires_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('replaces', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', service.db.types.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['acme_accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('acme_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acme_orders_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_acme_orders_request_id'), ['request_id'], unique=False)

    op.create_table('acme_authorizations',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=260), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('expires_at', service.db.types.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['acme_orders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('acme_authorizations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acme_authorizations_order_id'), ['order_id'], unique=False)

    op.create_table('acme_challenges',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('authz_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('claimed_until', service.db.types.UtcDateTime(), nullable=True),
    sa.Column('validated_at', service.db.types.UtcDateTime(), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('record', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['authz_id'], ['acme_authorizations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('acme_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acme_challenges_authz_id'), ['authz_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_acme_challenges_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('acme_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acme_challenges_status'))
        batch_op.drop_index(batch_op.f('ix_acme_challenges_authz_id'))

    op.drop_table('acme_challenges')
    with op.batch_alter_table('acme_authorizations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acme_authorizations_order_id'))

    op.drop_table('acme_authorizations')
    with op.batch_alter_table('acme_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acme_orders_request_id'))
        batch_op.drop_index(batch_op.f('ix_acme_orders_account_id'))

    op.drop_table('acme_orders')
    op.drop_table('acme_renewal_marks')
    with op.batch_alter_table('acme_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acme_nonces_expires_at'))

    op.drop_table('acme_nonces')
    with op.batch_alter_table('acme_eab_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acme_eab_keys_requester'))

    op.drop_table('acme_eab_keys')
    with op.batch_alter_table('acme_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acme_accounts_requester'))

    op.drop_table('acme_accounts')
