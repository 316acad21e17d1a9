"""Organizations, their users and API keys."""
