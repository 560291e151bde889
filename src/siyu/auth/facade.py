"""What other packages may use of auth: nothing directly — auth hears staff events through its
policies (siyu.auth.subscribers) and plugs its bearer-token resolver into the HTTP plumbing."""

from __future__ import annotations

__all__: list[str] = []
