"""Storage: engines for SQLite and PostgreSQL, the shared metadata, and migrations."""
