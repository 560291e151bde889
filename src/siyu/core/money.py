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
    """Split total_fen (0 ≤ total ≤ Σ weights) across weights in proportion, exactly.

    Largest remainder: each part is first rounded down, then the fen left over go one each to the
    parts with the largest fractions (ties to the later part, so an even split leaves the extra
    fen on the last line). A part never exceeds its weight and is never negative — rounding down
    and giving the remainder to the last line could drive a small last line below zero.
    """
    if not weights:
        raise ValueError("weights must not be empty")
    if any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError("weights must be non-negative with a positive sum")
    weight_sum = sum(weights)
    if not 0 <= total_fen <= weight_sum:
        raise ValueError("total_fen must lie between 0 and the sum of the weights")
    parts = [total_fen * w // weight_sum for w in weights]
    fractions = [total_fen * w % weight_sum for w in weights]
    left = total_fen - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: (fractions[i], i), reverse=True)[:left]:
        parts[i] += 1
    return parts
