"""The job store: schema, migrations and the queue, on SQLite or PostgreSQL."""
