"""What other packages may use of segments: which customers a rule selects, and the rule language.

Audiences, and next campaigns, coupons and analytics, ask here for members; nothing asks audiences
for a bitmap.
"""

from __future__ import annotations

from siyu.segments.engine import evaluate
from siyu.segments.rules import dump_rule, parse_rule, tag_ids

__all__ = [
    "dump_rule",
    "evaluate",
    "parse_rule",
    "tag_ids",
]
