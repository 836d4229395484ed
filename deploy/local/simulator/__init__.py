"""A provider simulator speaking the Anthropic, OpenAI and Gemini wire formats on loopback."""

from deploy.local.simulator.app import Simulator, create_app

__all__ = ["Simulator", "create_app"]
