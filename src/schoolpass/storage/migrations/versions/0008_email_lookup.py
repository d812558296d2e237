"""who is behind an address: an index on lower(email)

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_person_versions_email_key', 'person_versions', [sa.text('lower(email)')], unique=False)


def downgrade() -> None:
    op.drop_index('ix_person_versions_email_key', table_name='person_versions')
