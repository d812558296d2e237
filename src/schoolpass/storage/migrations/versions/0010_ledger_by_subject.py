"""the ledger by subject, covering (subject_id, on_date, address)

Replaces (subject_id): the same lookups (accounting, a subject's entries), and breach scope reads a
window that holds much of the ledger from this index alone, in subject order, each part of the
subjects only its own range (it read every entry of the window once per part).

Revision ID: 0010
Revises: 0009
"""

from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_ledger_entries_subject', 'ledger_entries', ['subject_id', 'on_date', 'address'],
                    unique=False)
    op.drop_index('ix_ledger_entries_subject_id', table_name='ledger_entries')


def downgrade() -> None:
    op.create_index('ix_ledger_entries_subject_id', 'ledger_entries', ['subject_id'], unique=False)
    op.drop_index('ix_ledger_entries_subject', table_name='ledger_entries')
