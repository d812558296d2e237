"""birth dates in force, from the index alone: (sourced_id, rec_to, valid_from, valid_to, birth_date)

Replaces (sourced_id, valid_from): the same lookups, and the birth date comes with them. Matching a day's
results read one table row per id match and built a temporary index over every birth date for the name
step; the authorization rule read a row per subject.

Revision ID: 0009
Revises: 0008
"""

from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_birth_date_versions_in_force', 'birth_date_versions',
                    ['sourced_id', 'rec_to', 'valid_from', 'valid_to', 'birth_date'], unique=False)
    op.drop_index('ix_birth_date_versions_sourced_id_valid_from', table_name='birth_date_versions')


def downgrade() -> None:
    op.create_index('ix_birth_date_versions_sourced_id_valid_from', 'birth_date_versions',
                    ['sourced_id', 'valid_from'], unique=False)
    op.drop_index('ix_birth_date_versions_in_force', table_name='birth_date_versions')
