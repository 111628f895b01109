"""Initial schema: requests, certificates and their names, exceptions, approvals, grants, owned ranges, tokens, audit log, tree heads, CRL state, compromised keys.

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 04:18:05.979260
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.db.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('revoked_at', service.db.types.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('audit_events',
    sa.Column('index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('leaf_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('index')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_actor'), ['actor'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_events_event_at', ['event', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_subject'), ['subject'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute("INSERT INTO audit_head (id, size) VALUES (1, 0)")
    op.create_table('compromised_keys',
    sa.Column('spki_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('serial_number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', service.db.types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('spki_sha256')
    )
    op.create_table('crl_state',
    sa.Column('issuer', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('crl_number', sa.BigInteger(), nullable=False),
    sa.Column('this_update', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('next_update', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('issuer')
    )
    op.create_table('owned_ranges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cidr', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cidr')
    )
    op.create_table('range_changes',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('op', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('range_id', sa.Integer(), nullable=False),
    sa.Column('cidr', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('requests',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('requester', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('csr_pem', sa.Text(), nullable=False),
    sa.Column('csr_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('common_name', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
    sa.Column('named_ips', sa.JSON(), nullable=False),
    sa.Column('violations', sa.JSON(), nullable=False),
    sa.Column('waived', sa.JSON(), nullable=False),
    sa.Column('policy_version', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('validity_days', sa.Integer(), nullable=False),
    sa.Column('client_auth', sa.Boolean(), nullable=False),
    sa.Column('justification', sa.Text(), nullable=True),
    sa.Column('grant_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('created_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('decided_at', service.db.types.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_requests_requester'), ['requester'], unique=False)
        batch_op.create_index(batch_op.f('ix_requests_status'), ['status'], unique=False)

    op.create_table('signed_tree_heads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('timestamp', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('signed_tree_heads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signed_tree_heads_tree_size'), ['tree_size'], unique=False)

    op.create_table('certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial_number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('requester', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('common_name', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
    sa.Column('pem', sa.Text(), nullable=False),
    sa.Column('sha256_fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('not_before', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('not_after', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('issued_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('revoked_at', service.db.types.UtcDateTime(), nullable=True),
    sa.Column('revocation_reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id'),
    sa.UniqueConstraint('serial_number')
    )
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index('ix_certificates_issued_at_id', ['issued_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificates_not_after'), ['not_after'], unique=False)
        batch_op.create_index('ix_certificates_requester_issued_at_id', ['requester', 'issued_at', 'id'], unique=False)
        batch_op.create_index('ix_certificates_revoked_at', ['revoked_at'], unique=False)

    op.create_table('exceptions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('requester', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('violations', sa.JSON(), nullable=False),
    sa.Column('csr_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('policy_version', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('created_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('expires_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('decided_at', service.db.types.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id')
    )
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exceptions_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_exceptions_status'), ['status'], unique=False)

    op.create_table('approvals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exception_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('approver', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('csr_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('policy_version', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('grant_days', sa.Integer(), nullable=True),
    sa.Column('at', service.db.types.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['exception_id'], ['exceptions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('exception_id', 'approver')
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approvals_exception_id'), ['exception_id'], unique=False)

    op.create_table('certificate_names',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=260), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('certificate_names', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_names_certificate_id'), ['certificate_id'], unique=False)
        batch_op.create_index('ix_certificate_names_kind_value', ['kind', 'value'], unique=False)

    op.create_table('grants',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('requester', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('exception_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('ip_addresses', sa.JSON(), nullable=False),
    sa.Column('created_at', service.db.types.UtcDateTime(), nullable=False),
    sa.Column('expires_at', service.db.types.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['exception_id'], ['exceptions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grants_requester'), ['requester'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grants_requester'))

    op.drop_table('grants')
    with op.batch_alter_table('certificate_names', schema=None) as batch_op:
        batch_op.drop_index('ix_certificate_names_kind_value')
        batch_op.drop_index(batch_op.f('ix_certificate_names_certificate_id'))

    op.drop_table('certificate_names')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approvals_exception_id'))

    op.drop_table('approvals')
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exceptions_status'))
        batch_op.drop_index(batch_op.f('ix_exceptions_created_at'))

    op.drop_table('exceptions')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_certificates_revoked_at')
        batch_op.drop_index('ix_certificates_requester_issued_at_id')
        batch_op.drop_index(batch_op.f('ix_certificates_not_after'))
        batch_op.drop_index('ix_certificates_issued_at_id')

    op.drop_table('certificates')
    with op.batch_alter_table('signed_tree_heads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signed_tree_heads_tree_size'))

    op.drop_table('signed_tree_heads')
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_requests_status'))
        batch_op.drop_index(batch_op.f('ix_requests_requester'))

    op.drop_table('requests')
    op.drop_table('range_changes')
    op.drop_table('owned_ranges')
    op.drop_table('crl_state')
    op.drop_table('compromised_keys')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_subject'))
        batch_op.drop_index('ix_audit_events_event_at')
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_actor'))

    op.drop_table('audit_events')
    op.drop_table('api_tokens')
