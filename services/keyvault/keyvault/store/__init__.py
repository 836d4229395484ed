"""keyvault persistence: the MongoDB repository of keys, quota slots and audit entries."""

from keyvault.store.keys import MongoKeyStore

__all__ = ["MongoKeyStore"]
