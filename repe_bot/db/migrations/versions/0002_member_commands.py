"""Member command tables: check-ins, red packets and command cooldowns

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 19:59:34.907010
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('check_in',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('day', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('streak', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('bonus', sa.Integer(), nullable=False),
    sa.Column('room_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('contact_wxid', 'day', name='uq_check_in_contact_day')
    )
    with op.batch_alter_table('check_in', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_in_contact_wxid'), ['contact_wxid'], unique=False)

    op.create_table('command_use',
    sa.Column('contact_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('command', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('cooldown_notified', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('contact_wxid', 'command')
    )
    op.create_table('red_packet',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('funder_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('room_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('day', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('activity_id')
    )
    with op.batch_alter_table('red_packet', schema=None) as batch_op:
        batch_op.create_index('ix_red_packet_funder_day', ['funder_wxid', 'day'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('red_packet', schema=None) as batch_op:
        batch_op.drop_index('ix_red_packet_funder_day')

    op.drop_table('red_packet')
    op.drop_table('command_use')
    with op.batch_alter_table('check_in', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_check_in_contact_wxid'))

    op.drop_table('check_in')
