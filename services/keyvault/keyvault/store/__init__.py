"""keyvault persistence: the MongoDB repository and its in-memory twin for unit tests."""

from keyvault.store.memory import InMemoryKeyStore
from keyvault.store.mongo import MongoKeyStore

__all__ = ["InMemoryKeyStore", "MongoKeyStore"]
