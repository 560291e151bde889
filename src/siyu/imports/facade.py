"""What other packages may use of imports: nothing yet (the console drives them)."""

from __future__ import annotations

__all__: list[str] = []
