"""Alembic environment: runs on the connection `schoolpass.storage.migrate` hands over."""

from alembic import context

from schoolpass.storage.models import metadata
from schoolpass.storage.types import UtcDateTime


def render_item(kind, obj, autogen_context):
    """Migrations depend on SQLAlchemy only: UtcDateTime is stored as a timezone-aware DateTime."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
