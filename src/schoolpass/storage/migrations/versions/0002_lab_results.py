"""lab results

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('result_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=24), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_result_imports'))
    )
    op.create_table('lab_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lab', sa.String(length=64), nullable=False),
    sa.Column('accession', sa.String(length=255), nullable=False),
    sa.Column('test_code', sa.String(length=32), nullable=False),
    sa.Column('patient_ids', sa.Text(), nullable=False),
    sa.Column('given_name', sa.Text(), nullable=True),
    sa.Column('family_name', sa.Text(), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('result_code', sa.String(length=64), nullable=True),
    sa.Column('result_text', sa.Text(), nullable=True),
    sa.Column('collected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('collected_on', sa.Date(), nullable=False),
    sa.Column('resulted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('corrected', sa.Boolean(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('source_ref', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=255), nullable=True),
    sa.Column('match_method', sa.String(length=24), nullable=True),
    sa.Column('unmatched_reason', sa.Text(), nullable=True),
    sa.Column('staff_only', sa.Boolean(), nullable=False),
    sa.Column('tried_roster', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['result_imports.id'], name=op.f('fk_lab_results_import_id_result_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lab_results')),
    sa.UniqueConstraint('lab', 'accession', 'test_code', name=op.f('uq_lab_results_lab_accession_test_code'))
    )
    with op.batch_alter_table('lab_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lab_results_collected_on'), ['collected_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_lab_results_person_id_collected_on_result'), ['person_id', 'collected_on', 'result'], unique=False)

    op.create_table('lab_result_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('result_code', sa.String(length=64), nullable=True),
    sa.Column('result_text', sa.Text(), nullable=True),
    sa.Column('collected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resulted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('person_id', sa.String(length=255), nullable=True),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['result_imports.id'], name=op.f('fk_lab_result_revisions_import_id_result_imports')),
    sa.ForeignKeyConstraint(['result_id'], ['lab_results.id'], name=op.f('fk_lab_result_revisions_result_id_lab_results')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lab_result_revisions'))
    )
    with op.batch_alter_table('lab_result_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lab_result_revisions_result_id'), ['result_id'], unique=False)

    op.create_table('result_match_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.String(length=255), nullable=True),
    sa.Column('previous_person_id', sa.String(length=255), nullable=True),
    sa.Column('by', sa.String(length=255), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['result_id'], ['lab_results.id'], name=op.f('fk_result_match_events_result_id_lab_results')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_result_match_events'))
    )
    with op.batch_alter_table('result_match_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_result_match_events_result_id'), ['result_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('result_match_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_result_match_events_result_id'))

    op.drop_table('result_match_events')
    with op.batch_alter_table('lab_result_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lab_result_revisions_result_id'))

    op.drop_table('lab_result_revisions')
    with op.batch_alter_table('lab_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lab_results_person_id_collected_on_result'))
        batch_op.drop_index(batch_op.f('ix_lab_results_collected_on'))

    op.drop_table('lab_results')
    op.drop_table('result_imports')
