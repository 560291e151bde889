"""What other packages may use of loyalty: customers' balances (the 360, the guide's card)."""

from __future__ import annotations

from siyu.loyalty.ledger import balances

__all__ = ["balances"]
