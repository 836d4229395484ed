"""agent-runner: executes Agent nodes against LLM providers with keys scoped by keyvault."""
