"""Outbound HTTP: key verification with the providers, workspace's assignment directory."""

from keyvault.clients.verify import HttpKeyVerifier
from keyvault.clients.workspace import HttpWorkspaceDirectory

__all__ = ["HttpKeyVerifier", "HttpWorkspaceDirectory"]
