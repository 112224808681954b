"""Persistence of the core's accounts and orders (SQLite)."""
