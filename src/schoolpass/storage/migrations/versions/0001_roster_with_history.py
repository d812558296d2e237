"""roster with history

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('person_agents',
    sa.Column('person_sourced_id', sa.String(length=255), nullable=False),
    sa.Column('payload_hash', sa.String(length=32), nullable=False),
    sa.Column('agent_sourced_id', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('person_sourced_id', 'payload_hash', 'agent_sourced_id', name=op.f('pk_person_agents'))
    )
    with op.batch_alter_table('person_agents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_agents_agent_sourced_id'), ['agent_sourced_id'], unique=False)

    op.create_table('person_schools',
    sa.Column('person_sourced_id', sa.String(length=255), nullable=False),
    sa.Column('payload_hash', sa.String(length=32), nullable=False),
    sa.Column('org_sourced_id', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('person_sourced_id', 'payload_hash', 'org_sourced_id', name=op.f('pk_person_schools'))
    )
    with op.batch_alter_table('person_schools', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_schools_org_sourced_id'), ['org_sourced_id'], unique=False)

    op.create_table('roster_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('oneroster_version', sa.String(length=8), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_imports'))
    )
    op.create_table('birth_date_versions',
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sourced_id', sa.String(length=255), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('rec_from', sa.Integer(), nullable=False),
    sa.Column('rec_to', sa.Integer(), nullable=True),
    sa.Column('payload_hash', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['rec_from'], ['roster_imports.id'], name=op.f('fk_birth_date_versions_rec_from_roster_imports')),
    sa.ForeignKeyConstraint(['rec_to'], ['roster_imports.id'], name=op.f('fk_birth_date_versions_rec_to_roster_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_birth_date_versions'))
    )
    with op.batch_alter_table('birth_date_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_birth_date_versions_sourced_id_valid_from'), ['sourced_id', 'valid_from'], unique=False)

    op.create_table('org_versions',
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('identifier', sa.String(length=255), nullable=True),
    sa.Column('parent_sourced_id', sa.String(length=255), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sourced_id', sa.String(length=255), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('rec_from', sa.Integer(), nullable=False),
    sa.Column('rec_to', sa.Integer(), nullable=True),
    sa.Column('payload_hash', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['rec_from'], ['roster_imports.id'], name=op.f('fk_org_versions_rec_from_roster_imports')),
    sa.ForeignKeyConstraint(['rec_to'], ['roster_imports.id'], name=op.f('fk_org_versions_rec_to_roster_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_org_versions'))
    )
    with op.batch_alter_table('org_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_org_versions_sourced_id_valid_from'), ['sourced_id', 'valid_from'], unique=False)

    op.create_table('person_versions',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('contact_role', sa.String(length=16), nullable=True),
    sa.Column('given_name', sa.Text(), nullable=False),
    sa.Column('family_name', sa.Text(), nullable=False),
    sa.Column('identifier', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('health_notices', sa.String(length=8), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=True),
    sa.Column('active_from', sa.Date(), nullable=True),
    sa.Column('active_until', sa.Date(), nullable=True),
    sa.Column('given_key', sa.Text(), server_default='', nullable=False),
    sa.Column('family_key', sa.Text(), server_default='', nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sourced_id', sa.String(length=255), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('rec_from', sa.Integer(), nullable=False),
    sa.Column('rec_to', sa.Integer(), nullable=True),
    sa.Column('payload_hash', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['rec_from'], ['roster_imports.id'], name=op.f('fk_person_versions_rec_from_roster_imports')),
    sa.ForeignKeyConstraint(['rec_to'], ['roster_imports.id'], name=op.f('fk_person_versions_rec_to_roster_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_versions'))
    )
    with op.batch_alter_table('person_versions', schema=None) as batch_op:
        batch_op.create_index('ix_person_versions_name_match',
                              ['family_key', 'given_key', 'sourced_id', 'kind', 'rec_to', 'valid_to'], unique=False)
        batch_op.create_index('ix_person_versions_id_match',
                              ['identifier', 'sourced_id', 'kind', 'rec_to', 'valid_to', 'given_key', 'family_key'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_person_versions_sourced_id_valid_from'), ['sourced_id', 'valid_from'], unique=False)

    op.create_table('roster_delta_assertions',
    sa.Column('entity', sa.String(length=16), nullable=False),
    sa.Column('sourced_id', sa.String(length=255), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['roster_imports.id'], name=op.f('fk_roster_delta_assertions_import_id_roster_imports')),
    sa.PrimaryKeyConstraint('entity', 'sourced_id', 'as_of', name=op.f('pk_roster_delta_assertions'))
    )
    op.create_table('roster_import_files',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['roster_imports.id'], name=op.f('fk_roster_import_files_import_id_roster_imports')),
    sa.PrimaryKeyConstraint('import_id', 'entity', name=op.f('pk_roster_import_files'))
    )


def downgrade() -> None:
    op.drop_table('roster_import_files')
    op.drop_table('roster_delta_assertions')
    with op.batch_alter_table('person_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_versions_sourced_id_valid_from'))
        batch_op.drop_index('ix_person_versions_id_match')
        batch_op.drop_index('ix_person_versions_name_match')

    op.drop_table('person_versions')
    with op.batch_alter_table('org_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_org_versions_sourced_id_valid_from'))

    op.drop_table('org_versions')
    with op.batch_alter_table('birth_date_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_birth_date_versions_sourced_id_valid_from'))

    op.drop_table('birth_date_versions')
    op.drop_table('roster_imports')
    with op.batch_alter_table('person_schools', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_schools_org_sourced_id'))

    op.drop_table('person_schools')
    with op.batch_alter_table('person_agents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_agents_agent_sourced_id'))

    op.drop_table('person_agents')
