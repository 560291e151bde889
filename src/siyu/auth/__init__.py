"""Authentication (passwords, tokens, API keys) and authorisation (roles, permissions, data scope)."""
