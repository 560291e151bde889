"""Audiences: saved rule packages and their frozen, versioned snapshots; members from segments."""
