"""Money is integer fen plus a currency; never floats."""

from __future__ import annotations

CURRENCY_SYMBOLS = {"CNY": "¥", "HKD": "HK$", "USD": "$"}


def format_fen(amount_fen: int, currency: str = "CNY") -> str:
    """Render minor units as a display string, e.g. 123456 -> '¥1,234.56'."""
    if not isinstance(amount_fen, int):
        raise TypeError("amount_fen must be an int")
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{sign}{CURRENCY_SYMBOLS.get(currency, currency + ' ')}{yuan:,}.{fen:02d}"


def allocate(total_fen: int, weights: list[int]) -> list[int]:
    """Split total_fen across weights proportionally; the last part takes the remainder."""
    if not weights:
        raise ValueError("weights must not be empty")
    if any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError("weights must be non-negative with a positive sum")
    weight_sum = sum(weights)
    parts = [total_fen * w // weight_sum for w in weights[:-1]]
    parts.append(total_fen - sum(parts))
    return parts
