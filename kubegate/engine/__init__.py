"""The read side: immutable per-cluster snapshots that answer webhook calls without the database."""
