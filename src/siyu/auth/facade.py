"""What other packages may use of auth: the principal of a staff member for work done on their
behalf, the names of API keys (the audit log names who acted); auth hears staff events through its policies (siyu.auth.subscribers) and plugs its
bearer-token resolver into the HTTP plumbing."""

from __future__ import annotations

from siyu.auth.service import api_key_names, staff_principal

__all__ = ["api_key_names", "staff_principal"]
