"""Owned ranges in numeric form: version, first address halves and prefix length beside the CIDR text.

Workers build their range index from these columns instead of parsing every CIDR text. Existing
rows are filled from their (canonical) `cidr` text here, with the standard library's parser.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:20:00
"""

from __future__ import annotations

import ipaddress

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_M64 = (1 << 64) - 1
_BATCH = 20_000


def _signed(half: int) -> int:
    """A 64-bit half as a signed SQL integer (two's complement)."""
    return half - (1 << 64) if half >> 63 else half


def _numeric_form(cidr: str) -> tuple[int, int, int, int]:
    """(version, first_high, first_low, prefix_len), as `policies.range_rows.stored_first` writes them."""
    network = ipaddress.ip_network(cidr)
    first = int(network.network_address)
    if network.version == 4:
        return 4, first, 0, network.prefixlen
    return 6, _signed(first >> 64), _signed(first & _M64), network.prefixlen


def upgrade() -> None:
    with op.batch_alter_table('owned_ranges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('first_high', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('first_low', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prefix_len', sa.SmallInteger(), nullable=True))
    connection = op.get_bind()
    ranges = sa.table('owned_ranges', sa.column('id', sa.Integer()), sa.column('cidr', sa.String()),
                      sa.column('version', sa.SmallInteger()), sa.column('first_high', sa.BigInteger()),
                      sa.column('first_low', sa.BigInteger()), sa.column('prefix_len', sa.SmallInteger()))
    rows = connection.execute(sa.select(ranges.c.id, ranges.c.cidr)).all()
    update = (ranges.update().where(ranges.c.id == sa.bindparam('row_id'))
              .values(version=sa.bindparam('v'), first_high=sa.bindparam('hi'), first_low=sa.bindparam('lo'),
                      prefix_len=sa.bindparam('plen')))
    for start in range(0, len(rows), _BATCH):
        params = []
        for row_id, cidr in rows[start:start + _BATCH]:
            version, high, low, plen = _numeric_form(cidr)
            params.append({'row_id': row_id, 'v': version, 'hi': high, 'lo': low, 'plen': plen})
        connection.execute(update, params)
    with op.batch_alter_table('owned_ranges', schema=None) as batch_op:
        batch_op.alter_column('version', existing_type=sa.SmallInteger(), nullable=False)
        batch_op.alter_column('first_high', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('first_low', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('prefix_len', existing_type=sa.SmallInteger(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('owned_ranges', schema=None) as batch_op:
        batch_op.drop_column('prefix_len')
        batch_op.drop_column('first_low')
        batch_op.drop_column('first_high')
        batch_op.drop_column('version')
