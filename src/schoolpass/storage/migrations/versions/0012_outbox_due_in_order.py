"""the outbox's due messages in id order: (state, id, next_attempt_at) replaces (state, next_attempt_at)

A sender claims the next 50 due messages in id order. With (state, next_attempt_at) the database
read every planned row and sorted them for each claim: on a heavy day (390,000 planned messages) a
claim cost a sort of the whole outbox, and a run's claims grew with the square of its size. The new
index walks the planned rows in id order and stops after 50; next_attempt_at is in it, so the claim
never reads the table. The other readers of the old index (the earliest retry, leases of a state)
read the same range of state.

Revision ID: 0012
Revises: 0011
"""

from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_state_id', 'outbox', ['state', 'id', 'next_attempt_at'], unique=False)
    op.drop_index('ix_outbox_state_next_attempt_at', table_name='outbox')


def downgrade() -> None:
    op.create_index('ix_outbox_state_next_attempt_at', 'outbox', ['state', 'next_attempt_at'], unique=False)
    op.drop_index('ix_outbox_state_id', table_name='outbox')
