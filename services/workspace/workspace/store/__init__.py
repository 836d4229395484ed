"""Repositories of the workspace service: MongoDB, and in-memory twins for unit tests."""

from workspace.store.memory import InMemoryLedgerStore, InMemoryWorkspaceStore
from workspace.store.mongo import MongoLedgerStore, MongoWorkspaceStore

__all__ = [
    "InMemoryLedgerStore",
    "InMemoryWorkspaceStore",
    "MongoLedgerStore",
    "MongoWorkspaceStore",
]
