"""Siyu (私域): private-domain customer operations for retail brands."""

__version__ = "0.1.0"
