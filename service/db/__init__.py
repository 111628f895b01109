"""Persistence: SQLModel tables, engine and sessions (SQLite or PostgreSQL)."""
