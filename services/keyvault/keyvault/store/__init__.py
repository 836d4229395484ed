"""keyvault persistence: keys, quota slots and audit entries; budget counters, holds, alerts."""

from keyvault.store.budgets import MongoBudgetStore
from keyvault.store.keys import MongoKeyStore

__all__ = ["MongoBudgetStore", "MongoKeyStore"]
