"""a person's schools and contacts stored in key order (SQLite: WITHOUT ROWID)

`person_schools` and `person_agents` are nothing but their primary key. As rowid tables, SQLite kept
each row twice: in the table and in the key's own index (about 370 MB of a 500,000-student roster).
Stored WITHOUT ROWID, the table is the key's B-tree: half the pages, and a first import appends in key
order instead of maintaining a second tree. PostgreSQL has no such option and is unchanged.

Revision ID: 0011
Revises: 0010
"""

from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

LINKS = (("person_schools", "org_sourced_id"), ("person_agents", "agent_sourced_id"))


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, column in LINKS:
        op.execute(f"CREATE TABLE {table}_rebuilt (person_sourced_id VARCHAR(255) NOT NULL, "
                   f"payload_hash VARCHAR(32) NOT NULL, {column} VARCHAR(255) NOT NULL, "
                   f"CONSTRAINT pk_{table} PRIMARY KEY (person_sourced_id, payload_hash, {column}))"
                   + ("" if with_rowid else " WITHOUT ROWID"))
        op.execute(f"INSERT INTO {table}_rebuilt (person_sourced_id, payload_hash, {column}) "
                   f"SELECT person_sourced_id, payload_hash, {column} FROM {table} ORDER BY 1, 2, 3")
        op.drop_index(f"ix_{table}_{column}", table_name=table)
        op.drop_table(table)
        op.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
