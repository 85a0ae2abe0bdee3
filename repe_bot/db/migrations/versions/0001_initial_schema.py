"""Initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-04 19:54:04.205338
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('contact_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('balance', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("balance >= 0 OR kind = 'treasury'", name='ck_account_balance_not_negative'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_contact_wxid'), ['contact_wxid'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_key'), ['key'], unique=True)

    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('announcement', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('room_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('passphrase', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('passphrase_display', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('reward_mode', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reward_amount', sa.Integer(), nullable=False),
    sa.Column('budget', sa.Integer(), nullable=False),
    sa.Column('pool', sa.Integer(), nullable=False),
    sa.Column('points_required', sa.Integer(), nullable=False),
    sa.Column('points_cost', sa.Integer(), nullable=False),
    sa.Column('funder_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('deadline_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('close_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('joined_total', sa.Integer(), nullable=False),
    sa.Column('paid_total', sa.Integer(), nullable=False),
    sa.CheckConstraint('capacity >= 0', name='ck_activity_capacity'),
    sa.CheckConstraint('points_required >= 0 AND points_cost >= 0', name='ck_activity_points'),
    sa.CheckConstraint('reward_amount >= 0 AND pool >= 0 AND budget >= 0', name='ck_activity_amounts'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_room_wxid'), ['room_wxid'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_status'), ['status'], unique=False)

    # Autogenerate cannot compare expression indexes on SQLite, so this one is written by hand.
    op.create_index(
        'uq_activity_open_passphrase',
        'activity',
        [sa.text("coalesce(room_wxid, '')"), 'passphrase'],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )

    op.create_table('bot_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('run_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('time_of_day', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('cron', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('targets', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_slot', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('next_run_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bot_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bot_task_next_run_at'), ['next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_task_status'), ['status'], unique=False)

    op.create_table('contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('alias', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('is_friend', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_wxid'), ['wxid'], unique=True)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('is_room', sa.Boolean(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('mention_ids', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('coalesce_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('coalesce_line', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('coalesce_header', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('merged_into', sa.Integer(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_coalesce_key'), ['coalesce_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_conversation_wxid'), ['conversation_wxid'], unique=False)
        batch_op.create_index('ix_outbox_due', ['status', 'not_before'], unique=False)

    op.create_table('processed_message',
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('message_id')
    )
    with op.batch_alter_table('processed_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_message_seen_at'), ['seen_at'], unique=False)

    op.create_table('room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('remark', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('member_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_room_wxid'), ['wxid'], unique=True)

    op.create_table('room_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('contact_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('room_wxid', 'contact_wxid', name='uq_room_member')
    )
    with op.batch_alter_table('room_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_room_member_contact_wxid'), ['contact_wxid'], unique=False)
        batch_op.create_index(batch_op.f('ix_room_member_room_wxid'), ['room_wxid'], unique=False)

    op.create_table('activity_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('contact_wxid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('reward', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Integer(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('joined_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('activity_id', 'contact_wxid', 'period', name='uq_activity_entry')
    )
    with op.batch_alter_table('activity_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_entry_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_entry_contact_wxid'), ['contact_wxid'], unique=False)

    op.create_table('activity_period',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('joined_count', sa.Integer(), nullable=False),
    sa.Column('funded', sa.Integer(), nullable=False),
    sa.Column('paid', sa.Integer(), nullable=False),
    sa.Column('settled', sa.Boolean(), nullable=False),
    sa.Column('opened_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('activity_id', 'period', name='uq_activity_period')
    )
    with op.batch_alter_table('activity_period', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_period_activity_id'), ['activity_id'], unique=False)

    op.create_table('ledger_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.Column('balance_after', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('transfer_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('memo', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entry_account_created', ['account_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entry_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entry_transfer_key'), ['transfer_key'], unique=False)



def downgrade() -> None:
    op.drop_index('uq_activity_open_passphrase', table_name='activity')
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entry_transfer_key'))
        batch_op.drop_index(batch_op.f('ix_ledger_entry_activity_id'))
        batch_op.drop_index('ix_ledger_entry_account_created')

    op.drop_table('ledger_entry')
    with op.batch_alter_table('activity_period', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_period_activity_id'))

    op.drop_table('activity_period')
    with op.batch_alter_table('activity_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_entry_contact_wxid'))
        batch_op.drop_index(batch_op.f('ix_activity_entry_activity_id'))

    op.drop_table('activity_entry')
    with op.batch_alter_table('room_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_room_member_room_wxid'))
        batch_op.drop_index(batch_op.f('ix_room_member_contact_wxid'))

    op.drop_table('room_member')
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_room_wxid'))

    op.drop_table('room')
    with op.batch_alter_table('processed_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_message_seen_at'))

    op.drop_table('processed_message')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')
        batch_op.drop_index(batch_op.f('ix_outbox_conversation_wxid'))
        batch_op.drop_index(batch_op.f('ix_outbox_coalesce_key'))

    op.drop_table('outbox')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_wxid'))

    op.drop_table('contact')
    with op.batch_alter_table('bot_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bot_task_status'))
        batch_op.drop_index(batch_op.f('ix_bot_task_next_run_at'))

    op.drop_table('bot_task')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_status'))
        batch_op.drop_index(batch_op.f('ix_activity_room_wxid'))

    op.drop_table('activity')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_key'))
        batch_op.drop_index(batch_op.f('ix_account_contact_wxid'))
        batch_op.drop_index(batch_op.f('ix_account_activity_id'))

    op.drop_table('account')
