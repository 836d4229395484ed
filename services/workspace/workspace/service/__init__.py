"""Use cases of the workspace service: orgs, plans and workspaces; the usage ledger."""

from workspace.service.catalog import SharedCatalog
from workspace.service.ledger import Ledger
from workspace.service.run_bounds import RunBounds
from workspace.service.workspaces import WorkspaceService

__all__ = ["Ledger", "RunBounds", "SharedCatalog", "WorkspaceService"]
