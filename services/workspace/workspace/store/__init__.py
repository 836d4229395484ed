"""Repositories of the workspace service in MongoDB: orgs and workspaces, the usage ledger."""

from workspace.store.ledger import MongoLedgerStore
from workspace.store.run_bounds import MongoRunBoundsStore
from workspace.store.workspaces import MongoWorkspaceStore

__all__ = ["MongoLedgerStore", "MongoRunBoundsStore", "MongoWorkspaceStore"]
