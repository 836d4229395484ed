"""Outbound HTTP: keyvault (scoped keys) and the providers' wire formats."""
