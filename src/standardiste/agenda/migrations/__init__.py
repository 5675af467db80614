"""Alembic branch "agenda"."""
