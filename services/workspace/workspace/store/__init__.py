"""Repositories of the workspace service: MongoDB, and in-memory twins for unit tests."""

from workspace.store.ledger import MongoLedgerStore
from workspace.store.memory import InMemoryLedgerStore, InMemoryWorkspaceStore
from workspace.store.mongo import MongoWorkspaceStore

__all__ = [
    "InMemoryLedgerStore",
    "InMemoryWorkspaceStore",
    "MongoLedgerStore",
    "MongoWorkspaceStore",
]
