"""The SQLite store's schema (versioned in ``meta``) and its purge of expired rows."""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA_VERSION", "create_schema", "purge"]

SCHEMA_VERSION = 1

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (version INTEGER NOT NULL)",
    # One row per live or not-yet-purged value; expires_at is wall-clock seconds.
    "CREATE TABLE IF NOT EXISTS kv ("
    " ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, expires_at REAL,"
    " PRIMARY KEY (ns, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL",
    # The sliding-window log: one row per recorded hit; expires_at = ts + window.
    "CREATE TABLE IF NOT EXISTS window_events ("
    " ns TEXT NOT NULL, key TEXT NOT NULL, ts REAL NOT NULL, cost INTEGER NOT NULL,"
    " expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS window_events_key ON window_events (ns, key, ts)",
    "CREATE INDEX IF NOT EXISTS window_events_expires ON window_events (expires_at)",
    # GCRA buckets: the theoretical arrival time; a bucket with tat <= now is full.
    "CREATE TABLE IF NOT EXISTS buckets ("
    " ns TEXT NOT NULL, key TEXT NOT NULL, tat REAL NOT NULL,"
    " PRIMARY KEY (ns, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS buckets_tat ON buckets (tat)",
)


def create_schema(conn: sqlite3.Connection) -> int:
    """Create the tables if missing (in one write transaction); return the file's version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _TABLES:
            conn.execute(statement)
        row = conn.execute("SELECT version FROM meta").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta (version) VALUES (?)", (SCHEMA_VERSION,))
            version = SCHEMA_VERSION
        else:
            version = int(row[0])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return version


def purge(conn: sqlite3.Connection, now: float) -> None:
    """Delete expired values, window events and full buckets of every namespace."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM kv WHERE expires_at <= ?", (now,))
        conn.execute("DELETE FROM window_events WHERE expires_at <= ?", (now,))
        conn.execute("DELETE FROM buckets WHERE tat <= ?", (now,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
