"""FlowTrux AI Providers."""
